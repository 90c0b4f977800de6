/**
 * A backend's own `tools/list_changed` reaches clients as one aggregated `list_changed` — and a re-list
 * that changes nothing sends none.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";
import { connectClient, toolNames } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startWeather } from "./servers/weather.ts";

Deno.test("a backend's list_changed becomes the gateway's, only when the set changes", async () => {
  const weather = await startWeather();
  try {
    await using gw = await startGatewayProcess({
      config: { servers: [{ name: "weather", url: weather.url, toolPrefix: "w_" }] },
      // A long check interval: the change must arrive by notification, not by the periodic re-list.
      args: ["--mcp-check-interval", "300"],
    });
    await waitFor(async () => (await gw.status()).healthyServers === 1, "weather ready");
    await using client = await connectClient(gw.mcpUrl);
    await new Promise((r) => setTimeout(r, 300)); // the SDK opens its GET stream after initialize
    assert(!(await toolNames(client.client)).includes("w_get_air_quality"));

    await client.client.callTool({ name: "w_toggle_extra", arguments: { enabled: true } });
    await waitFor(() => client.listChanged() === 1, "list_changed after the backend added a tool");
    assert((await toolNames(client.client)).includes("w_get_air_quality"));

    // Asking for the state it is already in: the backend may notify, the set is unchanged, clients hear nothing.
    await client.client.callTool({ name: "w_toggle_extra", arguments: { enabled: true } });
    await new Promise((r) => setTimeout(r, 500));
    assertEquals(client.listChanged(), 1);

    await client.client.callTool({ name: "w_toggle_extra", arguments: { enabled: false } });
    await waitFor(() => client.listChanged() === 2, "list_changed after the backend removed a tool");
    assert(!(await toolNames(client.client)).includes("w_get_air_quality"));
  } finally {
    await weather.close();
  }
});
