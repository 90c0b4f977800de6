/**
 * The official MCP conformance suite 0.2.0-alpha.12 passes against our SDK v2 backend directly, with both
 * frozen requirement sets on one dual-era endpoint: 2026-07-28 (37 scored) and 2025-11-25 (30 scored). The
 * gateway tests run the same sets through the gateway, so these are the baselines they compare with.
 * One suite process per requirement set (each takes about two seconds here).
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { startConformanceV2, WATCHED_RESOURCE } from "./servers/conformance_v2.ts";
import {
  assertRequirementSetPasses,
  REQUIRED_SERVER_SCENARIOS,
  runRequirementSet,
} from "./servers/conformance_runner.ts";
import { rawPost } from "./helpers/mcp_client.ts";
import { connectClientV2, MODERN_VERSION } from "./helpers/mcp_client_v2.ts";

Deno.test("conformance 0.2.0-alpha.12: every 2026-07-28 scenario, scored and unscored, passes against the dual-era backend", async () => {
  await using backend = await startConformanceV2();
  const result = await runRequirementSet(backend.url, "2026-07-28");
  // Unscored ones too, which the gateway must carry as well: SEP-2243 header validation, SEP-2106 schemas
  // and the tasks extension (SEP-2663).
  assertRequirementSetPasses(result, "2026-07-28");
  assertEquals(REQUIRED_SERVER_SCENARIOS["2026-07-28"].length, 37);
});

Deno.test("conformance 0.2.0-alpha.12: every 2025-11-25 scenario, scored and unscored, passes on the same endpoint", async () => {
  await using backend = await startConformanceV2();
  const result = await runRequirementSet(backend.url, "2025-11-25");
  assertRequirementSetPasses(result, "2025-11-25");
  assertEquals(REQUIRED_SERVER_SCENARIOS["2025-11-25"].length, 30);
});

Deno.test("conformance 0.2.0-alpha.12: a modern-only backend passes 2026-07-28 and refuses a 2025 initialize", async () => {
  await using backend = await startConformanceV2({ mode: "modern" });
  const result = await runRequirementSet(backend.url, "2026-07-28");
  assertRequirementSetPasses(result, "2026-07-28", { scoredOnly: true });

  const init = await rawPost(
    backend.url,
    JSON.stringify({
      jsonrpc: "2.0",
      id: 7,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "old", version: "1" } },
    }),
  );
  assertEquals(init.status, 400);
  assertEquals(init.json.id, 7);
  assertEquals(init.json.error.code, -32022);
  assertEquals(init.json.error.data, { supported: ["2026-07-28"], requested: "2025-11-25" });
});

Deno.test("conformance backend v2: resources/updated reaches subscribed 2025 sessions and 2026 listen streams", async () => {
  await using backend = await startConformanceV2();
  await using legacy = await connectClientV2(backend.url, { mode: "legacy" });
  await using modern = await connectClientV2(backend.url, { mode: { pin: MODERN_VERSION } });
  const text = (r: { content?: unknown }) => (r.content as { text: string }[])[0].text;
  const trigger = { name: "test_trigger_resource_updated", arguments: {} };

  assertEquals(text(await legacy.client.callTool(trigger)), `Not subscribed to ${WATCHED_RESOURCE}`);
  await legacy.client.subscribeResource({ uri: WATCHED_RESOURCE });
  const listen = await modern.client.listen({ resourceSubscriptions: [WATCHED_RESOURCE] });
  assertEquals(text(await legacy.client.callTool(trigger)), `Sent resources/updated for ${WATCHED_RESOURCE}`);
  assertEquals(
    (await legacy.nextNotification("notifications/resources/updated")).params?.uri,
    WATCHED_RESOURCE,
  );
  assertEquals(
    (await modern.nextNotification("notifications/resources/updated")).params?.uri,
    WATCHED_RESOURCE,
  );
  await listen.close();
});
