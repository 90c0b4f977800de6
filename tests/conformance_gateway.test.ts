/**
 * The official MCP conformance suite through the gateway: with our conformance backend registered without a
 * prefix, every scenario that passes directly against the backend must pass through the broker's `/mcp`
 * (the gateway may pass more, never fewer). The suite reports a pass for some scenarios even when a name is
 * missing, so the lists themselves are also compared byte for byte with the backend's.
 */
import { ANY_RESULT, assertSameCatalog } from "./helpers/catalog.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/ports.ts";
import { startConformance } from "./servers/conformance.ts";
import {
  ACTIVE_SERVER_SCENARIOS,
  PENDING_SERVER_SCENARIOS,
  runConformance,
} from "./servers/conformance_runner.ts";
import { connectClient } from "./servers/client.ts";

/** The gateway with only the conformance backend behind it, unprefixed. */
async function gatewayFor(url: string) {
  const gw = await startGatewayProcess({
    config: { servers: [{ name: "conformance", url, toolPrefix: "" }] },
  });
  try {
    await waitFor(async () => (await gw.status()).healthyServers === 1, "the conformance backend ready");
    return gw;
  } catch (e) {
    await gw.stop();
    throw e;
  }
}

/**
 * POSTs `body` with a chosen Host header and returns the status. `fetch` always sends the URL's own host, so
 * this speaks HTTP/1.1 over a plain TCP connection, as a DNS-rebinding page's browser would.
 */
async function postWithHost(url: string, host: string, body: string): Promise<number> {
  const { hostname, port, pathname } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const bytes = new TextEncoder().encode(body);
    const head = `POST ${pathname} HTTP/1.1\r\nHost: ${host}\r\ncontent-type: application/json\r\n` +
      `accept: application/json, text/event-stream\r\ncontent-length: ${bytes.length}\r\nconnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    await conn.write(bytes);
    const buf = new Uint8Array(64);
    let text = "";
    while (!text.includes("\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
    if (!status) throw new Error(`no HTTP status line: ${JSON.stringify(text)}`);
    return Number(status);
  } finally {
    conn.close();
  }
}

/** The broker's `/mcp` by the name `localhost`, as the dns-rebinding scenario expects a local server to be. */
const localhost = (url: string) => url.replace("//127.0.0.1:", "//localhost:");

Deno.test("conformance through the gateway: every scenario passing directly passes through the broker", async () => {
  await using backend = await startConformance();
  await using gw = await gatewayFor(backend.url);
  const [direct, viaGateway] = await Promise.all([
    runConformance(localhost(backend.url), { suite: "all" }),
    runConformance(localhost(gw.mcpUrl), { suite: "all" }),
  ]);
  // The baseline: the backend passes the whole active suite (conformance_direct.test.ts says why it must).
  assertEquals(
    [...direct.passed].sort(),
    [...ACTIVE_SERVER_SCENARIOS, ...PENDING_SERVER_SCENARIOS].sort(),
    direct.output,
  );
  const lost = direct.passed.filter((s) => !viaGateway.passed.includes(s));
  assertEquals(lost, [], `scenarios passing directly but not through the gateway:\n${viaGateway.output}`);
  assertEquals(viaGateway.failed.filter((s) => !direct.failed.includes(s)), [], viaGateway.output);
  // The run really went through the broker: it opened gateway sessions of its own.
  const events = await (await fetch(`${gw.baseUrl}/debug/events`)).json();
  assert((events.counts?.SessionOpened ?? 0) > 0, JSON.stringify(events.counts));
});

Deno.test("conformance through the gateway: unprefixed lists are the backend's, byte for byte", async () => {
  await using backend = await startConformance();
  await using gw = await gatewayFor(backend.url);
  await using direct = await connectClient(backend.url);
  await using viaGateway = await connectClient(gw.mcpUrl);
  await assertSameCatalog(direct.client, viaGateway.client);
  const tools = await viaGateway.client.request({ method: "tools/list", params: {} }, ANY_RESULT);
  const raw = JSON.stringify(tools);
  assert(
    raw.includes("json_schema_2020_12_tool") && raw.includes('"$defs"'),
    "the 2020-12 schema is untouched",
  );
});

Deno.test("conformance through the gateway: a foreign Host or Origin is refused by the broker", async () => {
  await using backend = await startConformance();
  await using gw = await gatewayFor(backend.url);
  const init = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } },
  });
  const post = async (headers: Record<string, string>) => {
    const res = await fetch(gw.mcpUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...headers,
      },
      body: init,
    });
    await res.body?.cancel();
    return res.status;
  };
  const evilOrigin = await post({ origin: "http://evil.example.com" });
  assert(evilOrigin >= 400 && evilOrigin < 500, `foreign Origin: ${evilOrigin}`);
  const evilHost = await postWithHost(gw.mcpUrl, "evil.example.com", init);
  assert(evilHost >= 400 && evilHost < 500, `foreign Host: ${evilHost}`);
  assertEquals(await post({ origin: `http://localhost:${new URL(gw.mcpUrl).port}` }), 200);
  assertEquals(await postWithHost(gw.mcpUrl, `localhost:${new URL(gw.mcpUrl).port}`, init), 200);
});
