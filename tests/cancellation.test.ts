/**
 * A client cancelling an in-flight call (`notifications/cancelled`) reaches the backend running it, with
 * the backend's own request id, in both data paths.
 */
import { assert } from "./helpers/assert.ts";
import { startEverything } from "./helpers/everything.ts";
import { startRecordingProxy } from "./helpers/e2e_recording_proxy.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { connectClient } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";

async function cancelALongCall(mcpUrl: string, proxy: ReturnType<typeof startRecordingProxy>) {
  await using client = await connectClient(mcpUrl);
  const abort = new AbortController();
  const call = client.client.callTool(
    { name: "a_trigger-long-running-operation", arguments: { duration: 1, steps: 2 } },
    undefined,
    { signal: abort.signal },
  ).catch((e: Error) => e);
  const started = await waitFor(
    () => proxy.messages().find((m) => m.method === "tools/call"),
    "the call reached the backend",
  );
  abort.abort("changed my mind");
  assert((await call) instanceof Error, "the client gave up on the call");
  const cancelled = await waitFor(
    () => proxy.messages().find((m) => m.method === "notifications/cancelled"),
    "notifications/cancelled reached the backend",
  );
  assert(cancelled.params?.requestId === started.id, JSON.stringify({ started, cancelled }));
}

Deno.test("cancellation reaches the backend through the broker", async () => {
  await using backend = await startEverything();
  await using proxy = startRecordingProxy(backend.url);
  await using gw = await startGatewayFor([{ name: "a", url: proxy.url, toolPrefix: "a_" }]);
  await cancelALongCall(gw.mcpUrl, proxy);
});

Deno.test("cancellation reaches the backend through the Envoy path", async () => {
  await using backend = await startEverything();
  await using proxy = startRecordingProxy(backend.url);
  await using stack = await startEnvoyStack([
    { name: "a", url: proxy.url, hostname: "a.mcp.local", toolPrefix: "a_" },
  ]);
  await cancelALongCall(stack.mcpUrl, proxy);
});
