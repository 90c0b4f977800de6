/**
 * The broker's main job on real backends: two `server-everything` instances behind prefixes a_ and b_,
 * listed together and called through the broker's own data path, answering exactly as a direct call does.
 */
import { assert, assertEquals, assertNotEquals } from "./helpers/assert.ts";
import { startTwoBackends } from "./helpers/two_backends.ts";
import { connectClient, rawInitialize, rawPost } from "./helpers/mcp_client.ts";
import { DISCOVERY_CAPABILITIES } from "../src/upstream/manager.ts";

Deno.test("broker aggregates two real MCP servers and forwards calls", async (t) => {
  await using backends = await startTwoBackends();
  const { a, gw } = backends;
  // The gateway discovers with every client capability declared, so it lists what such a client sees.
  await using direct = await connectClient(a.url, { capabilities: DISCOVERY_CAPABILITIES });
  await using client = await connectClient(gw.mcpUrl, { capabilities: DISCOVERY_CAPABILITIES });

  await t.step("tools/list shows both prefixed sets, sorted, schemas untouched", async () => {
    const directTools = (await direct.client.listTools()).tools;
    const listed = (await client.client.listTools()).tools;
    const names = listed.map((t: { name: string }) => t.name);
    assertEquals(names, [...names].sort());
    for (const tool of directTools) {
      const a = listed.find((t: { name: string }) => t.name === `a_${tool.name}`);
      const b = listed.find((t: { name: string }) => t.name === `b_${tool.name}`);
      assert(a && b, `both prefixes of ${tool.name} listed`);
      assertEquals({ ...a, name: tool.name }, tool);
    }
    assertEquals(listed.length, 2 * directTools.length);
  });

  await t.step("a client without capabilities is listed only the tools it can call", async () => {
    await using plain = await connectClient(gw.mcpUrl);
    await using plainDirect = await connectClient(a.url);
    const expected = (await plainDirect.client.listTools()).tools.map((t: { name: string }) => `a_${t.name}`);
    const listed = (await plain.client.listTools()).tools.map((t: { name: string }) => t.name);
    assertEquals(listed.filter((n: string) => n.startsWith("a_")), expected.sort());
    assert(!listed.includes("a_trigger-sampling-request"));
    assert(
      (await client.client.listTools()).tools.some((t: { name: string }) =>
        t.name === "a_trigger-sampling-request"
      ),
    );
  });

  await t.step("a_echo and b_get-sum answer as the backend does directly", async () => {
    const viaGateway = await client.client.callTool({ name: "a_echo", arguments: { message: "hello" } });
    const viaDirect = await direct.client.callTool({ name: "echo", arguments: { message: "hello" } });
    assertEquals(viaGateway, viaDirect);
    assertEquals(viaGateway.content, [{ type: "text", text: "Echo: hello" }]);
    const sum = await client.client.callTool({ name: "b_get-sum", arguments: { a: 2, b: 40 } });
    assertEquals(sum, await direct.client.callTool({ name: "get-sum", arguments: { a: 2, b: 40 } }));
  });

  await t.step("progress notifications of a long call stream through", async () => {
    const progress: number[] = [];
    const result = await client.client.callTool(
      { name: "a_trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
      undefined,
      { onprogress: (p: { progress: number }) => progress.push(p.progress) },
    );
    assertEquals(progress, [1, 2, 3]);
    assert(JSON.stringify(result.content).includes("Long running operation completed"));
  });

  await t.step("each client gets its own session; backend sessions are reused and never shown", async () => {
    const s1 = await rawInitialize(gw.mcpUrl);
    const s2 = await rawInitialize(gw.mcpUrl);
    assertNotEquals(s1, s2);
    const call = (session: string, id: number) =>
      rawPost(
        gw.mcpUrl,
        JSON.stringify({
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: { name: "a_echo", arguments: { message: "x" } },
        }),
        { "mcp-session-id": session },
      );
    const r1 = await call(s1, 1);
    const r2 = await call(s1, 2);
    assertEquals([r1.status, r2.status], [200, 200]);
    assertEquals(r1.headers.get("mcp-session-id"), s1);
    assertEquals(r2.headers.get("mcp-session-id"), s1);
    const r3 = await call(s2, 3);
    assertEquals(r3.headers.get("mcp-session-id"), s2);
    const sessions = await (await fetch(`${gw.baseUrl}/debug/projections?name=sessions`)).json();
    const bound = Object.values(
      sessions.sessions.open as Record<string, { backends?: Record<string, { id: string }> }>,
    )
      .map((s) => s.backends?.["server-a"]?.id).filter(Boolean);
    // One backend session per gateway session that called server-a, no more (the two calls of s1 shared one).
    assertEquals(new Set(bound).size, bound.length);
    for (const id of bound) {
      assert(!r1.text.includes(id!) && !r3.text.includes(id!), "backend session never shown");
    }
    const events = await (await fetch(`${gw.baseUrl}/debug/events?type=BackendSessionBound`)).json();
    const forS1 = events.events.filter((e: { server: string; backendSession: string }) =>
      e.server === "server-a" && bound.includes(e.backendSession)
    );
    assert(forS1.length >= 2, "s1 and s2 each bound one backend session");
  });

  await t.step("DELETE ends the session: later requests get 404", async () => {
    const session = await rawInitialize(gw.mcpUrl);
    const del = await fetch(gw.mcpUrl, { method: "DELETE", headers: { "mcp-session-id": session } });
    await del.body?.cancel();
    assertEquals(del.status, 200);
    const after = await rawPost(gw.mcpUrl, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, {
      "mcp-session-id": session,
    });
    assertEquals(after.status, 404);
  });
});
