/**
 * The conformance suite's client scenarios (0.2.0-alpha.12) pass with our SDK v2 conformance client
 * (tests/servers/conformance_client_v2.ts) talking to the scenario servers directly. Gateway tests put the
 * gateway in the middle and must get the same results.
 */
import { ok as assert } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CLIENT_SCENARIOS, runClientScenario } from "./servers/conformance_runner.ts";

const CLIENT = `${Deno.execPath()} run -A ${
  fileURLToPath(new URL("./servers/conformance_client_v2.ts", import.meta.url))
}`;

for (const scenario of CLIENT_SCENARIOS) {
  Deno.test(`conformance client scenario ${scenario} (2026-07-28) passes with the SDK v2 client`, async () => {
    const result = await runClientScenario(CLIENT, scenario, { specVersion: "2026-07-28" });
    assert(result.passed, `${result.summary}\n${result.output}`);
  });
}

Deno.test("conformance client scenario tools_call (2025-11-25) passes with the SDK v2 client in the legacy era", async () => {
  const result = await runClientScenario(CLIENT, "tools_call", { specVersion: "2025-11-25" });
  assert(result.passed, `${result.summary}\n${result.output}`);
});
