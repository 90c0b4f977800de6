/**
 * A backend's own `list_changed` reaches clients as the gateway's, for tools, prompts and resources, and
 * only when the aggregated list changes: a backend that re-announces the same lists (and a gateway that
 * re-lists on every check interval) sends clients nothing.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { connectClient, toolNames } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startWeather, WEATHER_EXTRA_PROMPT, WEATHER_EXTRA_RESOURCE } from "./servers/weather.ts";

Deno.test("a backend's list_changed becomes the gateway's, only when the set changes", async (t) => {
  await using weather = await startWeather();
  // Checks (ping + re-list) every second: the periodic re-lists must not notify clients either.
  await using gw = await startGatewayFor([{ name: "weather", url: weather.url, toolPrefix: "w_" }], {
    args: ["--mcp-check-interval", "1"],
  });
  await using client = await connectClient(gw.mcpUrl);
  await client.notificationStream();
  const counts = () => ({
    tools: client.listChanged("tools"),
    prompts: client.listChanged("prompts"),
    resources: client.listChanged("resources"),
  });

  await t.step("the backend re-announcing the same lists sends clients nothing", async () => {
    const tools = await toolNames(client.client);
    // Three rounds: each makes the gateway re-list and get the same tools in a new order.
    for (let round = 0; round < 3; round++) {
      const seen = (await gw.events("ToolsDiscovered")).length;
      const sent = await client.client.callTool({ name: "w_resend_lists", arguments: {} });
      assertEquals(sent.content, [{ type: "text", text: "list_changed sent; lists unchanged" }]);
      await waitFor(
        async () => (await gw.events("ToolsDiscovered")).length > seen,
        `the gateway re-listed (round ${round + 1})`,
      );
    }
    assertEquals(await toolNames(client.client), tools);
    // The sentinel: a real change of the prompts. The gateway sends every notification on the same stream in
    // order, so once the client has this one, it has every spurious one sent before it.
    await client.client.callTool({
      name: "w_toggle_extra",
      arguments: { enabled: true, kind: "prompt" },
    });
    await waitFor(() => client.listChanged("prompts") > 0, "prompts/list_changed after a new prompt");
    assertEquals(counts(), { tools: 0, prompts: 1, resources: 0 });
  });

  await t.step("a prompt and a resource added by the backend reach clients with list_changed", async () => {
    const prompts = (await client.client.listPrompts()).prompts.map((p: { name: string }) => p.name);
    assert(prompts.includes(`w_${WEATHER_EXTRA_PROMPT}`), prompts.join());
    await client.client.callTool({
      name: "w_toggle_extra",
      arguments: { enabled: true, kind: "resource" },
    });
    await waitFor(() => client.listChanged("resources") > 0, "resources/list_changed after a new resource");
    const uris = (await client.client.listResources()).resources.map((r: { uri: string }) => r.uri);
    const served = WEATHER_EXTRA_RESOURCE.replace("weather://", "weather://w_");
    assert(uris.includes(served), uris.join());
    assertEquals(counts(), { tools: 0, prompts: 1, resources: 1 });
  });

  await t.step("a tool added and removed by the backend: one list_changed each", async () => {
    await client.client.callTool({ name: "w_toggle_extra", arguments: { enabled: true } });
    await waitFor(() => client.listChanged() === 1, "list_changed after the backend added a tool");
    assert((await toolNames(client.client)).includes("w_get_air_quality"));

    await client.client.callTool({ name: "w_toggle_extra", arguments: { enabled: false } });
    await waitFor(() => client.listChanged() === 2, "list_changed after the backend removed a tool");
    assert(!(await toolNames(client.client)).includes("w_get_air_quality"));
    assertEquals(counts(), { tools: 2, prompts: 1, resources: 1 });
  });
});
