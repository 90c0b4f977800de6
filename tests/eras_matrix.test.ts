/**
 * The cross-era matrix through the broker: clients of both eras (an SDK v2 client in the 2025 handshake,
 * one pinned to 2026-07-28) × backends of each kind (2025-only, 2026-only, dual-era; tests/servers/modern.ts)
 * behind one gateway. Every pairing lists, calls, gets a prompt, reads a resource and hears list and
 * resource changes (2025: on the GET stream; 2026: on a `subscriptions/listen` stream). What reached the
 * backend is checked too: the wire the gateway picked, the envelope and the standard headers.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { waitFor } from "./helpers/ports.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { connectClientV2, MODERN_VERSION } from "./helpers/mcp_client_v2.ts";
import {
  assertChangesReachBothEras,
  type Backend,
  BACKENDS,
  inspect,
  servedCounter,
  startMatrixBackends,
  textOf,
} from "./helpers/eras_matrix.ts";
import { startModern } from "./servers/modern.ts";

async function startMatrix() {
  const matrix = await startMatrixBackends();
  const gw = await startGatewayFor(matrix.entries.map(({ hostname: _, ...entry }) => entry));
  return {
    gw,
    backends: matrix.backends,
    async [Symbol.asyncDispose]() {
      await gw.stop();
      await matrix[Symbol.asyncDispose]();
    },
  };
}

Deno.test("cross-era matrix: each client era reaches each backend kind for list, call, prompt and read", async () => {
  await using m = await startMatrix();
  await using old = await connectClientV2(m.gw.mcpUrl, { mode: "legacy" });
  await using neu = await connectClientV2(m.gw.mcpUrl, { mode: { pin: MODERN_VERSION } });
  assertEquals([old.era, neu.era], ["legacy", "modern"]);
  for (const [name, mcp] of [["2025", old], ["2026", neu]] as const) {
    const tools = (await mcp.client.listTools()).tools.map((t) => t.name);
    const prompts = (await mcp.client.listPrompts()).prompts.map((p) => p.name);
    const resources = (await mcp.client.listResources()).resources.map((r) => r.uri);
    for (const backend of Object.keys(BACKENDS) as Backend[]) {
      const p = BACKENDS[backend];
      const pairing = `${name} client, ${backend} backend`;
      assert(tools.includes(`${p}echo`), `${pairing}: ${tools}`);
      assert(prompts.includes(`${p}greeting`), `${pairing}: ${prompts}`);
      assert(resources.includes(servedCounter(backend)), `${pairing}: ${resources}`);
      assertEquals(
        textOf(await mcp.client.callTool({ name: `${p}echo`, arguments: { message: pairing } })),
        `Echo: ${pairing}`,
      );
      const prompt = await mcp.client.getPrompt({ name: `${p}greeting`, arguments: { name: "Ada" } });
      assertEquals((prompt.messages[0].content as { text: string }).text, "Say hello to Ada");
      const read = await mcp.client.readResource({ uri: servedCounter(backend) });
      assertEquals(read.contents[0].uri, servedCounter(backend), pairing);
      // An argument a tool mirrors into a header (x-mcp-header): a 2026 client's header passes through, a
      // 2025 client's call gets one from the gateway; a 2026 backend refuses the call without it.
      assertEquals(
        textOf(await mcp.client.callTool({ name: `${p}region_echo`, arguments: { region: "eu-west" } })),
        "region=eu-west message=",
        pairing,
      );
    }
  }
});

Deno.test("cross-era matrix: the backend sees the wire its era calls for", async () => {
  await using m = await startMatrix();
  await using old = await connectClientV2(m.gw.mcpUrl, { mode: "legacy", capabilities: { elicitation: {} } });
  await using neu = await connectClientV2(m.gw.mcpUrl, {
    mode: { pin: MODERN_VERSION },
    capabilities: { sampling: {} },
    name: "pinned-client",
  });

  // 2025 client → 2025-only and dual backends: its own backend session, no envelope.
  for (const backend of ["legacy", "dual"] as const) {
    const seen = await inspect(old, backend);
    assertEquals(seen.era, "legacy", backend);
    assert(seen.sessionId, `${backend}: a backend session`);
    assertEquals(seen.meta["io.modelcontextprotocol/protocolVersion"], undefined);
  }
  // 2025 client → 2026-only backend: the gateway speaks 2026, the envelope made from the session.
  let seen = await inspect(old, "modern");
  assertEquals(seen.era, "modern");
  assertEquals(seen.sessionId, null);
  assertEquals(seen.envelope["io.modelcontextprotocol/protocolVersion"], MODERN_VERSION);
  assertEquals(seen.envelope["io.modelcontextprotocol/clientCapabilities"], { elicitation: {} });
  assertEquals(seen.headers["mcp-protocol-version"], MODERN_VERSION);
  assertEquals(seen.headers["mcp-method"], "tools/call");
  assertEquals(seen.headers["mcp-name"], "inspect", "Mcp-Name is the backend's, unprefixed");
  assertEquals(seen.headers["mcp-session-id"], undefined);

  // 2026 client → 2026-only and dual backends: stateless, its own envelope, unprefixed headers.
  for (const backend of ["modern", "dual"] as const) {
    seen = await inspect(neu, backend);
    assertEquals(seen.era, "modern", backend);
    assertEquals(seen.sessionId, null);
    assertEquals(seen.envelope["io.modelcontextprotocol/clientCapabilities"], { sampling: {} });
    assertEquals(
      (seen.envelope["io.modelcontextprotocol/clientInfo"] as { name: string }).name,
      "pinned-client",
    );
    assertEquals([seen.headers["mcp-method"], seen.headers["mcp-name"]], ["tools/call", "inspect"]);
    assertEquals(seen.headers["mcp-session-id"], undefined);
  }
  // 2026 client → 2025-only backend: a backend session the gateway holds for it, no envelope.
  seen = await inspect(neu, "legacy");
  assertEquals(seen.era, "legacy");
  assert(seen.sessionId, "a held backend session");
  assertEquals(seen.meta["io.modelcontextprotocol/protocolVersion"], undefined);
  assertEquals(seen.headers["mcp-protocol-version"], "2025-11-25");
  // … reused by the same caller with the same capabilities, never shared with other capabilities.
  assertEquals((await inspect(neu, "legacy")).sessionId, seen.sessionId);
  await using other = await connectClientV2(m.gw.mcpUrl, {
    mode: { pin: MODERN_VERSION },
    capabilities: { elicitation: {} },
  });
  const otherSession = (await inspect(other, "legacy")).sessionId;
  assert(otherSession && otherSession !== seen.sessionId, "other capabilities, another backend session");

  // /status shows each backend's era (a dual-era backend: both).
  const status = await m.gw.status();
  const eras = Object.fromEntries(
    status.servers.map((s: any) => [s.name, [s.era, s.eras, s.protocolVersion]]),
  );
  assertEquals(eras, {
    legacy: ["2025", ["2025"], "2025-11-25"],
    modern: ["2026", ["2026"], MODERN_VERSION],
    dual: ["2026", ["2026", "2025"], MODERN_VERSION],
  });
  const metrics = await (await fetch(`${m.gw.baseUrl}/metrics`)).text();
  assertMatch(
    metrics,
    /mcp_gateway_upstream_info\{server="dual",era="2026",protocol_version="2026-07-28"\} 1/,
  );
  assertMatch(metrics, /mcp_gateway_era_requests_total\{era="2026"\} [1-9]/);
});

Deno.test("cross-era matrix: list changes and resource updates reach both eras from every backend kind", async () => {
  await using m = await startMatrix();
  await using old = await connectClientV2(m.gw.mcpUrl, { mode: "legacy" });
  await using neu = await connectClientV2(m.gw.mcpUrl, { mode: { pin: MODERN_VERSION } });
  await assertChangesReachBothEras(old, neu, () => old);
});

Deno.test("cross-era matrix: progress and elicitation in every pairing (across eras through the bridge)", async () => {
  await using m = await startMatrix();
  await using old = await connectClientV2(m.gw.mcpUrl, { mode: "legacy" });
  await using neu = await connectClientV2(m.gw.mcpUrl, { mode: { pin: MODERN_VERSION } });
  for (const [name, mcp] of [["2025", old], ["2026", neu]] as const) {
    for (const backend of Object.keys(BACKENDS) as Backend[]) {
      const p = BACKENDS[backend];
      const pairing = `${name} client, ${backend} backend`;
      const progress: number[] = [];
      const since = mcp.notifications.length;
      const done = await mcp.client.callTool(
        { name: `${p}progress`, arguments: { steps: 2 } },
        { onprogress: (n) => progress.push(n.progress) },
      );
      assertEquals([textOf(done), progress], ["progress done: 2 steps", [1, 2]], pairing);
      if (name === "2026") {
        // Without `logLevel` in its envelope a 2026 client is sent no log messages, whichever backend.
        const logs = mcp.notifications.slice(since).filter((n) => n.method === "notifications/message");
        assertEquals(logs, [], pairing);
      }
      // Same era on the wire: the 2025 backend's request is relayed, or the 2026 `input_required` passes
      // through untouched. Across eras the bridge asks the client its own way and carries the answer back.
      assertEquals(
        textOf(await mcp.client.callTool({ name: `${p}confirm`, arguments: { question: "Go?" } })),
        'confirmed: action=accept, content={"confirmed":true,"name":"tester"}',
        pairing,
      );
    }
  }
});

/**
 * A pass-through proxy in front of a backend that notes which POSTs had their answer stream closed by the
 * gateway before it ended.
 */
function closingProxy(target: string) {
  const closed: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = req.method === "POST" ? await req.text() : undefined;
    const method = body ? JSON.parse(body).method : req.method;
    const res = await fetch(target, { method: req.method, headers: req.headers, body });
    if (!res.body) return new Response(null, { status: res.status, headers: res.headers });
    const reader = res.body.getReader();
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel() {
        closed.push(method);
        return reader.cancel();
      },
    });
    return new Response(stream, { status: res.status, headers: res.headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/mcp`,
    closed,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("cross-era: a 2025 client's cancellation closes its call on a 2026 backend", async () => {
  await using backend = await startModern({ mode: "modern" });
  await using proxy = closingProxy(backend.url);
  await using gw = await startGatewayFor([{ name: "m", url: proxy.url, toolPrefix: "m_" }]);
  await using old = await connectClientV2(gw.mcpUrl, { mode: "legacy" });
  const abort = new AbortController();
  const progress: number[] = [];
  const call = old.client.callTool({ name: "m_progress", arguments: { steps: 20 } }, {
    signal: abort.signal,
    onprogress: (p) => progress.push(p.progress),
  }).catch((e: Error) => e);
  await waitFor(() => progress.length > 0, "the call is running");
  abort.abort("changed my mind");
  assert(String(await call).includes("changed my mind"));
  await waitFor(() => proxy.closed.includes("tools/call"), "the gateway closed the backend's answer");
  assert(progress.length < 20, `the call ran to its end: ${progress}`);
});

Deno.test("cross-era: a 2026 backend's refusals reach a 2025 client as JSON-RPC errors, not as HTTP failures", async () => {
  await using backend = await startModern({ mode: "modern" });
  await using gw = await startGatewayFor([{ name: "m", url: backend.url, toolPrefix: "m_" }]);
  await using old = await connectClientV2(gw.mcpUrl, { mode: "legacy" });
  // The backend has no completions: 404 / -32601 in its era. To a 2025 client an HTTP 404 would mean its
  // session is gone; it gets the JSON-RPC error, on 200, and its session goes on.
  const refused = await old.client.complete({
    ref: { type: "ref/prompt", name: "m_greeting" },
    argument: { name: "name", value: "A" },
  }).then(() => undefined, (e) => e);
  assertEquals([refused?.constructor?.name, refused?.code], ["ProtocolError", -32601], String(refused));
  const after = await old.client.callTool({ name: "m_echo", arguments: { message: "after" } });
  assertEquals(textOf(after), "Echo: after");
});
