/**
 * Tracing pieces on their own: the `OTEL_*` configuration (what turns tracing on, what is refused with a
 * clear message), the trace context spliced into `params._meta` (SEP-414) and headers, the span name and
 * attribute helpers, and the default OTLP encoding (protobuf) reaching a receiver.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startOtlpReceiver } from "./helpers/otlp_receiver.ts";
import { tracingConfigFromEnv } from "../src/observe/tracing/config.ts";
import { requestIdAttribute, spanName, targetOf } from "../src/observe/tracing/attributes.ts";
import { applyTraceHeaders, metaTraceContext, withTraceMeta } from "../src/mcp/trace_context.ts";
import { GatewayMetrics } from "../src/observe/metrics.ts";
import { InMemoryEventLog } from "../src/events/log.ts";
import { projectGateway } from "../src/projections.ts";
import { silentLogger } from "../src/observe/log.ts";
import { startTracing } from "../src/observe/tracing/mod.ts";
import { ANONYMOUS } from "../src/identity/identity.ts";
import { parseCli } from "../src/cli.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

/** A gateway tracer as `startGateway` builds it, from these variables. */
async function tracerFor(vars: Record<string, string>, subject?: "off" | "id" | "hash") {
  const read = tracingConfigFromEnv(envOf(vars), subject);
  assert(read.ok && read.config, JSON.stringify(read));
  const log = new InMemoryEventLog();
  return await startTracing(
    read.config,
    new GatewayMetrics(log, projectGateway(log).upstreams),
    silentLogger,
  );
}

Deno.test("tracing config: off without an endpoint, on with one, the standard variables read", () => {
  assertEquals(tracingConfigFromEnv(envOf({})), { ok: true, config: undefined });
  assertEquals(tracingConfigFromEnv(envOf({ OTEL_SERVICE_NAME: "x" })), { ok: true, config: undefined });
  const on = tracingConfigFromEnv(envOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }));
  assert(on.ok && on.config);
  assertEquals(on.config.exporter, {
    kind: "otlp",
    url: "http://collector:4318/v1/traces",
    protocol: "http/json",
    headers: {},
  });
  assertEquals(on.config.resource, { "service.name": "mcp-gateway" });
  assertEquals(on.config.sampler, { name: "parentbased_always_on", ratio: 1 });
  assertEquals(on.config.propagators, { traceContext: true, baggage: true });
  assertEquals(on.config.subject, "off");

  const full = tracingConfigFromEnv(
    envOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://ignored:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example/custom/path",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20a,x-tenant=t1",
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-tenant=t2",
      OTEL_SERVICE_NAME: "edge-gateway",
      OTEL_RESOURCE_ATTRIBUTES: "service.name=overridden,deployment.environment.name=prod",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.25",
      OTEL_PROPAGATORS: "tracecontext,b3",
      OTEL_BSP_SCHEDULE_DELAY: "200",
      OTEL_BSP_MAX_QUEUE_SIZE: "4096",
    }),
    "hash",
  );
  assert(full.ok && full.config);
  assertEquals(full.config.exporter, {
    kind: "otlp",
    url: "https://traces.example/custom/path",
    protocol: "http/protobuf",
    headers: { authorization: "Bearer a", "x-tenant": "t2" },
  });
  assertEquals(full.config.resource, {
    "service.name": "edge-gateway",
    "deployment.environment.name": "prod",
  });
  assertEquals(full.config.sampler, { name: "parentbased_traceidratio", ratio: 0.25 });
  assertEquals(full.config.propagators, { traceContext: true, baggage: false });
  assertEquals(full.config.ignoredPropagators, ["b3"]);
  assertEquals(full.config.batch, { scheduledDelayMillis: 200, maxQueueSize: 4096 });
  assertEquals(full.config.subject, "hash");

  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" };
  assertEquals(tracingConfigFromEnv(envOf({ ...endpoint, OTEL_SDK_DISABLED: "TRUE" })), {
    ok: true,
    config: undefined,
  });
  assertEquals(tracingConfigFromEnv(envOf({ ...endpoint, OTEL_TRACES_EXPORTER: "none" })), {
    ok: true,
    config: undefined,
  });
  const consoleOnly = tracingConfigFromEnv(envOf({ OTEL_TRACES_EXPORTER: "console" }));
  assertEquals(consoleOnly.ok && consoleOnly.config?.exporter, { kind: "console" });
});

Deno.test("tracing config: what cannot work is refused at start, naming the variable", () => {
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" };
  const cases: [Record<string, string>, RegExp][] = [
    [
      { ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" },
      /protocol "grpc" is not supported.*http\/protobuf/,
    ],
    [{ ...endpoint, OTEL_TRACES_EXPORTER: "zipkin" }, /OTEL_TRACES_EXPORTER=zipkin is not supported/],
    [{ ...endpoint, OTEL_TRACES_SAMPLER: "jaeger_remote" }, /OTEL_TRACES_SAMPLER=jaeger_remote/],
    [
      { ...endpoint, OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" },
      /between|from 0 to 1/,
    ],
    [{ ...endpoint, OTEL_BSP_SCHEDULE_DELAY: "soon" }, /OTEL_BSP_SCHEDULE_DELAY must be a number/],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "collector:4318" }, /must be an http\(s\) URL/],
  ];
  for (const [vars, message] of cases) {
    const read = tracingConfigFromEnv(envOf(vars));
    assert(!read.ok && message.test(read.error), `${JSON.stringify(vars)}: ${JSON.stringify(read)}`);
  }
});

Deno.test("trace context in `_meta`: spliced in, every other byte kept; headers replaced as a whole", () => {
  const carrier = {
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    tracestate: "g=1",
  };
  const body =
    '{"jsonrpc":"2.0","id":12345678901234567890,"method":"tools/call","params":{"name":"x","arguments":{"n":1.50}}}';
  const always = withTraceMeta(body, carrier, true);
  assertEquals(
    always,
    '{"jsonrpc":"2.0","id":12345678901234567890,"method":"tools/call","params":{"_meta":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"g=1"},"name":"x","arguments":{"n":1.50}}}',
  );
  assertEquals(withTraceMeta(body, carrier, false), body, "no trace context in the body: left alone");
  const client =
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":7,"traceparent":"00-11111111111111111111111111111111-2222222222222222-01","tracestate":"old=1","baggage":"k=v"}}}';
  assertEquals(
    JSON.parse(withTraceMeta(client, carrier, false)).params._meta,
    { progressToken: 7, traceparent: carrier.traceparent, tracestate: "g=1" },
    "the client's context replaced, its tracestate and baggage with it; the rest kept",
  );
  assertEquals(metaTraceContext({ traceparent: carrier.traceparent, baggage: "k=v" }), {
    traceparent: carrier.traceparent,
    tracestate: undefined,
    baggage: "k=v",
  });
  assertEquals(metaTraceContext({ traceparent: 1 }), undefined);

  const headers: Record<string, string> = { traceparent: "old", tracestate: "old=1", baggage: "k=v", a: "b" };
  applyTraceHeaders(headers, { traceparent: carrier.traceparent, baggage: "k=v" });
  assertEquals(headers, { traceparent: carrier.traceparent, baggage: "k=v", a: "b" });
});

Deno.test("span names and attributes: the conventions' forms", () => {
  assertEquals(spanName("tools/call", "get-weather"), "tools/call get-weather");
  assertEquals(spanName("tools/list"), "tools/list");
  assertEquals(targetOf("tools/call", { name: "t" }), { kind: "tool", name: "t" });
  assertEquals(targetOf("prompts/get", { name: "p" }), { kind: "prompt", name: "p" });
  assertEquals(targetOf("resources/read", { uri: "file:///a" }), { kind: "resource", name: "file:///a" });
  assertEquals(targetOf("tools/call", {}), undefined);
  assertEquals(requestIdAttribute('"req-7"'), "req-7");
  assertEquals(requestIdAttribute("10"), "10");
  assertEquals(requestIdAttribute("null"), undefined);
  assertEquals(requestIdAttribute(undefined), undefined);
});

Deno.test("OTLP encoded as protobuf when asked (JSON is the default), posted to /v1/traces", async () => {
  await using receiver = startOtlpReceiver();
  const tracer = await tracerFor({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
  });
  const call = tracer.serve({
    method: "tools/list",
    params: {},
    rawId: "1",
    header: () => undefined,
    startedAt: performance.now(),
  });
  call.end("ok");
  await tracer.shutdown();
  assertEquals(receiver.requests(), [{ contentType: "application/x-protobuf", path: "/v1/traces" }]);
});

Deno.test("trace context into `_meta` without reading it: every shape of params", () => {
  const carrier = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", baggage: "a=b" };
  const cases: [string, unknown][] = [
    ['{"jsonrpc":"2.0","id":1,"method":"m"}', { traceparent: carrier.traceparent, baggage: "a=b" }],
    ['{"jsonrpc":"2.0","id":1,"method":"m","params":{}}', {
      traceparent: carrier.traceparent,
      baggage: "a=b",
    }],
    [
      '{"jsonrpc":"2.0","id":1,"method":"m","params":{"_meta":{ }}}',
      { traceparent: carrier.traceparent, baggage: "a=b" },
    ],
    [
      '{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":"\\"_meta\\"","_meta":{"io.x/v":"1"}}}',
      { traceparent: carrier.traceparent, baggage: "a=b", "io.x/v": "1" },
    ],
  ];
  for (const [body, meta] of cases) {
    const out = withTraceMeta(body, carrier, true);
    assertEquals(JSON.parse(out).params._meta, meta, out);
    assertEquals({ ...JSON.parse(out), params: undefined }, { ...JSON.parse(body), params: undefined });
  }
});

Deno.test("--trace-subject: the caller's subject only when asked, as an id or a hash", async () => {
  const identity = { ...ANONYMOUS, source: "token" as const, subject: "alice", issuer: "https://idp" };
  const seen: Record<string, unknown>[] = [];
  for (const subject of ["off", "id", "hash"] as const) {
    const tracer = await tracerFor({ OTEL_TRACES_EXPORTER: "console" }, subject);
    const into: Record<string, unknown> = {};
    tracer.subjectAttributes(identity, into);
    tracer.subjectAttributes(ANONYMOUS, into);
    seen.push(into);
    await tracer.shutdown();
  }
  assertEquals(seen[0], {});
  assertEquals(seen[1], { "user.id": "alice" });
  assertEquals(Object.keys(seen[2]), ["user.hash"]);
  assert(
    /^[0-9a-f]{32}$/.test(String(seen[2]["user.hash"])) && !String(seen[2]["user.hash"]).includes("alice"),
  );
  assertEquals(parseCli(["--trace-subject", "name"], () => undefined), {
    ok: false,
    error: "--trace-subject must be off, id or hash",
  });
  const fromEnv = parseCli([], (name) => name === "MCP_TRACE_SUBJECT" ? "hash" : undefined);
  assertEquals(fromEnv.ok && fromEnv.options.traceSubject, "hash");
});
