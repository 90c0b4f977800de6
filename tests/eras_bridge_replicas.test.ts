/**
 * The era bridge across two gateway replicas sharing a real `redis-server`, behind a round-robin front with
 * no stickiness: a 2025 client's answer to a 2026 backend's question reaches the call through the other
 * replica; a 2026 client's retry reaches the 2025 backend call held by the other replica and gets the rest
 * of its answer from there. When the replica holding a call dies, the retry fails with a retryable error
 * and the backend call is cancelled.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { connectClientV2, envelope, MODERN_VERSION } from "./helpers/mcp_client_v2.ts";
import { waitFor } from "./helpers/ports.ts";
import { startRedis } from "./helpers/redis.ts";
import { startRoundRobin } from "./helpers/round_robin.ts";
import { startModern } from "./servers/modern.ts";

const textOf = (result: { content?: unknown }) => (result.content as { text: string }[])[0].text;
const CONFIRMED = 'confirmed: action=accept, content={"confirmed":true,"name":"tester"}';

/** A raw 2026 `tools/call` of `l_confirm` (declaring elicitation) to one replica, as its response message. */
async function confirm2026(url: string, id: number, extra: Record<string, unknown> = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN_VERSION,
      "mcp-method": "tools/call",
      "mcp-name": "l_confirm",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: {
        name: "l_confirm",
        arguments: {},
        ...extra,
        _meta: envelope({ "io.modelcontextprotocol/clientCapabilities": { elicitation: {} } }),
      },
    }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  const messages = text.split("\n").filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5)));
  const response = [...messages, ...(text.startsWith("{") ? [JSON.parse(text)] : [])].find((m) =>
    m.id === id
  );
  assert(response, `no response to ${id}: ${text}`);
  return response;
}

Deno.test("era bridge across replicas: answers and retries reach the call wherever it is held", async (t) => {
  await using redis = await startRedis();
  await using modern = await startModern({ mode: "modern" });
  await using legacy = await startModern({ mode: "legacy" });
  const servers = [
    { name: "modern", url: modern.url, toolPrefix: "m_" },
    { name: "legacy", url: legacy.url, toolPrefix: "l_" },
  ];
  const started = await Promise.allSettled(
    [0, 1].map(() => startGatewayFor(servers, { args: ["--session-store", redis.url] })),
  );
  const replicas = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
  try {
    assertEquals(replicas.length, 2, "two replicas started");
    await using front = startRoundRobin(replicas.map((gw) => gw.baseUrl));

    await t.step(
      "a 2025 client's answer reaches a 2026 backend's call held by the other replica",
      async () => {
        await using old = await connectClientV2(front.mcpUrl, { mode: "legacy" });
        const mark = front.routed.length;
        assertEquals(textOf(await old.client.callTool({ name: "m_confirm", arguments: {} })), CONFIRMED);
        const routed = front.routed.slice(mark);
        const asked = routed.find((r) => r.tool === "m_confirm");
        const answered = routed.find((r) => r.rpc === "(response)");
        assert(asked && answered, JSON.stringify(routed));
        assert(asked.replica !== answered.replica, `call on ${asked.replica}, answer on ${answered.replica}`);
      },
    );

    await t.step(
      "a 2026 client's retry reaches the 2025 backend call held by the other replica",
      async () => {
        await using neu = await connectClientV2(front.mcpUrl, { mode: { pin: MODERN_VERSION } });
        const mark = front.routed.length;
        assertEquals(textOf(await neu.client.callTool({ name: "l_confirm", arguments: {} })), CONFIRMED);
        const calls = front.routed.slice(mark).filter((r) => r.tool === "l_confirm");
        assertEquals(calls.length, 2, "the call and its retry");
        assert(calls[0].replica !== calls[1].replica, `both on replica ${calls[0].replica}`);
      },
    );

    await t.step(
      "the replica holding a call dies: its retry fails, retryably, and the backend stops waiting",
      async () => {
        const first = await confirm2026(replicas[0].mcpUrl, 1);
        assertEquals(first.result?.resultType, "input_required", JSON.stringify(first));
        const [key] = Object.keys(first.result.inputRequests);
        const mark = legacy.state.observed.length;
        await replicas[0].kill();
        const retry = await confirm2026(replicas[1].mcpUrl, 2, {
          inputResponses: { [key]: { action: "accept", content: { confirmed: true } } },
          requestState: first.result.requestState,
        });
        assertEquals(retry.error?.code, -32603, JSON.stringify(retry));
        assertEquals([retry.error.data?.retryable, retry.error.data?.reason], [true, "call_lost"]);
        await waitFor(
          () => legacy.state.observed.slice(mark).some((r) => r.method === "notifications/cancelled"),
          "the backend call cancelled by the surviving replica",
        );
      },
    );
  } finally {
    await Promise.all(replicas.map((gw) => gw.stop()));
  }
});
