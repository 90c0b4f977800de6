/** The debug endpoints explain routing from the log, to operators only: loopback clients, never the public route. */
import { assert, assertEquals } from "./helpers/assert.ts";
import { parseCli } from "../src/cli.ts";
import { startGateway } from "../src/gateway.ts";
import { createBroker } from "../src/broker/server.ts";
import { silentLogger } from "../src/observe/log.ts";

Deno.test("debug endpoints: events and projections for loopback clients, 404 for others, no credentials", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    "servers:\n  - name: secret-server\n    url: http://127.0.0.1:9/mcp\n    credential: Bearer top-secret\n",
  );
  const cli = parseCli([
    "--mcp-gateway-config",
    `${dir}/config.yaml`,
    "--mcp-broker-address",
    "127.0.0.1:0",
    "--mcp-router-address",
    "off",
  ], () => undefined);
  assert(cli.ok);
  const gateway = await startGateway(cli.options, silentLogger);
  const broker = createBroker(gateway.context);
  try {
    const local = { remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 5000 } };
    const remote = { remoteAddr: { transport: "tcp" as const, hostname: "10.0.0.7", port: 5000 } };
    const events = await broker.handler(new Request("http://gw/debug/events?type=ConfigLoaded"), local);
    assertEquals(events.status, 200);
    const text = await events.text();
    assert(text.includes("secret-server"), text);
    assert(!text.includes("top-secret"), "credentials are redacted");
    const projections = await (await broker.handler(new Request("http://gw/debug/projections"), local))
      .json();
    assertEquals(Object.keys(projections).sort(), ["explain", "routingTable", "sessions", "upstreams"]);
    const refused = await broker.handler(new Request("http://gw/debug/events"), remote);
    await refused.body?.cancel();
    assertEquals(refused.status, 404);
  } finally {
    broker.close();
    await gateway.close();
    await Deno.remove(dir, { recursive: true });
  }
});
