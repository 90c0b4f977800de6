/**
 * Secrets people put in server URLs (userinfo, `?api_key=`) never reach a client or a log: not `/status`,
 * `/status/<name>`, `lastError`, `/debug/*`, a 502 body or the process's own log lines. The gateway still
 * connects with the real URL.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";
import { rawInitialize, rawPost } from "./helpers/mcp_client.ts";
import { freePort, waitFor } from "./helpers/ports.ts";
import { serveMcp } from "./servers/serve.ts";
import { createWeatherServer } from "./servers/weather.ts";

const SECRETS = ["s3cret-userinfo", "KEY-live", "KEY-dead", "TOKEN-live"];

function assertNoSecret(where: string, text: string) {
  for (const secret of SECRETS) assert(!text.includes(secret), `${where} shows ${secret}:\n${text}`);
}

Deno.test("secrets in server URLs are redacted on status, debug, errors and logs", async () => {
  let seenQuery = "";
  let refuseSessions = false;
  const backend = await serveMcp(() => createWeatherServer());
  // The gateway must still connect with the real URL: a proxy in front of the backend checks the query.
  // Later it refuses new sessions with an error that quotes the URL, as a misconfigured backend might.
  const front = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    seenQuery = new URL(req.url).search;
    const body = req.body ? await req.text() : undefined;
    if (refuseSessions && body?.includes('"initialize"')) {
      return new Response(`cannot serve ${req.url}`, { status: 500 });
    }
    return fetch(backend.url, { method: req.method, headers: req.headers, body });
  });
  const deadPort = freePort();
  const live =
    `http://bot:s3cret-userinfo@127.0.0.1:${front.addr.port}/mcp?api_key=KEY-live&token=TOKEN-live`;
  const dead = `http://127.0.0.1:${deadPort}/mcp?api_key=KEY-dead`;
  await using gw = await startGatewayProcess({
    config: {
      servers: [
        { name: "live", url: live, toolPrefix: "w_" },
        { name: "dead", url: dead, toolPrefix: "d_" },
      ],
    },
    args: ["--log-level", "debug"],
  });
  try {
    await waitFor(async () => {
      const s = await gw.status();
      return s.healthyServers === 1 && s.servers.find((x: any) => x.name === "dead")?.lastError;
    }, "one server ready, the other failed");
    assertEquals(seenQuery, "?api_key=KEY-live&token=TOKEN-live", "the real URL is used to connect");

    const status = await (await fetch(`${gw.baseUrl}/status`)).text();
    assertNoSecret("/status", status);
    const servers = JSON.parse(status).servers;
    assertEquals(
      servers.find((s: any) => s.name === "live").url,
      `http://redacted@127.0.0.1:${front.addr.port}/mcp?api_key=redacted&token=redacted`,
    );
    const deadStatus = servers.find((s: any) => s.name === "dead");
    assert(deadStatus.lastError.reason.includes("api_key=redacted"), deadStatus.lastError.reason);

    for (const name of ["live", "dead"]) {
      const one = await (await fetch(`${gw.baseUrl}/status/${name}`)).text();
      assertNoSecret(`/status/${name}`, one);
    }
    for (const path of ["/debug/events?limit=10000", "/debug/projections"]) {
      const text = await (await fetch(`${gw.baseUrl}${path}`)).text();
      assert(text.includes("redacted"), `${path} names the servers' URLs`);
      assertNoSecret(path, text);
    }

    // A call whose backend session cannot be opened: the 502 names the server, not its secrets.
    const session = await rawInitialize(gw.mcpUrl);
    refuseSessions = true;
    const call = await rawPost(
      gw.mcpUrl,
      JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "w_get_current", arguments: { city: "Oslo" } },
      }),
      { "mcp-session-id": session },
    );
    assertEquals(call.status, 502, call.text);
    assert(call.text.includes("api_key=redacted"), call.text);
    assertNoSecret("a 502 answer", call.text);
  } finally {
    // The gateway first: its streams through the front would hold the front's shutdown open.
    await gw.stop();
    await front.shutdown().catch(() => {});
    await backend.close();
  }
  assert(gw.logs().includes("redacted"), "the logs mention the URLs");
  assertNoSecret("the gateway's logs", gw.logs());
});
