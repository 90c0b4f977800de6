/**
 * The broker's main job on real backends: two `server-everything` instances behind prefixes a_ and b_,
 * listed together and called through the broker's own data path, answering exactly as a direct call does.
 */
import { assert, assertEquals, assertNotEquals } from "./helpers/assert.ts";
import { startTwoBackends } from "./helpers/two_backends.ts";
import { connectClient, rawInitialize, rawPost, toolCallBody } from "./helpers/mcp_client.ts";
import type { RecordedRequest } from "./helpers/e2e_recording_proxy.ts";
import { waitFor } from "./helpers/ports.ts";
import { DISCOVERY_CAPABILITIES } from "../src/upstream/manager.ts";

/** What the raw sessions here negotiate; not the SDK's newest, which the gateway's own sessions speak. */
const CLIENT_VERSION = "2025-06-18";

Deno.test("broker aggregates two real MCP servers and forwards calls", async (t) => {
  await using backends = await startTwoBackends({ record: true });
  const { a, gw } = backends;
  const recorded = backends.recorded!;
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

  /** What each backend received after `mark`, as recorded by its proxy. */
  const received = (backend: "a" | "b", mark: number) => recorded[backend].requests().slice(mark);
  const marks = () => ({ a: recorded.a.requests().length, b: recorded.b.requests().length });
  const call = (session: string, id: number, name: string, message: string) =>
    rawPost(gw.mcpUrl, toolCallBody(id, name, { message }), { "mcp-session-id": session });
  /** The backend session each echoed message was called on. */
  const sessionOfCall = (requests: RecordedRequest[]) => {
    const sessions: Record<string, string | undefined> = {};
    for (const r of requests) {
      for (const m of r.messages) {
        if (m.method === "tools/call") sessions[m.params.arguments.message] = r.session;
      }
    }
    return sessions;
  };
  /**
   * Backend sessions opened for clients: `initialize` at the clients' protocol version (the gateway's own
   * discovery sessions speak the SDK's newest).
   */
  const clientInits = (requests: RecordedRequest[]) =>
    requests.filter((r) =>
      r.messages.some((m) => m.method === "initialize" && m.params?.protocolVersion === CLIENT_VERSION)
    ).length;

  await t.step(
    "each client gets its own session; one backend session per gateway session and server",
    async () => {
      const mark = marks();
      const s1 = await rawInitialize(gw.mcpUrl, CLIENT_VERSION);
      const s2 = await rawInitialize(gw.mcpUrl, CLIENT_VERSION);
      assertNotEquals(s1, s2);
      const r1 = await call(s1, 1, "a_echo", "s1-first");
      const r2 = await call(s1, 2, "a_echo", "s1-second");
      // Concurrent first calls of a session share one backend initialize.
      const [r3, r4] = await Promise.all([call(s2, 3, "a_echo", "s2-x"), call(s2, 4, "a_echo", "s2-y")]);
      const r5 = await call(s1, 5, "b_echo", "s1-on-b");
      for (
        const [r, session, text] of [
          [r1, s1, "s1-first"],
          [r2, s1, "s1-second"],
          [r3, s2, "s2-x"],
          [r4, s2, "s2-y"],
          [r5, s1, "s1-on-b"],
        ] as const
      ) {
        assertEquals(r.status, 200, r.text);
        assertEquals(r.headers.get("mcp-session-id"), session);
        assertEquals(r.json?.result?.content, [{ type: "text", text: `Echo: ${text}` }], r.text);
      }
      assertEquals(clientInits(received("a", mark.a)), 2, "server-a: one initialize per gateway session");
      assertEquals(clientInits(received("b", mark.b)), 1, "server-b: only s1 called it");
      const onA = sessionOfCall(received("a", mark.a));
      assert(onA["s1-first"] && onA["s1-first"] === onA["s1-second"], JSON.stringify(onA));
      assert(onA["s2-x"] && onA["s2-x"] === onA["s2-y"], JSON.stringify(onA));
      assertNotEquals(onA["s1-first"], onA["s2-x"]);
      // The backend sessions are the gateway's business: never shown to the client.
      for (const r of [r1, r2, r3, r4, r5]) {
        for (const id of Object.values(onA)) assert(!r.text.includes(id!), "a backend session was shown");
      }
    },
  );

  await t.step("DELETE ends the session and the backend sessions opened for it", async () => {
    const session = await rawInitialize(gw.mcpUrl, CLIENT_VERSION);
    const mark = marks();
    await call(session, 1, "a_echo", "to-delete-a");
    await call(session, 2, "b_echo", "to-delete-b");
    const onA = sessionOfCall(received("a", mark.a))["to-delete-a"];
    const onB = sessionOfCall(received("b", mark.b))["to-delete-b"];
    assert(onA && onB, "both backends called");
    const del = await fetch(gw.mcpUrl, { method: "DELETE", headers: { "mcp-session-id": session } });
    await del.body?.cancel();
    assertEquals(del.status, 200);
    const deleted = (backend: "a" | "b", mark: number) =>
      received(backend, mark).filter((r) => r.method === "DELETE").map((r) => r.session);
    await waitFor(
      () => deleted("a", mark.a).includes(onA) && deleted("b", mark.b).includes(onB),
      "DELETE of both backend sessions",
    );
    const after = await rawPost(gw.mcpUrl, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, {
      "mcp-session-id": session,
    });
    assertEquals(after.status, 404);
  });
});
