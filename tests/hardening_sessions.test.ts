/**
 * Hardening of sessions and answers (issue 9 items 2, 3, 6, 9, 10, 11): what a client declares cannot grow
 * its session; a DELETE racing the first call leaves nothing open; metric labels stay bounded; a backend that
 * went away is reported as unavailable (retryable), not as an unknown tool; GET streams are limited; bad
 * Accept and charset are refused as Streamable HTTP says.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startRecordingProxy } from "./helpers/e2e_recording_proxy.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { initializeBody, rawInitialize, rawPost, toolCallBody } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startFastEcho } from "./servers/fast_echo.ts";
import { TokenService } from "../src/session/tokens.ts";

Deno.test("initialize: 1 MB of declared roots gives a small token; deep nesting is a 400", async () => {
  await using backend = await startFastEcho();
  await using gw = await startGatewayFor([{ name: "echo", url: backend.url, toolPrefix: "e_" }]);
  const junk = "x".repeat(1024 * 1024);
  const res = await rawPost(gw.mcpUrl, initializeBody("2025-11-25", { roots: { listChanged: true, junk } }));
  assertEquals(res.status, 200);
  const token = res.headers.get("mcp-session-id")!;
  assert(token.length < 600, `session token is ${token.length} bytes`);
  // The session still works, and remembers what matters (roots, as a flag).
  const call = await rawPost(gw.mcpUrl, toolCallBody(2, "e_echo", { message: "hi" }), {
    "mcp-session-id": token,
  });
  assertEquals(call.json.result.content[0].text, "Echo: hi");

  const deep = '{"a":'.repeat(5000) + "1" + "}".repeat(5000);
  const nested = `{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-11-25",` +
    `"capabilities":{"roots":${deep}},"clientInfo":{"name":"n","version":"1"}}}`;
  const refused = await rawPost(gw.mcpUrl, nested);
  assertEquals(refused.status, 400);
  assertEquals(refused.json.error.code, -32600);
  assert(/nested deeper/.test(refused.json.error.message), refused.text);
});

Deno.test("token cache: bounded in bytes, oldest forgotten first", async () => {
  const tokens = new TokenService({ signingKey: "k".repeat(32), sessionMinutes: 10, cacheBytes: 64 * 1024 });
  const minted = [];
  for (let i = 0; i < 200; i++) minted.push((await tokens.mintSession("2025-11-25", {})).token);
  for (const token of minted) assert((await tokens.verifySession(token)).ok);
  assert(tokens.cacheBytes <= 64 * 1024, `cache holds ${tokens.cacheBytes} bytes`);
  assert(tokens.cacheBytes > 32 * 1024, "the cache is used");
  // Evicted tokens are still valid: they are verified again, not refused.
  assert((await tokens.verifySession(minted[0])).ok);
});

Deno.test("DELETE racing the first call: the session ends and the backend session opened meanwhile is closed", async () => {
  await using backend = await startFastEcho();
  await using proxy = startRecordingProxy(backend.url, { delayInitializeMs: 150 });
  await using gw = await startGatewayFor([{ name: "echo", url: proxy.url, toolPrefix: "e_" }]);
  const rounds = 5;
  const deletes = () => proxy.requests().filter((r) => r.method === "DELETE").length;
  const deletedBefore = deletes(); // discovery's own probe sessions
  const initializes = () =>
    proxy.requests().filter((r) => r.messages.some((m) => m.method === "initialize")).length;
  for (let i = 0; i < rounds; i++) {
    const session = await rawInitialize(gw.mcpUrl);
    const before = initializes();
    const call = rawPost(gw.mcpUrl, toolCallBody(1, "e_echo", { message: "x" }), {
      "mcp-session-id": session,
    });
    // Let the call reach the gateway and start opening the backend session, then end the session.
    await waitFor(() => initializes() > before, "the backend initialize under way");
    const del = await fetch(gw.mcpUrl, { method: "DELETE", headers: { "mcp-session-id": session } });
    assertEquals(del.status, 200);
    await del.body?.cancel();
    const answer = await call;
    assertEquals(answer.status, 404, `the call on a session deleted under it: ${answer.text}`);
  }
  // Every backend session the calls opened was DELETEd again, and none stays bound.
  await waitFor(() => deletes() >= deletedBefore + rounds, "a backend DELETE per round");
  const opened = new Set(
    proxy.requests().filter((r) => r.method === "POST" && r.session).map((r) => r.session!),
  );
  const deleted = new Set(proxy.requests().filter((r) => r.method === "DELETE").map((r) => r.session!));
  for (const id of deleted) assert(opened.has(id), `DELETE of a session that was opened: ${id}`);
  const projections = await (await fetch(`${gw.baseUrl}/debug/projections?name=sessions`)).json();
  assertEquals(Object.keys(projections.sessions.open), [], "no session left open");
});

Deno.test("metrics: invented methods are counted as 'other', not one series each", async () => {
  await using backend = await startFastEcho();
  await using gw = await startGatewayFor([{ name: "echo", url: backend.url, toolPrefix: "e_" }]);
  const session = await rawInitialize(gw.mcpUrl);
  for (let i = 0; i < 50; i++) {
    const res = await rawPost(
      gw.mcpUrl,
      JSON.stringify({ jsonrpc: "2.0", method: `notifications/invented-${i}` }),
      { "mcp-session-id": session },
    );
    assertEquals(res.status, 202);
  }
  await rawPost(gw.mcpUrl, JSON.stringify({ jsonrpc: "2.0", id: 9, method: "made/up" }), {
    "mcp-session-id": session,
  });
  const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
  assert(!metrics.includes("invented"), "no series per invented method");
  assert(!metrics.includes("made/up"), "no series per unknown method");
  assert(/mcp_gateway_requests_total\{method="other",status="202"\} 50/.test(metrics), metrics);
});

Deno.test("backend down: its tools answer 502 retryable naming the server; a disabled server is named too", async () => {
  const backend = await startFastEcho();
  let up = true;
  try {
    await using gw = await startGatewayFor([{ name: "echo", url: backend.url, toolPrefix: "e_" }], {
      args: ["--mcp-check-interval", "1"],
    });
    const session = await rawInitialize(gw.mcpUrl);
    await backend.close();
    up = false;
    // However the gateway learns of it (the call fails, or the health check), the answer is "unavailable".
    await waitFor(async () => (await gw.status()).healthyServers === 0, "the gateway noticing");
    const res = await rawPost(gw.mcpUrl, toolCallBody(7, "e_echo", { message: "x" }), {
      "mcp-session-id": session,
    });
    assertEquals(res.status, 502, res.text);
    assertEquals(res.json.id, 7);
    assertEquals(res.json.error.data.server, "echo");
    assertEquals(res.json.error.data.retryable, true);
    assert(/Server echo is unavailable/.test(res.json.error.message), res.text);
    assert(Number(res.headers.get("retry-after")) >= 1, "Retry-After");

    await gw.writeConfig({ servers: [{ name: "echo", url: backend.url, toolPrefix: "e_", enabled: false }] });
    await waitFor(async () => (await gw.status()).servers[0].status === "disabled", "disabled");
    const disabled = await rawPost(gw.mcpUrl, toolCallBody(8, "e_echo", { message: "x" }), {
      "mcp-session-id": session,
    });
    assertEquals(disabled.status, 200);
    assertEquals(disabled.json.error.code, -32602);
    assertEquals(disabled.json.error.data, { server: "echo", status: "disabled" });
  } finally {
    if (up) await backend.close();
  }
});

Deno.test("GET streams: per-session and total limits answer 429", async () => {
  await using backend = await startFastEcho();
  await using gw = await startGatewayFor([{ name: "echo", url: backend.url, toolPrefix: "e_" }], {
    args: ["--max-streams-per-session", "2", "--max-streams", "3"],
  });
  const open: Response[] = [];
  const get = async (session: string) => {
    const res = await fetch(gw.mcpUrl, {
      headers: { accept: "text/event-stream", "mcp-session-id": session },
    });
    if (res.ok) open.push(res);
    else await res.body?.cancel();
    return res.status;
  };
  try {
    const a = await rawInitialize(gw.mcpUrl);
    const b = await rawInitialize(gw.mcpUrl);
    assertEquals([await get(a), await get(a), await get(a)], [200, 200, 429]);
    assertEquals([await get(b), await get(b)], [200, 429], "the gateway's total is reached");
    // A stream the client closes frees its place.
    await open.shift()!.body?.cancel();
    await waitFor(async () => await get(a) === 200, "a freed stream slot");
  } finally {
    for (const res of open) await res.body?.cancel();
  }
});

Deno.test("POST: Accept must allow JSON and SSE (406); JSON must be UTF-8 (415); aborted clients are no error", async () => {
  await using backend = await startFastEcho();
  await using gw = await startGatewayFor([{ name: "echo", url: backend.url, toolPrefix: "e_" }]);
  const onlyHtml = await rawPost(gw.mcpUrl, initializeBody(), { accept: "text/html" });
  assertEquals(onlyHtml.status, 406);
  assertEquals(onlyHtml.json.error.code, -32600);
  const onlyJson = await rawPost(gw.mcpUrl, initializeBody(), { accept: "application/json" });
  assertEquals(onlyJson.status, 406);
  assertEquals((await rawPost(gw.mcpUrl, initializeBody(), { accept: "*/*" })).status, 200);
  const latin1 = await rawPost(gw.mcpUrl, initializeBody(), {
    "content-type": "application/json; charset=iso-8859-1",
  });
  assertEquals(latin1.status, 415);
  assert(/UTF-8/.test(latin1.json.error.message), latin1.text);
  assertEquals(
    (await rawPost(gw.mcpUrl, initializeBody(), { "content-type": "application/json; charset=UTF-8" }))
      .status,
    200,
  );

  // A client that gives up halfway through its body.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(gw.mcpUrl).port) });
  await conn.write(new TextEncoder().encode(
    "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
      'accept: application/json, text/event-stream\r\ncontent-length: 1000\r\n\r\n{"jsonrpc":',
  ));
  conn.close();
  // Still serving, and nothing logged as an error.
  assertEquals((await rawPost(gw.mcpUrl, initializeBody())).status, 200);
  assert(!/ ERROR /.test(gw.logs()), gw.logs());
});
