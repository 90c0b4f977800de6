/**
 * A recorded run replays to the live state: a gateway process writes `--event-log-file` through a conflict,
 * a reload and a backend restart; `deno task replay` over that file prints the same projections as the
 * live `/debug/projections`, and explains names and sessions as the live `/debug/explain` does — now, and
 * as of an earlier sequence number.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { connectClient } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startFastEcho } from "./servers/fast_echo.ts";
import { readEventFile } from "../src/observe/event_file.ts";
import { replay } from "../src/observe/replay.ts";
import { renderExplain } from "../src/broker/explain_route.ts";
import { EventRedactor } from "../src/observe/redact_event.ts";

const REPLAY = fileURLToPath(new URL("../scripts/replay.ts", import.meta.url));
const SECRET = "Bearer replay-test-secret";

/** `deno task replay` as a user runs it; its stdout parsed. */
async function runReplay(...args: string[]): Promise<any> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", REPLAY, ...args, "--compact"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert(out.success, `replay failed: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/**
 * Connection keys hash the real URL and credential; the file's are those of the redacted config (so a
 * replay recognizes each connection). Everything else must be equal as it is.
 */
function withoutKeys(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (k, v) => k === "upstreamKey" ? undefined : v);
}

Deno.test("replay: a recorded run (conflict, reload, backend restart) rebuilds the live projections and explain answers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcp-gw-replay-" });
  const file = `${dir}/events.jsonl`;
  const a = await startFastEcho();
  let b = await startFastEcho();
  const servers = (prefixA: string) => [
    { name: "a", url: a.url, toolPrefix: prefixA },
    { name: "b", url: b.url, toolPrefix: "", credential: SECRET },
  ];
  try {
    // Both list `echo` under no prefix: a, first in config order, keeps it.
    await using gw = await startGatewayFor(servers(""), { args: ["--event-log-file", file] });
    const explainLive = async (query: string) => (await fetch(`${gw.baseUrl}/debug/explain?${query}`)).json();
    const before = await explainLive("tool=echo");
    assertEquals([before.server, before.conflict?.winner, before.conflict?.shadowed], ["a", "a", ["b"]]);

    await using client = await connectClient(gw.mcpUrl);
    await client.client.callTool({ name: "echo", arguments: { message: "hi" } });
    const session = (await gw.events("SessionOpened")).at(-1).session;

    // Reload: a's tools move under a_, so b serves `echo` and the conflict ends.
    const reloadedFrom = (await gw.events()).at(-1).seq;
    await gw.writeConfig({ servers: servers("a_") });
    await waitFor(
      async () => (await explainLive("tool=echo")).server === "b",
      "b serves echo after the reload",
    );

    // Restart b: it fails, echo is no longer served, then it comes back on the same port.
    const port = b.port;
    await b.close();
    await waitFor(async () => (await explainLive("tool=echo")).served === false, "echo gone with b");
    b = await startFastEcho(port);
    await waitFor(async () => (await explainLive("tool=echo")).served === true, "echo back with b", 20_000);

    // A consistent snapshot: nothing was appended while the state was read.
    const snapshot = await waitFor(async () => {
      const seq = (await (await fetch(`${gw.baseUrl}/debug/events?limit=1`)).json()).lastSeq;
      const projections = await (await fetch(`${gw.baseUrl}/debug/projections`)).json();
      const answers = {
        echo: await explainLive("tool=echo"),
        a_echo: await explainLive("tool=a_echo"),
        session: await explainLive(`session=${encodeURIComponent(session)}`),
      };
      const after = (await (await fetch(`${gw.baseUrl}/debug/events?limit=1`)).json()).lastSeq;
      return seq === after ? { seq, projections, answers } : undefined;
    }, "a quiet moment");
    await waitFor(async () => {
      const runs = readEventFile(await Deno.readTextFile(file)).runs;
      return runs.at(-1)?.events.at(-1)?.seq === snapshot.seq;
    }, `the file to hold seq ${snapshot.seq}`);

    const text = await Deno.readTextFile(file);
    assert(!text.includes("replay-test-secret"), "the credential never reaches the file");
    assert(text.split("\n").filter(Boolean).every((l) => JSON.parse(l).v === 1), "every line is versioned");

    // The command prints what the live process shows.
    const replayed = await runReplay(file);
    assertEquals(withoutKeys(replayed), withoutKeys(snapshot.projections));
    assertEquals(await runReplay(file, "--explain", "tool=echo"), snapshot.answers.echo);

    // The history the answers tell: b's echo lost to a, won after the reload, left and came back with b.
    const echo = snapshot.answers.echo;
    assertEquals(echo.server, "b");
    assertEquals(echo.conflict, undefined);
    assertEquals(echo.history.map((h: any) => h.change), [
      "served",
      "conflict",
      "owner",
      "conflict-ended",
      "removed",
      "served",
    ]);
    assert(echo.serverFacts.health.some((h: any) => h.status === "failed"), "b's failure is in its health");
    assertEquals(snapshot.answers.session.status, "open");
    assertEquals(snapshot.answers.session.opened.protocolVersion, "2025-11-25");

    // The same answers from the library, and as of before the reload: a served echo, winning against b.
    const { runs } = readEventFile(text);
    const redactor = new EventRedactor();
    const render = (answer: unknown) => JSON.parse(renderExplain(answer, (t) => redactor.text(t)));
    const now = replay(runs.at(-1)!.events);
    assertEquals(render(now.explain({ tool: "a_echo" })), snapshot.answers.a_echo);
    assertEquals(render(now.explain({ session })), snapshot.answers.session);
    const then = await runReplay(file, "--at", String(reloadedFrom), "--explain", "tool=echo");
    assertEquals([then.server, then.conflict.winner, then.conflict.shadowed], ["a", "a", ["b"]]);
    assertEquals(then.asOf.seq, reloadedFrom);
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});
