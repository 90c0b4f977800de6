/**
 * The conformance suite's client scenarios (0.2.0-alpha.12) with the gateway in the middle: the suite's
 * command is tests/servers/gateway_client_runner.ts, which starts a gateway in front of the scenario server
 * and drives the scenario's calls through it with the SDK v2 client — through the Envoy path and through
 * the broker alone. Directly, that client passes every one (conformance_client_v2.test.ts).
 *
 * One thing cannot pass through a gateway as it is, by design: the gateway's own discovery of a 2026
 * backend ends with one 2025 `initialize` (is it dual-era?), and two scenarios check that *every* POST
 * their server receives carries 2026 headers and `_meta`. With that probe answered in front of the scenario
 * server (`--answer-legacy-probe`) every scenario passes on both paths; without, exactly those checks fail.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./helpers/assert.ts";
import { CLIENT_SCENARIOS, runClientScenario } from "./servers/conformance_runner.ts";

const RUNNER = fileURLToPath(new URL("./servers/gateway_client_runner.ts", import.meta.url));
const command = (...flags: string[]) => [Deno.execPath(), "run", "-A", RUNNER, ...flags].join(" ");

/** The descriptions of the checks a scenario run reports as failed. */
function failedChecks(output: string): string[] {
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  return [...plain.matchAll(/^\S+ \[[^\]]+\] FAILURE (.+)$/gm)].map((m) => m[1].trim()).sort();
}

for (const path of ["envoy", "broker"] as const) {
  Deno.test(`client scenarios through the gateway (${path} path): every 2026-07-28 scenario passes, and tools_call at 2025-11-25`, async () => {
    for (const scenario of CLIENT_SCENARIOS) {
      const result = await runClientScenario(command(`--path=${path}`, "--answer-legacy-probe"), scenario, {
        specVersion: "2026-07-28",
      });
      assert(result.passed, `${scenario}: ${result.summary}\n${result.output}`);
    }
    // A 2025 scenario server: the gateway's discovery falls back to `initialize`, nothing to answer for it.
    const legacy = await runClientScenario(command(`--path=${path}`), "tools_call", {
      specVersion: "2025-11-25",
    });
    assert(legacy.passed, `${legacy.summary}\n${legacy.output}`);
  });
}

Deno.test("client scenarios through the gateway: without the dual-era probe answered, only the checks it trips fail", async () => {
  const expected: Record<string, string[]> = {
    "request-metadata": [
      "Client populates _meta on every request with the required fields (protocolVersion, clientCapabilities)",
      "Client sends MCP-Protocol-Version header on every POST",
    ],
    "http-standard-headers": ["Client sends correct Mcp-Method header on initialize request"],
  };
  for (const [scenario, checks] of Object.entries(expected)) {
    const result = await runClientScenario(command("--path=envoy"), scenario, { specVersion: "2026-07-28" });
    assertEquals(failedChecks(result.output), checks, `${scenario}:\n${result.output}`);
  }
});
