/**
 * A backend that dies and comes back: its tools leave and return, /status says why, clients hear
 * `list_changed`, and the other server never notices.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startTwoBackends } from "./helpers/two_backends.ts";
import { connectClient, toolNames } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";

Deno.test("a killed and restarted backend leaves and rejoins without disturbing others", async () => {
  await using backends = await startTwoBackends();
  const { a, gw } = backends;
  await using client = await connectClient(gw.mcpUrl);
  // A call first, so this session holds a backend session on server-a that the restart will invalidate.
  await client.client.callTool({ name: "a_echo", arguments: { message: "before" } });
  await client.notificationStream(); // list_changed can reach the client from now on
  const changesBefore = client.listChanged();

  await a.kill();
  await waitFor(
    async () => !(await toolNames(client.client)).some((n) => n.startsWith("a_")),
    "a_ tools gone",
  );
  const down = await gw.status();
  const serverA = down.servers.find((s: { name: string }) => s.name === "server-a");
  assertEquals(serverA.ready, false);
  assert(/refused|failed|closed|terminated|fetch/i.test(serverA.message), serverA.message);
  assertEquals(down.servers.find((s: { name: string }) => s.name === "server-b").ready, true);
  const bResult = await client.client.callTool({ name: "b_echo", arguments: { message: "unaffected" } });
  assertEquals(bResult.content, [{ type: "text", text: "Echo: unaffected" }]);
  await waitFor(() => client.listChanged() > changesBefore, "list_changed on removal");

  const changesDown = client.listChanged();
  await a.restart();
  await waitFor(async () => (await toolNames(client.client)).includes("a_echo"), "a_ tools back", 20_000);
  await waitFor(() => client.listChanged() > changesDown, "list_changed on return");
  // The old backend session died with the process: the gateway re-initializes transparently.
  const again = await client.client.callTool({ name: "a_echo", arguments: { message: "after" } });
  assertEquals(again.content, [{ type: "text", text: "Echo: after" }]);
});
