/**
 * The official conformance suite 0.2.0-alpha.12 through the broker, both frozen requirement sets on the
 * one `/mcp`, against the dual-era conformance backend registered without a prefix. Directly, that backend
 * passes every scenario of both sets, scored and unscored (conformance_direct_v2.test.ts); through the
 * gateway every one must pass too. One suite process per requirement set. Across eras: the 2025-11-25 set
 * against a 2026-only backend passes whole, the sampling and elicitation scenarios through the era bridge.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { asLocalhost } from "./helpers/mcp_client.ts";
import { startConformanceV2 } from "./servers/conformance_v2.ts";
import {
  assertRequirementSetPasses,
  type Revision,
  runRequirementSet,
} from "./servers/conformance_runner.ts";

async function throughBroker(revision: Revision, mode?: "modern") {
  await using backend = await startConformanceV2({ mode });
  await using gw = await startGatewayFor([{ name: "conformance", url: backend.url, toolPrefix: "" }]);
  const result = await runRequirementSet(asLocalhost(gw.mcpUrl), revision);
  const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
  return { result, metrics };
}

Deno.test("conformance 0.2.0-alpha.12 through the broker: every 2026-07-28 scenario passes, scored and unscored", async () => {
  const { result, metrics } = await throughBroker("2026-07-28");
  assertRequirementSetPasses(result, "2026-07-28");
  assertEquals(result.scored.passed.length, 37);
  // The suite spoke 2026 to the gateway, not to the backend.
  assert(/mcp_gateway_era_requests_total\{era="2026"\} [1-9]/.test(metrics), metrics);
});

Deno.test("conformance 0.2.0-alpha.12 through the broker: every 2025-11-25 scenario passes, scored and unscored", async () => {
  const { result, metrics } = await throughBroker("2025-11-25");
  assertRequirementSetPasses(result, "2025-11-25");
  assertEquals(result.scored.passed.length, 30);
  assert(/mcp_gateway_events_total\{type="SessionOpened"\} [1-9]/.test(metrics), metrics);
});

Deno.test("conformance 0.2.0-alpha.12 through the broker: the 2025-11-25 set against a 2026-only backend passes whole", async () => {
  const { result } = await throughBroker("2025-11-25", "modern");
  assertRequirementSetPasses(result, "2025-11-25", { scoredOnly: true });
  assertEquals(result.scored.passed.length, 30);
});
