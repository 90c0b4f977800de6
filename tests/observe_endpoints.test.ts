/**
 * The operator's endpoints in a running gateway: `/console` and `/debug/*` for loopback clients on the
 * broker address and for anyone on `--console-address` (which serves nothing else); `/debug/explain`
 * checks its query; the live event stream is redacted, filtered and resumable; the catalog and config
 * gauges follow conflicts and rejected reloads.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { parseCli } from "../src/cli.ts";
import { startGateway } from "../src/gateway.ts";
import { createBroker } from "../src/broker/server.ts";
import { parseSse } from "../src/mcp/sse.ts";
import { silentLogger } from "../src/observe/log.ts";
import { waitFor } from "./helpers/ports.ts";
import { startFastEcho } from "./servers/fast_echo.ts";

const LOCAL = { remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 5000 } };
const REMOTE = { remoteAddr: { transport: "tcp" as const, hostname: "10.0.0.7", port: 5000 } };

async function withGateway(
  body: (gw: Awaited<ReturnType<typeof startGateway>>, dir: string) => Promise<void>,
) {
  const a = await startFastEcho();
  const b = await startFastEcho();
  const dir = await Deno.makeTempDir({ prefix: "mcp-gw-observe-" });
  // Both serve `echo` under no prefix (a conflict); b's URL and credential carry secrets.
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    `servers:\n  - name: a\n    url: ${a.url}\n  - name: b\n    url: ${b.url}?api_key=k3y-in-url\n` +
      "    credential: Bearer t0p-secret\n",
  );
  const cli = parseCli([
    "--mcp-gateway-config",
    `${dir}/config.yaml`,
    "--mcp-broker-address",
    "127.0.0.1:0",
    "--mcp-router-address",
    "off",
    "--console-address",
    "127.0.0.1:0",
    "--mcp-check-interval",
    "1",
    "--audit-log",
    "off",
  ], () => undefined);
  assert(cli.ok);
  const gateway = await startGateway(cli.options, silentLogger);
  try {
    await waitFor(
      () => [...gateway.context.upstreams.state.servers.values()].every((s) => s.status === "ready"),
      "both servers ready",
    );
    await body(gateway, dir);
  } finally {
    await gateway.close();
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("operator pages: loopback clients on the broker address, anyone on --console-address, which serves nothing else", async () => {
  await withGateway(async (gateway) => {
    const broker = createBroker(gateway.context);
    try {
      for (const path of ["/console", "/console/console.js", "/debug/explain?tool=echo", "/debug/overview"]) {
        const local = await broker.handler(new Request(`http://gw${path}`), LOCAL);
        await local.body?.cancel();
        assertEquals(local.status, 200, path);
        const remote = await broker.handler(new Request(`http://gw${path}`), REMOTE);
        assertMatch(await remote.text(), /loopback clients only/);
        assertEquals(remote.status, 404, path);
      }
    } finally {
      broker.close();
    }
    const base = gateway.consoleUrl!;
    const page = await fetch(`${base}/console`);
    assertEquals(page.headers.get("content-type"), "text/html; charset=utf-8");
    assertMatch(page.headers.get("content-security-policy") ?? "", /default-src 'none'; script-src 'self'/);
    assertMatch(await page.text(), /<script src="\/console\/console.js"/);
    const mcp = await fetch(`${base}/mcp`, { method: "POST", body: "{}" });
    assertMatch(await mcp.text(), /serves \/console and \/debug only/);
    assertEquals(mcp.status, 404);

    const answer = await (await fetch(`${base}/debug/explain?tool=echo`)).json();
    assertEquals([answer.server, answer.conflict.winner, answer.conflict.shadowed], ["a", "a", ["b"]]);
    for (
      const [query, message] of [
        ["", /exactly one of tool=NAME/],
        ["tool=", /tool must not be empty/],
        ["name=echo", /unknown parameter name/],
        ["tool=a&session=b", /exactly one/],
      ] as const
    ) {
      const res = await fetch(`${base}/debug/explain?${query}`);
      assertEquals(res.status, 400, query);
      assertMatch((await res.json()).error, message);
    }
    const post = await fetch(`${base}/debug/explain?tool=echo`, { method: "POST" });
    await post.body?.cancel();
    assertEquals(post.status, 405);
  });
});

Deno.test("event stream: redacted, from a sequence number, filtered by type, resumed by Last-Event-ID", async () => {
  await withGateway(async (gateway) => {
    const base = gateway.consoleUrl!;
    const read = async (url: string, headers: Record<string, string>, count: number) => {
      const res = await fetch(url, { headers });
      assertEquals(res.headers.get("content-type"), "text/event-stream");
      const events = [];
      for await (const event of parseSse(res.body!)) {
        events.push({ ...event, json: JSON.parse(event.data) });
        if (events.length === count) break;
      }
      return events;
    };
    const [loaded, listed] = await read(
      `${base}/debug/events/stream?from=1&types=ConfigLoaded,ToolsDiscovered`,
      {},
      2,
    );
    assertEquals([loaded.event, loaded.id, loaded.json.seq], ["ConfigLoaded", "1", 1]);
    assertEquals(listed.event, "ToolsDiscovered");
    const b = loaded.json.config.servers[1];
    assertEquals(b.credential, "[redacted]");
    // The secret is gone (the stream shows it as /debug does; the event file keeps a per-run tag for replay).
    assertMatch(b.url, /\?api_key=redacted(-[0-9a-f]{8})?$/);
    assert(!loaded.data.includes("t0p-secret") && !loaded.data.includes("k3y-in-url"), loaded.data);

    const [next] = await read(`${base}/debug/events/stream`, { "last-event-id": "1" }, 1);
    assertEquals(next.json.seq, 2, "resumes right after the last event the client saw");

    const bad = await fetch(`${base}/debug/events/stream?from=soon`);
    assertEquals(bad.status, 400);
    await bad.body?.cancel();
  });
});

Deno.test("metrics: conflicts and config gauges follow the catalog and a rejected reload", async () => {
  await withGateway(async (gateway, dir) => {
    const scrape = async () => await (await fetch(`${gateway.brokerUrl}/metrics`)).text();
    const metrics = await scrape();
    assertMatch(metrics, /^mcp_gateway_conflicts\{kind="tool"\} 1$/m);
    assertMatch(metrics, /^mcp_gateway_config_last_load_successful 1$/m);
    await Deno.writeTextFile(`${dir}/config.yaml`, "servers: [ { name: broken } ]\n");
    await waitFor(
      async () => /^mcp_gateway_config_last_load_successful 0$/m.test(await scrape()),
      "the rejection on /metrics",
    );
    const overview = await (await fetch(`${gateway.consoleUrl}/debug/overview`)).json();
    assertMatch(overview.config.rejected.reason, /url/);
    assertEquals(overview.catalog.conflicts.map((c: any) => [c.kind, c.name, c.winner]), [[
      "tool",
      "echo",
      "a",
    ]]);
    const current =
      await (await fetch(`${gateway.consoleUrl}/debug/overview?catalog=${overview.catalog.version}`))
        .json();
    assertEquals(current.catalog.tools, undefined, "a current catalog is not sent again");
    assertEquals(overview.catalog.tools.map((t: any) => t.name), ["echo"]);
  });
});
