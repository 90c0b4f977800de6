/**
 * Hot reload as a user does it: add a server, disable one, re-point one, write a broken file. Clients see
 * the right tools and a `list_changed` each time the set changes; the broken file changes nothing.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startEverything } from "./helpers/everything.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";
import { connectClient, toolNames } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";

const ECHO = (prefix: string) => `${prefix}echo`;

Deno.test("config hot reload drives tools and list_changed", async (t) => {
  await using a = await startEverything();
  await using b = await startEverything();
  await using c = await startEverything();
  const serverA = { name: "server-a", url: a.url, toolPrefix: "a_" };
  await using gw = await startGatewayProcess({ config: { servers: [serverA] } });
  await waitFor(async () => (await gw.status()).healthyServers === 1, "server-a ready");
  await using client = await connectClient(gw.mcpUrl);
  // The notification stream (GET) is opened by the SDK after initialize; wait until the broker has it.
  await client.notificationStream();
  const initialTools = await toolNames(client.client);
  assert(initialTools.includes(ECHO("a_")));
  const per = initialTools.length;

  const toolsEventually = (check: (names: string[]) => boolean, what: string) =>
    waitFor(async () => check(await toolNames(client.client)), what, 10_000);

  await t.step("adding a server adds its tools and notifies", async () => {
    const before = client.listChanged();
    await gw.writeConfig({ servers: [serverA, { name: "server-b", url: b.url, toolPrefix: "b_" }] });
    await toolsEventually((n) => n.includes(ECHO("b_")) && n.length === 2 * per, "b_ tools listed");
    await waitFor(() => client.listChanged() > before, "list_changed after add");
  });

  await t.step("disabling a server removes its tools everywhere", async () => {
    const before = client.listChanged();
    await gw.writeConfig({
      servers: [serverA, { name: "server-b", url: b.url, toolPrefix: "b_", enabled: false }],
    });
    await toolsEventually((n) => !n.includes(ECHO("b_")) && n.length === per, "b_ tools gone");
    await waitFor(() => client.listChanged() > before, "list_changed after disable");
    const call = await client.client.callTool({ name: "b_echo", arguments: { message: "x" } }).catch((
      e: Error,
    ) => e);
    assert(call instanceof Error && /Unknown tool/.test(call.message), `b_echo refused: ${call}`);
  });

  await t.step("changing a URL re-points the server", async () => {
    const connected = async () =>
      (await gw.events("UpstreamConnected")).filter((e: { server: string }) => e.server === "server-a");
    const before = await connected();
    assert(before.length > 0, "server-a connected once");
    const mark = Math.max(...(await gw.events()).map((e: { seq: number }) => e.seq));
    await gw.writeConfig({ servers: [{ ...serverA, url: c.url }] });
    // A new connection, under a new upstream key: the gateway reconnected rather than keep a's.
    const reconnected = await waitFor(
      async () => (await connected()).find((e: { seq: number }) => e.seq > mark),
      "server-a connected again after the URL change",
    );
    assert(!before.some((e: { upstreamKey: string }) => e.upstreamKey === reconnected.upstreamKey));
    await waitFor(async () => {
      const status = await gw.status();
      return status.servers[0].url === c.url && status.servers[0].ready;
    }, "server-a re-pointed to c");
    await a.kill(); // only c can answer now
    const result = await client.client.callTool({ name: "a_echo", arguments: { message: "moved" } });
    assertEquals(result.content, [{ type: "text", text: "Echo: moved" }]);
  });

  await t.step("a broken file is rejected and the last good config keeps serving", async () => {
    const before = client.listChanged();
    const toolsBefore = await toolNames(client.client);
    await gw.writeConfig("servers:\n  - name: broken\n    url: not-a-url\n");
    await waitFor(async () => (await gw.status()).config.lastRejection, "rejection reported");
    const status = await gw.status();
    assert(
      /servers\[broken\]\.url/.test(status.config.lastRejection.reason),
      status.config.lastRejection.reason,
    );
    assert(/config rejected/.test(gw.logs()));
    assertEquals(await toolNames(client.client), toolsBefore);
    const result = await client.client.callTool({ name: "a_echo", arguments: { message: "still" } });
    assertEquals(result.content, [{ type: "text", text: "Echo: still" }]);
    // The sentinel: a good file adding server-b again changes tools, then prompts, then resources, each with
    // its own list_changed on the same stream. Once the resources one is here, so is anything sent before
    // it: the rejection must have sent nothing, the sentinel exactly one tools/list_changed.
    const resourcesBefore = client.listChanged("resources");
    await gw.writeConfig({
      servers: [{ ...serverA, url: c.url }, { name: "server-b", url: b.url, toolPrefix: "b_" }],
    });
    await waitFor(() => client.listChanged("resources") > resourcesBefore, "the sentinel's resources change");
    assertEquals(client.listChanged(), before + 1);
  });
});
