/**
 * A backend's request outside any call (here `roots/list`, sent on the backend session's GET stream) reaches
 * the client that the backend session belongs to, and the client's answer reaches that backend session, in
 * both data paths (README, Compatibility: "backend requests outside a call").
 */
import { assertEquals } from "./helpers/assert.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { connectClient } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";
import { type RootsAnswer, startRootsAsker } from "./servers/roots_asker.ts";
// @ts-types="@modelcontextprotocol/sdk/types"
import { ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const ROOTS = [{ uri: "file:///srv/outside-a-call", name: "asked outside a call" }];

async function rootsOutsideACall(mcpUrl: string, answers: RootsAnswer[]) {
  await using mcp = await connectClient(mcpUrl, { capabilities: { roots: { listChanged: true } } });
  mcp.client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: ROOTS }));
  await mcp.notificationStream();
  const started = await mcp.client.callTool({ name: "r_ask_roots", arguments: {} });
  // The call is over before the backend asks: the request can only come on the GET stream.
  assertEquals(started.content, [{ type: "text", text: "asking for roots" }]);
  await waitFor(() => answers.length > 0, "the client's roots at the backend");
  assertEquals(answers, [{ roots: ROOTS }]);
}

Deno.test("a backend request outside a call reaches the client and back, through the broker", async () => {
  await using asker = await startRootsAsker();
  await using gw = await startGatewayFor([{ name: "asker", url: asker.url, toolPrefix: "r_" }]);
  await rootsOutsideACall(gw.mcpUrl, asker.answers);
});

Deno.test("a backend request outside a call reaches the client and back, through the Envoy path", async () => {
  await using asker = await startRootsAsker();
  await using stack = await startEnvoyStack([
    { name: "asker", url: asker.url, hostname: "asker.mcp.local", toolPrefix: "r_" },
  ]);
  await rootsOutsideACall(stack.mcpUrl, asker.answers);
});
