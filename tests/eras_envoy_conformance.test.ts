/**
 * The official conformance suite 0.2.0-alpha.12 through the Envoy data path (harness → router → the
 * dual-era conformance backend, registered without a prefix; broker on the default route), both frozen
 * requirement sets on the one `/mcp`. Directly, that backend passes every scenario of both sets, scored and
 * unscored (conformance_direct_v2.test.ts); through Envoy every one must pass too, with the 2026 calls
 * routed to the backend by the router, not carried by the broker. One suite process per requirement set.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { asLocalhost } from "./helpers/mcp_client.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";
import { startConformanceV2 } from "./servers/conformance_v2.ts";
import {
  assertRequirementSetPasses,
  type Revision,
  runRequirementSet,
} from "./servers/conformance_runner.ts";

async function throughEnvoy(revision: Revision) {
  await using backend = await startConformanceV2();
  await using stack = await startEnvoyStack([
    { name: "conformance", url: backend.url, hostname: "conformance.mcp.local", toolPrefix: "" },
  ]);
  const result = await runRequirementSet(asLocalhost(stack.mcpUrl), revision);
  const origin = new URL(backend.url).origin;
  // Calls Envoy carried to the backend itself, by era (the router's `era` fact), hairpins aside.
  const routed = { "2025": 0, "2026": 0 } as Record<string, number>;
  for (const x of stack.envoy.exchanges) {
    const facts = x.dynamicMetadata["mcp-gateway"] as Record<string, string> | undefined;
    if (x.upstream === origin && facts?.era) routed[facts.era]++;
  }
  return { result, routed };
}

Deno.test("conformance 0.2.0-alpha.12 through the Envoy path: every 2026-07-28 scenario passes, scored and unscored", async () => {
  const { result, routed } = await throughEnvoy("2026-07-28");
  assertRequirementSetPasses(result, "2026-07-28");
  assertEquals(result.scored.passed.length, 37);
  assert(routed["2026"] > 10, `2026 calls routed to the backend through Envoy: ${JSON.stringify(routed)}`);
});

Deno.test("conformance 0.2.0-alpha.12 through the Envoy path: every 2025-11-25 scenario passes, scored and unscored", async () => {
  const { result, routed } = await throughEnvoy("2025-11-25");
  assertRequirementSetPasses(result, "2025-11-25");
  assertEquals(result.scored.passed.length, 30);
  assert(routed["2025"] > 10, `2025 calls routed to the backend through Envoy: ${JSON.stringify(routed)}`);
});
