/**
 * End to end through the Envoy data path: MCP SDK client → Envoy harness → router (ext_proc) → real
 * server-everything backends, with the real broker behind the default route.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { startEverything } from "./helpers/everything.ts";
import { startRecordingProxy } from "./helpers/e2e_recording_proxy.ts";
import { connectClient, rawPost } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";

const text = (result: unknown) => (result as { content: { type: string; text: string }[] }).content[0].text;

Deno.test("e2e: initialize, list, prefixed calls, streamed results, session reuse, backend restart", async () => {
  await using a = await startEverything();
  await using b = await startEverything();
  await using stack = await startEnvoyStack([
    { name: "alpha", url: a.url, hostname: "alpha.mcp.local", toolPrefix: "a_" },
    { name: "beta", url: b.url, hostname: "beta.mcp.local", toolPrefix: "b_" },
  ], { expectTools: 26 });
  await using c = await connectClient(stack.mcpUrl);
  const { tools } = await c.client.listTools();
  const names = tools.map((t: { name: string }) => t.name);
  assert(names.includes("a_echo") && names.includes("b_get-sum"), names.join(","));

  assertEquals(text(await c.client.callTool({ name: "a_echo", arguments: { message: "hi" } })), "Echo: hi");
  assertEquals(
    text(await c.client.callTool({ name: "b_get-sum", arguments: { a: 2, b: 3 } })).includes("5"),
    true,
  );

  const calls = stack.envoy.exchanges.filter((e) =>
    e.dynamicMetadata["mcp-gateway"] &&
    (e.dynamicMetadata["mcp-gateway"] as Record<string, string>).method === "tools/call"
  );
  assertEquals(calls.length, 2);
  const first = calls[0];
  assertEquals(first.upstream, new URL(a.url).origin);
  const sent = Object.fromEntries(first.upstreamHeaders!);
  assertEquals([sent[":authority"], sent[":path"], sent["x-mcp-servername"], sent["x-mcp-toolname"]], [
    "alpha.mcp.local",
    "/mcp",
    "alpha",
    "echo",
  ]);
  assert(
    sent["mcp-session-id"] && sent["mcp-session-id"] !== c.transport.sessionId,
    "backend session, not ours",
  );
  assert(first.upstreamBody!.includes(`"name":"echo"`));
  // The hairpin initialize went through the proxy, to alpha, without its internal headers.
  const hairpins = () =>
    stack.envoy.exchanges.filter((e) =>
      e.upstream === new URL(a.url).origin && e.upstreamBody?.includes(`"method":"initialize"`)
    );
  assertEquals(hairpins().length, 1);
  const hp = Object.fromEntries(hairpins()[0].upstreamHeaders!);
  assertEquals([hp["mcp-init-host"], hp["x-mcp-hairpin-token"], hp[":authority"]], [
    undefined,
    undefined,
    "alpha.mcp.local",
  ]);

  // Streamed result: progress notifications arrive over the SSE response before the result.
  const progress: number[] = [];
  const long = await c.client.callTool(
    { name: "a_trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
    undefined,
    { onprogress: (p: { progress: number }) => progress.push(p.progress) },
  );
  assert(text(long).length > 0);
  assertEquals(progress.length, 3);

  // Session reuse: more calls, still one backend initialize for alpha.
  await c.client.callTool({ name: "a_echo", arguments: { message: "again" } });
  assertEquals(hairpins().length, 1);

  // Backend restart: its session is gone. Either the gateway noticed (reconnect) or the backend's answer
  // to the stale session unbinds it; at the latest the call after re-initializes.
  await a.kill();
  await a.restart();
  // The gateway hides a failed server's tools until it reconnects.
  const routes = stack.gateway.context.routing;
  await waitFor(
    () =>
      routes.state.view.table.routes.has("a_echo") &&
      stack.gateway.context.upstreams.state.servers.get("alpha")?.status === "ready",
    "alpha back",
  );
  await c.client.callTool({ name: "a_echo", arguments: { message: "lost" } }).catch(() => undefined);
  assertEquals(
    text(await c.client.callTool({ name: "a_echo", arguments: { message: "back" } })),
    "Echo: back",
  );
  assertEquals(hairpins().length, 2);
});

Deno.test("e2e: concurrent first calls on a fresh session open one backend session; DELETE closes it", async () => {
  await using a = await startEverything();
  await using proxy = startRecordingProxy(a.url);
  await using stack = await startEnvoyStack([
    { name: "alpha", url: proxy.url, hostname: "alpha.mcp.local", toolPrefix: "" },
  ], { expectTools: 13 });
  await using c = await connectClient(stack.mcpUrl);
  const results = await Promise.all(
    [1, 2, 3, 4].map((i) => c.client.callTool({ name: "echo", arguments: { message: `m${i}` } })),
  );
  assertEquals(results.map(text), ["Echo: m1", "Echo: m2", "Echo: m3", "Echo: m4"]);
  const inits = stack.envoy.exchanges.filter((e) =>
    e.upstreamBody?.includes(`"method":"initialize"`) && e.upstream
  );
  assertEquals(inits.filter((e) => e.upstream === new URL(proxy.url).origin).length, 1);
  // The four calls ran on one backend session, which the gateway closes when the client ends its session.
  const onBackend = new Set(
    proxy.requests().filter((r) => r.messages.some((m) => m.method === "tools/call")).map((r) => r.session),
  );
  assertEquals(onBackend.size, 1, [...onBackend].join());
  const [backendSession] = onBackend;
  assert(backendSession && backendSession !== c.transport.sessionId, "a backend session, not the client's");
  await c.transport.terminateSession();
  await waitFor(
    () => proxy.requests().some((r) => r.method === "DELETE" && r.session === backendSession),
    "DELETE of the backend session",
  );
});

Deno.test("e2e: errors a client understands", async () => {
  await using a = await startEverything();
  await using stack = await startEnvoyStack([
    { name: "alpha", url: a.url, hostname: "alpha.mcp.local", toolPrefix: "a_" },
  ], { expectTools: 13, maxBodyBytes: 4096 });
  const url = stack.mcpUrl;
  const call = (id: string, name: string) =>
    `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${name}","arguments":{"message":"x"}}}`;

  let r = await rawPost(url, "{not json");
  assertEquals([r.status, r.json?.error?.code], [400, -32700]);
  r = await rawPost(url, `{"jsonrpc":"2.0","id":1}`);
  assertEquals([r.status, r.json?.error?.code], [400, -32600]);
  r = await rawPost(url, call("1", "a_echo"));
  assertEquals(r.status, 400, "no session");
  r = await rawPost(url, call("1", "a_echo"), { "mcp-session-id": "forged.token.value" });
  assertEquals(r.status, 404, "forged session: 404 so the client re-initializes");
  r = await rawPost(url, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"${"x".repeat(5000)}"}}`);
  assertEquals(r.status, 413);

  await using c = await connectClient(url);
  const session = c.transport.sessionId!;
  const big = "12345678901234567890";
  r = await rawPost(url, call(big, "nope"), {
    "mcp-session-id": session,
    "mcp-protocol-version": "2025-06-18",
  });
  assertEquals([r.status, r.json?.error?.code, r.headers.get("mcp-session-id")], [200, -32602, session]);
  assert(r.text.includes(`"id":${big}`), "id digits survive");
  await rejects(c.client.callTool({ name: "nope", arguments: {} }), /-32602|Unknown tool/);

  // A client-sent routing header does not steer the call.
  r = await rawPost(url, `{"jsonrpc":"2.0","id":"s","method":"tools/list"}`, {
    "mcp-session-id": session,
    "mcp-protocol-version": "2025-06-18",
    "x-mcp-servername": "alpha",
  });
  assertEquals(r.status, 200);
  assertEquals(stack.envoy.exchanges.at(-1)!.upstream, stack.gateway.brokerUrl);
  // Claiming to be the router's hairpin without its token is refused.
  r = await rawPost(url, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}`, {
    "mcp-init-host": "alpha.mcp.local",
  });
  assertEquals(r.status, 403);

  // DELETE ends the session; its token is refused afterwards.
  await c.transport.terminateSession();
  r = await rawPost(url, call("2", "a_echo"), {
    "mcp-session-id": session,
    "mcp-protocol-version": "2025-06-18",
  });
  assertEquals(r.status, 404);
});
