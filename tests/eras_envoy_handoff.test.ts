/**
 * Until the router decides 2026-07-28 requests itself, it hands every one of them to the broker, which
 * serves them whole: through the Envoy harness, a client pinned to 2026-07-28 discovers, lists, calls and
 * reads like one talking to the broker directly, and the router routes none of them.
 */
import { assertEquals } from "./helpers/assert.ts";
import { connectClientV2, MODERN_VERSION } from "./helpers/mcp_client_v2.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";
import { COUNTER_URI, startModern } from "./servers/modern.ts";

Deno.test("Envoy path: 2026-07-28 requests go to the broker, which serves them", async () => {
  await using backend = await startModern({ mode: "dual" });
  await using stack = await startEnvoyStack([
    { name: "modern", url: backend.url, hostname: "modern.mcp.local", toolPrefix: "m_" },
  ]);
  await using mcp = await connectClientV2(stack.mcpUrl, { mode: { pin: MODERN_VERSION } });
  assertEquals(mcp.era, "modern");
  const tools = (await mcp.client.listTools()).tools.map((t) => t.name);
  assertEquals(tools.includes("m_echo"), true, String(tools));
  const result = await mcp.client.callTool({ name: "m_echo", arguments: { message: "via envoy" } });
  assertEquals((result.content as { text: string }[])[0].text, "Echo: via envoy");
  const read = await mcp.client.readResource({ uri: COUNTER_URI.replace("://", "://m_") });
  assertEquals(read.contents[0].uri, "modern://m_counter");
  // Every request went to the broker's cluster: none was routed to the backend's.
  const backendOrigin = new URL(backend.url).origin;
  const posts = stack.envoy.exchanges.filter((x) => x.method === "POST");
  assertEquals(posts.length > 0, true);
  assertEquals(posts.filter((x) => x.upstream === backendOrigin).map((x) => x.path), []);
});
