/**
 * The official MCP conformance suite passes against our conformance backend directly. The gateway tests
 * run the same scenarios through the gateway, so this is the baseline they are compared with.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startConformance, WATCHED_RESOURCE } from "./servers/conformance.ts";
import {
  ACTIVE_SERVER_SCENARIOS,
  parseSummary,
  PENDING_SERVER_SCENARIOS,
  runConformance,
} from "./servers/conformance_runner.ts";
import { startFastEcho } from "./servers/fast_echo.ts";
import { connectClient } from "./helpers/mcp_client.ts";
// @ts-types="@modelcontextprotocol/sdk/types"
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

Deno.test("conformance: every active server scenario passes against the backend", async () => {
  await using backend = await startConformance();
  const result = await runConformance(backend.url);
  assertEquals(result.failed, [], result.output);
  assertEquals([...result.passed].sort(), [...ACTIVE_SERVER_SCENARIOS].sort());
  assert(/Total: \d+ passed, 0 failed/.test(result.output), result.output);
});

Deno.test("conformance: the pending scenarios (JSON Schema 2020-12, SSE polling) pass too", async () => {
  await using backend = await startConformance();
  const result = await runConformance(backend.url, { scenarios: PENDING_SERVER_SCENARIOS });
  assertEquals(result.failed, [], result.output);
  assertEquals(result.passed, [...PENDING_SERVER_SCENARIOS]);
});

Deno.test("conformance: the runner reports failures (a server without the test_* names fails them)", async () => {
  await using echo = await startFastEcho();
  const result = await runConformance(echo.url, {
    scenarios: ["ping", "tools-call-image", "prompts-get-simple"],
  });
  assertEquals(result.passed, ["ping"]);
  assertEquals(result.failed, ["tools-call-image", "prompts-get-simple"]);
});

Deno.test("conformance runner: parses the suite's summary lines", () => {
  const output = "=== Running scenario: ping ===\n✓ nonsense: 1 passed, 0 failed\n\n=== SUMMARY ===\n" +
    "✓ ping: 1 passed, 0 failed\n✗ tools-call-image: 0 passed, 1 failed\n\nTotal: 1 passed, 1 failed\n";
  assertEquals(parseSummary(output), { passed: ["ping"], failed: ["tools-call-image"] });
});

Deno.test("conformance backend: rejects a foreign Host or Origin with 403 (DNS rebinding)", async () => {
  await using backend = await startConformance();
  const init = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } },
  });
  const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  const evilOrigin = await fetch(backend.url, {
    method: "POST",
    headers: { ...headers, origin: "http://evil.example.com" },
    body: init,
  });
  await evilOrigin.body?.cancel();
  assertEquals(evilOrigin.status, 403);
  const localOrigin = await fetch(backend.url, {
    method: "POST",
    headers: { ...headers, origin: `http://localhost:${backend.port}` },
    body: init,
  });
  await localOrigin.body?.cancel();
  assertEquals(localOrigin.status, 200);
});

Deno.test("conformance backend: test_reconnection's result survives the closed stream (resumability)", async () => {
  await using backend = await startConformance();
  await using mcp = await connectClient(backend.url);
  const result = await mcp.client.callTool({ name: "test_reconnection", arguments: {} });
  assertEquals(result.content, [{ type: "text", text: "Reconnection test completed successfully" }]);
});

Deno.test("conformance backend: subscribers get resources/updated, unsubscribed sessions do not", async () => {
  await using backend = await startConformance();
  await using mcp = await connectClient(backend.url);
  const updated = Promise.withResolvers<string>();
  mcp.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updated.resolve(n.params.uri));

  const before = await mcp.client.callTool({ name: "test_trigger_resource_updated", arguments: {} });
  assertEquals(before.content, [{ type: "text", text: `Not subscribed to ${WATCHED_RESOURCE}` }]);
  await mcp.client.subscribeResource({ uri: WATCHED_RESOURCE });
  await mcp.client.callTool({ name: "test_trigger_resource_updated", arguments: {} });
  assertEquals(await updated.promise, WATCHED_RESOURCE);
});
