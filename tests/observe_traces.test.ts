/**
 * Traces, end to end: a real OTLP/HTTP receiver in the test (JSON encoding), the gateway exporting to it,
 * and backends that report the trace context they received (tests/servers/modern.ts). Each step follows
 * one call from the client's span to the backend and checks the span tree the OpenTelemetry MCP
 * conventions describe: the gateway's SERVER span under the client's context (`params._meta` first, the
 * headers linked), its routing decision, backend sessions it opens (`initialize` CLIENT spans), the CLIENT
 * span of each request to the backend — whose context the backend receives in its headers and, for 2026,
 * in `_meta` — and the `input_required` rounds of the era bridge. Through the Envoy harness the router's
 * decision span stands for the gateway. With tracing off, nothing is exported and trace context passes
 * through untouched.
 */
// @ts-types="@modelcontextprotocol/sdk/types"
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { connectClient, initializeBody, rawPost, sessionIdOf } from "./helpers/mcp_client.ts";
import { envelope, MODERN_VERSION } from "./helpers/mcp_client_v2.ts";
import {
  KIND,
  newTraceparent,
  parentIdOf,
  type ReceivedSpan,
  startOtlpReceiver,
  tracingEnv,
} from "./helpers/otlp_receiver.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";
import { startModern } from "./servers/modern.ts";

const LEGACY_VERSION = "2025-11-25";

/** The span named `name` in `trace` (exactly one). */
function only(spans: ReceivedSpan[], traceId: string, name: string, kind?: number): ReceivedSpan {
  const found = spans.filter((s) =>
    s.traceId === traceId && s.name === name && (kind === undefined || s.kind === kind)
  );
  assertEquals(found.length, 1, `one span "${name}" in trace ${traceId}: ${describe(spans, traceId)}`);
  return found[0];
}

/** The trace as an indented tree, for failure messages. */
function describe(spans: ReceivedSpan[], traceId: string): string {
  const mine = spans.filter((s) => s.traceId === traceId);
  const lines: string[] = [];
  const walk = (parent: string, depth: number) => {
    for (const s of mine.filter((x) => x.parentSpanId === parent)) {
      lines.push(`${"  ".repeat(depth)}${s.name} [${s.kind}] ${s.spanId}`);
      walk(s.spanId, depth + 1);
    }
  };
  const ids = new Set(mine.map((s) => s.spanId));
  for (const root of new Set(mine.filter((s) => !ids.has(s.parentSpanId)).map((s) => s.parentSpanId))) {
    lines.push(`(parent ${root || "none"})`);
    walk(root, 1);
  }
  return `\n${lines.join("\n")}`;
}

function has(spans: ReceivedSpan[], traceId: string, ...names: string[]): boolean {
  return names.every((n) => spans.some((s) => s.traceId === traceId && s.name === n));
}

/** A 2025 session opened with raw requests, each carrying `headers`. */
async function rawSession(url: string, headers: Record<string, string> = {}) {
  const init = await rawPost(url, initializeBody(LEGACY_VERSION), headers);
  const token = init.headers.get("mcp-session-id");
  assert(token, `initialize: ${init.status} ${init.text}`);
  const session = { "mcp-session-id": token, "mcp-protocol-version": LEGACY_VERSION };
  await rawPost(url, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, { ...headers, ...session });
  return {
    token,
    call: (id: number, name: string, extra: Record<string, string> = {}) =>
      rawPost(
        url,
        JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: {} } }),
        { ...session, ...extra },
      ),
  };
}

/** A raw 2026 `tools/call` with a trace context in its `_meta` (and maybe another in its headers). */
function call2026(url: string, id: number, name: string, meta: Record<string, unknown>, headers = {}) {
  return rawPost(
    url,
    JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name, arguments: {}, _meta: { ...envelope(), ...meta } },
    }),
    { "mcp-protocol-version": MODERN_VERSION, "mcp-method": "tools/call", "mcp-name": name, ...headers },
  );
}

/** The sum of a histogram's `_count` over the series with `labels` (and any others). */
function count(metrics: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of metrics.split("\n")) {
    const match = new RegExp(`^${name}_count\\{(.*)\\} (\\d+)$`).exec(line);
    if (!match) continue;
    const has = Object.entries(labels).every(([k, v]) => match[1].includes(`${k}="${v}"`));
    if (has) total += Number(match[2]);
  }
  return total;
}

/** What `inspect` reported: the headers and `_meta` the backend received. */
function inspected(
  res: { json: any },
): { headers: Record<string, string>; meta: Record<string, any>; envelope: Record<string, any> } {
  const report = res.json?.result?.structuredContent;
  assert(report, `inspect answered ${JSON.stringify(res.json)}`);
  return report;
}

Deno.test("traces through the broker: both eras, backend sessions, the era bridge, context into the backend", async (t) => {
  await using receiver = startOtlpReceiver();
  await using legacy = await startModern({ mode: "legacy" });
  await using modern = await startModern({ mode: "modern" });
  await using gw = await startGatewayFor([
    { name: "legacy", url: legacy.url, toolPrefix: "l_" },
    { name: "modern", url: modern.url, toolPrefix: "m_" },
  ], { env: tracingEnv(receiver) });

  await t.step(
    "2025 client → 2025 backend: SERVER, route, initialize, CLIENT; the backend is its child",
    async () => {
      const client = newTraceparent();
      const session = await rawSession(gw.mcpUrl);
      const res = await session.call(7, "l_inspect", { traceparent: client.traceparent, tracestate: "t=1" });
      const backend = inspected(res);
      const spans = await receiver.waitFor(
        (s) =>
          has(
            s,
            client.traceId,
            "tools/call l_inspect",
            "route tools/call",
            "initialize",
            "tools/call inspect",
          ),
        "the call's spans",
      );
      const server = only(spans, client.traceId, "tools/call l_inspect");
      assertEquals(server.kind, KIND.SERVER);
      assertEquals(server.parentSpanId, client.spanId, "the client's span is the parent");
      assertEquals(server.attributes, {
        ...server.attributes,
        "mcp.method.name": "tools/call",
        "gen_ai.tool.name": "l_inspect",
        "gen_ai.operation.name": "execute_tool",
        "jsonrpc.request.id": "7",
        "mcp.session.id": sessionIdOf(session.token),
        "mcp.protocol.version": LEGACY_VERSION,
        "network.transport": "tcp",
        "mcp_gateway.path": "broker",
        "mcp_gateway.era": "2025",
        "mcp_gateway.server": "legacy",
      });
      assert(!("mcp_gateway.crossing" in server.attributes), "same era: no bridge");
      assertEquals(server.status, 0);
      assertEquals(server.resource["service.name"], "mcp-gateway-test");

      const route = only(spans, client.traceId, "route tools/call");
      assertEquals([route.kind, route.parentSpanId], [KIND.INTERNAL, server.spanId]);
      assertEquals(route.attributes, {
        ...route.attributes,
        "mcp_gateway.server": "legacy",
        "gen_ai.tool.name": "inspect",
        "mcp_gateway.wire": "session",
      });

      const init = only(spans, client.traceId, "initialize", KIND.CLIENT);
      assertEquals(init.parentSpanId, server.spanId);
      const call = only(spans, client.traceId, "tools/call inspect");
      assertEquals([call.kind, call.parentSpanId], [KIND.CLIENT, server.spanId]);
      const port = Number(new URL(legacy.url).port);
      assertEquals(init.attributes, {
        ...init.attributes,
        "mcp.method.name": "initialize",
        "mcp_gateway.backend_session": "session",
        "server.address": "127.0.0.1",
        "server.port": port,
        "mcp.protocol.version": LEGACY_VERSION,
      });
      assert(init.attributes["mcp.session.id"], "the backend's session id");
      assertEquals(call.attributes, {
        ...call.attributes,
        "gen_ai.tool.name": "inspect",
        "server.address": "127.0.0.1",
        "server.port": port,
        "mcp.session.id": init.attributes["mcp.session.id"],
        "jsonrpc.request.id": "7",
      });
      assert(
        call.startMs >= server.startMs && call.endMs <= server.endMs + 1,
        "the CLIENT span is inside the SERVER's",
      );

      // The backend continues the trace under the gateway's CLIENT span, in the headers it received.
      assertEquals(backend.headers.traceparent.split("-")[1], client.traceId);
      assertEquals(parentIdOf(backend.headers.traceparent), call.spanId);
      assertEquals(backend.headers.tracestate, "t=1", "the client's tracestate goes on with its trace");
      const opened = legacy.state.observed.findLast((r) => r.method === "initialize");
      assertEquals(
        parentIdOf(opened?.headers.traceparent),
        init.spanId,
        "the backend's initialize is the span's",
      );

      // The conventions' histograms, on /metrics.
      const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
      assert(
        count(metrics, "mcp_server_operation_duration_seconds", {
          mcp_method_name: "tools/call",
          gen_ai_tool_name: "l_inspect",
          mcp_protocol_version: LEGACY_VERSION,
        }) >= 1,
        metrics.split("\n").filter((l) => l.startsWith("mcp_server")).join("\n"),
      );
      assert(
        count(metrics, "mcp_client_operation_duration_seconds", {
          mcp_method_name: "tools/call",
          gen_ai_tool_name: "inspect",
          server_port: String(port),
        }) >= 1,
        metrics.split("\n").filter((l) => l.startsWith("mcp_client")).join("\n"),
      );
    },
  );

  await t.step(
    "2026 client → 2026 backend: `_meta` is the parent, the headers' context a link, `_meta` carried on",
    async () => {
      const meta = newTraceparent();
      const header = newTraceparent();
      const res = await call2026(
        gw.mcpUrl,
        3,
        "m_inspect",
        { traceparent: meta.traceparent, baggage: "k=v" },
        {
          traceparent: header.traceparent,
        },
      );
      const backend = inspected(res);
      const spans = await receiver.waitFor(
        (s) => has(s, meta.traceId, "tools/call m_inspect", "tools/call inspect"),
        "spans",
      );
      const server = only(spans, meta.traceId, "tools/call m_inspect");
      assertEquals(server.parentSpanId, meta.spanId);
      assertEquals(server.links, [{ traceId: header.traceId, spanId: header.spanId }]);
      assertEquals(server.attributes["mcp.protocol.version"], MODERN_VERSION);
      assertEquals(server.attributes["mcp_gateway.era"], "2026");
      assertEquals(server.attributes["mcp.session.id"], undefined, "2026 has no session");
      const call = only(spans, meta.traceId, "tools/call inspect");
      assertEquals(call.parentSpanId, server.spanId);
      assertEquals(only(spans, meta.traceId, "route tools/call").attributes["mcp_gateway.wire"], "stateless");
      assertEquals(parentIdOf(backend.meta.traceparent), call.spanId, "the CLIENT span's context in `_meta`");
      assertEquals(parentIdOf(backend.headers.traceparent), call.spanId, "and in the headers");
      assertEquals([backend.meta.baggage, backend.headers.baggage], ["k=v", "k=v"], "baggage goes on");
    },
  );

  await t.step(
    "2025 client → 2026 backend: an `input_required` round, then the retry's own CLIENT span",
    async () => {
      const client = newTraceparent();
      await using v1 = await connectClient(gw.mcpUrl, {
        capabilities: { elicitation: {} },
        headers: { traceparent: client.traceparent },
      });
      v1.client.setRequestHandler(
        ElicitRequestSchema,
        () => ({ action: "accept" as const, content: { confirmed: true } }),
      );
      const mark = modern.state.observed.length;
      await v1.client.callTool({ name: "m_confirm", arguments: { question: "Ship it?" } });
      const spans = await receiver.waitFor(
        (s) =>
          has(s, client.traceId, "tools/call m_confirm", "input_required tools/call") &&
          s.filter((x) => x.traceId === client.traceId && x.name === "tools/call confirm").length === 2,
        "the bridged call's spans",
      );
      const server = only(spans, client.traceId, "tools/call m_confirm");
      assertEquals(server.attributes["mcp_gateway.crossing"], "ask-client");
      const round = only(spans, client.traceId, "input_required tools/call");
      assertEquals([round.kind, round.parentSpanId], [KIND.INTERNAL, server.spanId]);
      assertEquals(round.attributes["mcp_gateway.input.round"], 1);
      assertEquals(round.attributes["mcp_gateway.input.requests"], ["elicitation/create"]);
      const calls = spans.filter((s) => s.traceId === client.traceId && s.name === "tools/call confirm")
        .sort((a, b) => a.startMs - b.startMs);
      assertEquals(calls.map((c) => [c.parentSpanId, c.attributes["mcp_gateway.input.round"]]), [
        [server.spanId, undefined],
        [server.spanId, 1],
      ]);
      assert(
        calls[0].endMs <= round.startMs + 1 && round.endMs <= calls[1].startMs + 1,
        "call, round, retry in turn",
      );
      const sent = modern.state.observed.slice(mark).filter((r) => r.method === "tools/call");
      assertEquals(sent.map((r) => parentIdOf(r.meta?.traceparent)), calls.map((c) => c.spanId));
      assertEquals(sent.map((r) => parentIdOf(r.headers.traceparent)), calls.map((c) => c.spanId));
    },
  );

  await t.step("2026 client → 2025 backend: a held session, the round, the retry", async () => {
    const first = newTraceparent();
    const mark = legacy.state.observed.length;
    const asked = await call2026(gw.mcpUrl, 11, "l_confirm", {
      traceparent: first.traceparent,
      "io.modelcontextprotocol/clientCapabilities": { elicitation: {} },
    });
    const result = asked.json?.result;
    assertEquals(result?.resultType, "input_required", JSON.stringify(asked.json));
    const [key] = Object.keys(result.inputRequests);
    const retry = newTraceparent();
    const answered = await rawPost(
      gw.mcpUrl,
      JSON.stringify({
        jsonrpc: "2.0",
        id: 13,
        method: "tools/call",
        params: {
          name: "l_confirm",
          arguments: {},
          inputResponses: { [key]: { action: "accept", content: { confirmed: true } } },
          requestState: result.requestState,
          _meta: {
            ...envelope({ "io.modelcontextprotocol/clientCapabilities": { elicitation: {} } }),
            traceparent: retry.traceparent,
          },
        },
      }),
      { "mcp-protocol-version": MODERN_VERSION, "mcp-method": "tools/call", "mcp-name": "l_confirm" },
    );
    assert(answered.text.includes("confirmed: action=accept"), answered.text);
    const spans = await receiver.waitFor(
      (s) => has(s, first.traceId, "tools/call l_confirm", "input_required tools/call", "tools/call confirm"),
      "the held call's spans",
    );
    const server = only(spans, first.traceId, "tools/call l_confirm");
    assertEquals(server.parentSpanId, first.spanId);
    assertEquals(server.attributes["mcp_gateway.crossing"], "hold-call");
    const init = only(spans, first.traceId, "initialize", KIND.CLIENT);
    assertEquals([init.parentSpanId, init.attributes["mcp_gateway.backend_session"]], [
      server.spanId,
      "held",
    ]);
    const round = only(spans, first.traceId, "input_required tools/call");
    assertEquals(round.parentSpanId, server.spanId);
    assertEquals(round.status, 0, "answered by the retry");
    const call = only(spans, first.traceId, "tools/call confirm");
    assertEquals(call.parentSpanId, server.spanId);
    assert(
      call.endMs >= round.endMs,
      "the backend call outlives the first request, until the retry's answer",
    );
    const sent = legacy.state.observed.slice(mark).filter((r) => r.method === "tools/call");
    assertEquals(sent.length, 1);
    assertEquals(parentIdOf(sent[0].headers.traceparent), call.spanId);
    assertEquals(parentIdOf(sent[0].meta?.traceparent), call.spanId, "the client's `_meta` context replaced");
    const resumed = only(spans, retry.traceId, "tools/call l_confirm");
    assertEquals(resumed.parentSpanId, retry.spanId);
    assertEquals(resumed.status, 0);
  });
});

Deno.test("traces through Envoy: the router's decision span, the hairpin initialize, context set on the routed request", async (t) => {
  await using receiver = startOtlpReceiver();
  await using legacy = await startModern({ mode: "legacy" });
  await using modern = await startModern({ mode: "modern" });
  await using stack = await startEnvoyStack([
    { name: "legacy", url: legacy.url, hostname: "legacy.mcp.local", toolPrefix: "l_" },
    { name: "modern", url: modern.url, hostname: "modern.mcp.local", toolPrefix: "m_" },
  ], { env: tracingEnv(receiver), expectTools: 10 });

  await t.step(
    "2025 client: router span → initialize (hairpin) → the hairpin's decision; the backend its child",
    async () => {
      const client = newTraceparent();
      const session = await rawSession(stack.mcpUrl, { traceparent: client.traceparent });
      const mark = legacy.state.observed.length;
      const backend = inspected(await session.call(5, "l_inspect", { traceparent: client.traceparent }));
      const spans = await receiver.waitFor(
        (s) => has(s, client.traceId, "tools/call l_inspect", "initialize", "notifications/initialized"),
        "the routed call's spans",
      );
      // The client's own initialize went to the broker: the router's span, then the broker's under it.
      const initSpans = spans.filter((s) => s.traceId === client.traceId && s.name === "initialize");
      const routerInit = initSpans.find((s) =>
        s.attributes["mcp_gateway.path"] === "envoy" && s.parentSpanId === client.spanId
      );
      const brokerInit = initSpans.find((s) => s.attributes["mcp_gateway.path"] === "broker");
      assert(routerInit && brokerInit, describe(spans, client.traceId));
      assertEquals(routerInit.attributes["mcp_gateway.route"], "broker");
      assertEquals(
        brokerInit.parentSpanId,
        routerInit.spanId,
        "the broker continues under the router's decision",
      );

      const routed = spans.find((s) => s.traceId === client.traceId && s.name === "tools/call l_inspect");
      assert(routed, describe(spans, client.traceId));
      assertEquals([routed.kind, routed.parentSpanId], [KIND.SERVER, client.spanId]);
      assertEquals(routed.attributes, {
        ...routed.attributes,
        "mcp.method.name": "tools/call",
        "gen_ai.tool.name": "l_inspect",
        "jsonrpc.request.id": "5",
        "mcp.session.id": sessionIdOf(session.token),
        "mcp.protocol.version": LEGACY_VERSION,
        "mcp_gateway.path": "envoy",
        "mcp_gateway.route": "backend",
        "mcp_gateway.server": "legacy",
        "mcp_gateway.served_name": "l_inspect",
        "http.response.status_code": 200,
      });
      // The backend session the router opened through Envoy, and what the router decided for it.
      const hairpin = initSpans.find((s) => s.kind === KIND.CLIENT);
      assert(hairpin, describe(spans, client.traceId));
      assertEquals(hairpin.parentSpanId, routed.spanId);
      assertEquals(hairpin.attributes["mcp_gateway.backend_session"], "hairpin");
      const accepted = initSpans.find((s) => s.parentSpanId === hairpin.spanId);
      assert(accepted, describe(spans, client.traceId));
      assertEquals([accepted.kind, accepted.attributes["mcp_gateway.route"]], [KIND.SERVER, "hairpin"]);
      const ack = spans.find((s) =>
        s.name === "notifications/initialized" && s.parentSpanId === hairpin.spanId
      );
      assert(ack, describe(spans, client.traceId));
      assertEquals([ack.kind, ack.attributes["mcp_gateway.route"]], [KIND.SERVER, "hairpin"]);

      // What the backend received: each request under the router's span that sent it.
      assertEquals(parentIdOf(backend.headers.traceparent), routed.spanId);
      const seen = legacy.state.observed.slice(mark);
      assertEquals(
        parentIdOf(seen.find((r) => r.method === "initialize")?.headers.traceparent),
        accepted.spanId,
      );
      assertEquals(
        parentIdOf(seen.find((r) => r.method === "notifications/initialized")?.headers.traceparent),
        ack.spanId,
      );
    },
  );

  await t.step(
    "2026 client: `_meta` is the parent; the router's context goes into `_meta` and the headers",
    async () => {
      const meta = newTraceparent();
      const header = newTraceparent();
      const res = await call2026(stack.mcpUrl, 9, "m_inspect", { traceparent: meta.traceparent }, {
        traceparent: header.traceparent,
      });
      const backend = inspected(res);
      const spans = await receiver.waitFor(
        (s) => has(s, meta.traceId, "tools/call m_inspect"),
        "the router's span",
      );
      const routed = only(spans, meta.traceId, "tools/call m_inspect");
      assertEquals([routed.kind, routed.parentSpanId], [KIND.SERVER, meta.spanId]);
      assertEquals(routed.links, [{ traceId: header.traceId, spanId: header.spanId }]);
      assertEquals(routed.attributes, {
        ...routed.attributes,
        "mcp_gateway.route": "backend",
        "mcp_gateway.server": "modern",
        "mcp_gateway.era": "2026",
        "mcp.protocol.version": MODERN_VERSION,
      });
      assertEquals(parentIdOf(backend.meta.traceparent), routed.spanId, "spliced into `_meta`");
      assertEquals(parentIdOf(backend.headers.traceparent), routed.spanId, "and set on the headers");
      assertEquals(
        backend.envelope["io.modelcontextprotocol/protocolVersion"],
        MODERN_VERSION,
        "the envelope intact",
      );
    },
  );

  await t.step("a request the router refuses: its span says so", async () => {
    const client = newTraceparent();
    const res = await rawPost(
      stack.mcpUrl,
      JSON.stringify({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "l_inspect" } }),
      { traceparent: client.traceparent },
    );
    assertEquals(res.status, 400, res.text);
    const spans = await receiver.waitFor(
      (s) => has(s, client.traceId, "tools/call l_inspect"),
      "the refusal",
    );
    const refused = only(spans, client.traceId, "tools/call l_inspect");
    assertEquals(refused.attributes["mcp_gateway.route"], "refused");
    assertEquals([refused.status, refused.attributes["error.type"]], [2, "-32600"], "the JSON-RPC code");
    assertEquals(refused.attributes["http.response.status_code"], 400);

    // An unknown tool is refused on HTTP 200: the JSON-RPC code still marks the span as failed.
    const unknown = newTraceparent();
    const session = await rawSession(stack.mcpUrl);
    const answer = await session.call(6, "l_nothing", { traceparent: unknown.traceparent });
    assertEquals([answer.status, answer.json?.error?.code], [200, -32602]);
    const after = await receiver.waitFor(
      (s) => has(s, unknown.traceId, "tools/call l_nothing"),
      "the refusal",
    );
    const span = only(after, unknown.traceId, "tools/call l_nothing");
    assertEquals([span.status, span.attributes["error.type"], span.attributes["rpc.response.status_code"]], [
      2,
      "-32602",
      "-32602",
    ]);
  });
});

Deno.test("tracing off: nothing exported, no histogram samples, the client's trace context passes through", async () => {
  await using receiver = startOtlpReceiver();
  await using legacy = await startModern({ mode: "legacy" });
  for (
    const env of [
      {}, // no endpoint: off
      { ...tracingEnv(receiver), OTEL_TRACES_EXPORTER: "none" },
      { ...tracingEnv(receiver), OTEL_SDK_DISABLED: "true" },
    ]
  ) {
    await using gw = await startGatewayFor([{ name: "legacy", url: legacy.url, toolPrefix: "l_" }], { env });
    const client = newTraceparent();
    const session = await rawSession(gw.mcpUrl);
    const backend = inspected(await session.call(2, "l_inspect", { traceparent: client.traceparent }));
    assertEquals(backend.headers.traceparent, client.traceparent, "carried on unchanged");
    const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
    assert(!/mcp_server_operation_duration_seconds_count\{/.test(metrics), "no samples");
    assert(!gw.logs().includes("tracing on"), gw.logs());
    await gw.stop();
  }
  assertEquals(receiver.requests(), [], "no export request reached the receiver");
});
