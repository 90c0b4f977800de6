/**
 * A client cancelling an in-flight call (`notifications/cancelled`) reaches the backend running it, with
 * the backend's own request id, in both data paths.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startEverything } from "./helpers/everything.ts";
import { startRecordingProxy } from "./helpers/e2e_recording_proxy.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { connectClient } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";

async function cancelALongCall(mcpUrl: string, proxy: ReturnType<typeof startRecordingProxy>) {
  await using client = await connectClient(mcpUrl);
  const abort = new AbortController();
  const progress: number[] = [];
  const call = client.client.callTool(
    { name: "a_trigger-long-running-operation", arguments: { duration: 2, steps: 4 } },
    undefined,
    { signal: abort.signal, onprogress: (p: { progress: number }) => progress.push(p.progress) },
  ).catch((e: Error) => e);
  const started = await waitFor(
    () => proxy.messages().find((m) => m.method === "tools/call"),
    "the call reached the backend",
  );
  // Cancel a call known to be running: its first progress notification came back through the gateway.
  await waitFor(() => progress.length > 0, "progress of the running call");
  abort.abort("changed my mind");
  // It ends with the client's own reason: neither a result nor an error from the gateway came first.
  const outcome = await call;
  assert(outcome instanceof Error, `the cancelled call got an answer: ${JSON.stringify(outcome)}`);
  assert(String(outcome).includes("changed my mind"), String(outcome));
  const cancelled = await waitFor(
    () => proxy.messages().find((m) => m.method === "notifications/cancelled"),
    "notifications/cancelled reached the backend",
  );
  assert(cancelled.params?.requestId === started.id, JSON.stringify({ started, cancelled }));
  // The session goes on: the next call on it is answered, by the backend.
  const next = await client.client.callTool({ name: "a_echo", arguments: { message: "after the cancel" } });
  assertEquals(next.content, [{ type: "text", text: "Echo: after the cancel" }]);
  assert(proxy.toolCalls().includes("echo"), proxy.toolCalls().join());
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
