/**
 * The official MCP conformance suite through the gateway: with our conformance backend registered without a
 * prefix, every scenario that passes directly against the backend must pass through the broker's `/mcp`
 * (the gateway may pass more, never fewer). The suite reports a pass for some scenarios even when a name is
 * missing, so the lists themselves are also compared byte for byte with the backend's.
 */
import { ANY_RESULT, assertSameCatalog } from "./helpers/catalog.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { asLocalhost, connectClient, initializeBody, postWithHost, rawPost } from "./helpers/mcp_client.ts";
import { startConformance } from "./servers/conformance.ts";
import {
  ACTIVE_SERVER_SCENARIOS,
  PENDING_SERVER_SCENARIOS,
  runConformance,
} from "./servers/conformance_runner.ts";

/** The gateway with only the conformance backend behind it, unprefixed. */
const gatewayFor = (url: string) => startGatewayFor([{ name: "conformance", url, toolPrefix: "" }]);

Deno.test("conformance through the gateway: every scenario passing directly passes through the broker", async () => {
  await using backend = await startConformance();
  await using gw = await gatewayFor(backend.url);
  const [direct, viaGateway] = await Promise.all([
    runConformance(asLocalhost(backend.url), { suite: "all" }),
    runConformance(asLocalhost(gw.mcpUrl), { suite: "all" }),
  ]);
  // The baseline: the backend passes the whole active suite (conformance_direct.test.ts says why it must).
  assertEquals(
    [...direct.passed].sort(),
    [...ACTIVE_SERVER_SCENARIOS, ...PENDING_SERVER_SCENARIOS].sort(),
    direct.output,
  );
  const lost = direct.passed.filter((s) => !viaGateway.passed.includes(s));
  assertEquals(lost, [], `scenarios passing directly but not through the gateway:\n${viaGateway.output}`);
  assertEquals(viaGateway.failed.filter((s) => !direct.failed.includes(s)), [], viaGateway.output);
  // The run really went through the broker: it opened gateway sessions of its own.
  const events = await (await fetch(`${gw.baseUrl}/debug/events`)).json();
  assert((events.counts?.SessionOpened ?? 0) > 0, JSON.stringify(events.counts));
});

Deno.test("conformance through the gateway: unprefixed lists are the backend's, byte for byte", async () => {
  await using backend = await startConformance();
  await using gw = await gatewayFor(backend.url);
  await using direct = await connectClient(backend.url);
  await using viaGateway = await connectClient(gw.mcpUrl);
  await assertSameCatalog(direct.client, viaGateway.client);
  const tools = await viaGateway.client.request({ method: "tools/list", params: {} }, ANY_RESULT);
  const raw = JSON.stringify(tools);
  assert(
    raw.includes("json_schema_2020_12_tool") && raw.includes('"$defs"'),
    "the 2020-12 schema is untouched",
  );
});

Deno.test("conformance through the gateway: a foreign Host or Origin is refused by the broker", async () => {
  await using backend = await startConformance();
  await using gw = await gatewayFor(backend.url);
  const init = initializeBody();
  const post = async (headers: Record<string, string>) => (await rawPost(gw.mcpUrl, init, headers)).status;
  const evilOrigin = await post({ origin: "http://evil.example.com" });
  assert(evilOrigin >= 400 && evilOrigin < 500, `foreign Origin: ${evilOrigin}`);
  const evilHost = (await postWithHost(gw.mcpUrl, "evil.example.com", init)).status;
  assert(evilHost >= 400 && evilHost < 500, `foreign Host: ${evilHost}`);
  assertEquals(await post({ origin: `http://localhost:${new URL(gw.mcpUrl).port}` }), 200);
  assertEquals((await postWithHost(gw.mcpUrl, `localhost:${new URL(gw.mcpUrl).port}`, init)).status, 200);
});
