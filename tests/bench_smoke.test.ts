/**
 * The bench's own measuring tools, checked against a real server: percentiles, the raw JSON-RPC client,
 * and the load generators counting a wrong answer as an error (a fast wrong answer must never look good).
 */
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { startFastEcho } from "./servers/fast_echo.ts";
import { echoCall, runConcurrent, runSequential } from "../bench/load.ts";
import { renderMarkdown } from "../bench/report.ts";
import { StreamableClient } from "../bench/rpc_client.ts";
import { percentile, summarize } from "../bench/stats.ts";

Deno.test("bench stats: nearest-rank percentiles and mean", () => {
  const s = summarize([5, 1, 4, 2, 3, 6, 7, 8, 9, 10]);
  assertEquals([s.n, s.p50, s.p90, s.p99, s.mean, s.max], [10, 5, 9, 10, 5.5, 10]);
  assertEquals(percentile(Float64Array.from([1, 2, 3, 4]), 0.5), 2);
});

Deno.test("bench load generators: right answers counted, wrong answers are errors", async () => {
  await using server = await startFastEcho();
  const client = new StreamableClient(server.url);
  await client.initialize();
  try {
    const ok = await runSequential(client, echoCall("echo"), 20, 2);
    assertEquals([ok.errors, ok.latency.n], [0, 20]);
    const wrong = await runSequential(client, echoCall("echo", "Nope: "), 5, 0);
    assertEquals([wrong.errors, wrong.latency.n], [5, 0]);
    const unknown = await runSequential(client, echoCall("no-such-tool"), 3, 0);
    assertEquals(unknown.errors, 3);
  } finally {
    await client.close();
  }
  const concurrent = await runConcurrent(() => new StreamableClient(server.url), echoCall("echo"), 4, 200);
  assertEquals(concurrent.errors, 0);
  assert(concurrent.requests > 0, "some requests completed");
  assertEquals(server.sessionCount(), 0, "every bench session was closed");
});

Deno.test("bench report: a failed run says so, and a missed target is marked", () => {
  const md = renderMarkdown({
    meta: { date: "d", mode: "quick", deno: "2", cpu: "cpu", cores: 2, notes: [] },
    targets: [{ name: "Router decisions", target: "≥ 10,000 /s", measured: "10 /s", met: false }],
    skipped: {},
    errors: ["throughput broker ×64: 3 errors"],
  });
  assert(md.includes("**Errors (the run failed):**"));
  assert(md.includes("| Router decisions | ≥ 10,000 /s | 10 /s | **no** |"));
});

Deno.test("a quick bench run leaves the published results as they are", async () => {
  const published = ["results.json", "results.md"].map((f) =>
    fileURLToPath(new URL(`../bench/${f}`, import.meta.url))
  );
  const before = await Promise.all(published.map((p) => Deno.readTextFile(p)));
  // Scenario 5 alone: the cheapest one, still a whole run with its report written.
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      fileURLToPath(new URL("../bench/run.ts", import.meta.url)),
      "--quick",
      "--only=5",
    ],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(stderr);
  assertEquals(code, 0, log);
  const after = await Promise.all(published.map((p) => Deno.readTextFile(p)));
  // Put them back if a run rewrote them, so even a failing run leaves the checkout as it was.
  await Promise.all(
    published.map((p, i) => after[i] === before[i] ? undefined : Deno.writeTextFile(p, before[i])),
  );
  assertEquals(after, before, "the published results were rewritten");
  const written = /--- wrote (\S+)\/results\.md/.exec(log)?.[1];
  assert(written, log);
  const repo = fileURLToPath(new URL("..", import.meta.url));
  assert(
    isAbsolute(written) && !resolve(written).startsWith(repo),
    `results written inside the checkout: ${written}`,
  );
  try {
    assertMatch(await Deno.readTextFile(`${written}/results.md`), /sessions/i);
  } finally {
    await Deno.remove(written, { recursive: true });
  }
});
