/**
 * Bad input is normal input: each case gets the HTTP status and JSON-RPC error the MCP spec expects, and
 * the gateway keeps serving everyone else.
 */
import { SignJWT } from "jose";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startEverything } from "./helpers/everything.ts";
import { startGatewayProcess, TEST_SIGNING_KEY } from "./helpers/gateway.ts";
import { rawInitialize, rawPost } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";

function token(key: string, expSecondsFromNow: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ pv: "2025-11-25" })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer("mcp-gateway")
    .setAudience("mcp-gateway")
    .setJti(crypto.randomUUID())
    .setIssuedAt(now - 120)
    .setExpirationTime(now + expSecondsFromNow)
    .sign(new TextEncoder().encode(key));
}

Deno.test("bad input gets the error the spec expects and breaks nothing", async (t) => {
  await using backend = await startEverything();
  await using gw = await startGatewayProcess({
    config: { servers: [{ name: "s", url: backend.url, toolPrefix: "s_" }] },
    args: ["--max-request-body-size", String(1024 * 1024)],
  });
  await waitFor(async () => (await gw.status()).healthyServers === 1, "backend ready");
  const session = await rawInitialize(gw.mcpUrl);
  const withSession = { "mcp-session-id": session };
  const post = (body: string, headers: Record<string, string> = withSession) =>
    rawPost(gw.mcpUrl, body, headers);

  const cases: [string, () => ReturnType<typeof post>, number, number | null, string?][] = [
    ["malformed JSON", () => post(`{"jsonrpc":"2.0","id":1,`), 400, -32700],
    ["wrong jsonrpc version", () => post(`{"jsonrpc":"1.0","id":7,"method":"ping"}`), 400, -32600, "7"],
    ["id of the wrong type", () => post(`{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}`), 400, -32600],
    ["no method, no result", () => post(`{"jsonrpc":"2.0","id":3}`), 400, -32600, "3"],
    ["a batch", () => post(`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`), 400, -32600],
    ["a JSON string", () => post(`"hello"`), 400, -32600],
    ["unknown method", () => post(`{"jsonrpc":"2.0","id":"m","method":"no/such"}`), 200, -32601, `"m"`],
    [
      "unknown tool",
      () => post(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope","arguments":{}}}`),
      200,
      -32602,
      "4",
    ],
    [
      "tools/call without a name",
      () => post(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{}}`),
      200,
      -32602,
    ],
    ["missing session", () => post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, {}), 400, -32600],
    [
      "unsupported protocol version header",
      () =>
        post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, {
          ...withSession,
          "mcp-protocol-version": "1999-01-01",
        }),
      400,
      -32600,
    ],
  ];
  for (const [name, run, status, code, rawId] of cases) {
    await t.step(name, async () => {
      const res = await run();
      assertEquals(res.status, status, res.text);
      assertEquals(res.json?.error?.code, code, res.text);
      assertEquals(res.json?.jsonrpc, "2.0");
      if (rawId) assert(res.text.includes(`"id":${rawId}`), `id ${rawId} echoed in ${res.text}`);
    });
  }

  await t.step("forged session (signed with another key) → 404", async () => {
    const res = await post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, {
      "mcp-session-id": await token("not-the-gateway-key-0123456789abcdef", 600),
    });
    assertEquals(res.status, 404);
  });

  await t.step("expired session → 404", async () => {
    const res = await post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, {
      "mcp-session-id": await token(TEST_SIGNING_KEY, -60),
    });
    assertEquals(res.status, 404);
    assert(/expired/.test(res.json.error.message));
  });

  await t.step("garbage session → 404; GET and DELETE too", async () => {
    assertEquals(
      (await post(`{"jsonrpc":"2.0","id":1,"method":"ping"}`, { "mcp-session-id": "garbage" })).status,
      404,
    );
    const get = await fetch(gw.mcpUrl, {
      headers: { accept: "text/event-stream", "mcp-session-id": "garbage" },
    });
    await get.body?.cancel();
    assertEquals(get.status, 404);
    const del = await fetch(gw.mcpUrl, { method: "DELETE", headers: { "mcp-session-id": "garbage" } });
    await del.body?.cancel();
    assertEquals(del.status, 404);
  });

  await t.step("a 10 MB body → 413, read no further than the limit", async () => {
    const big = `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"${"x".repeat(10 * 1024 * 1024)}"}}`;
    const res = await post(big);
    assertEquals(res.status, 413);
    assertEquals(res.json.error.code, -32600);
  });

  await t.step("wrong content type → 415 with a clear message", async () => {
    const res = await rawPost(gw.mcpUrl, "ping", { ...withSession, "content-type": "text/plain" });
    assertEquals(res.status, 415);
    assert(/application\/json/.test(res.json.error.message));
  });

  await t.step("notifications and responses → 202", async () => {
    assertEquals((await post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)).status, 202);
    assertEquals((await post(`{"jsonrpc":"2.0","id":9,"result":{}}`)).status, 202);
  });

  await t.step("non-MCP methods on /mcp → 405", async () => {
    const res = await fetch(gw.mcpUrl, { method: "PUT", body: "x" });
    await res.body?.cancel();
    assertEquals(res.status, 405);
  });

  await t.step("after all that, the same session still works", async () => {
    const res = await post(
      `{"jsonrpc":"2.0","id":"last","method":"tools/call","params":{"name":"s_echo","arguments":{"message":"ok"}}}`,
    );
    assertEquals(res.status, 200);
    assert(res.text.includes("Echo: ok"));
  });
});
