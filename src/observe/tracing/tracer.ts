/**
 * The gateway's tracer: one OpenTelemetry tracer provider per gateway (never the global one, so two gateways
 * in one process — tests — never share spans), a batch span processor and an OTLP/HTTP exporter, built only
 * when tracing is on (`config.ts`). This module is imported dynamically by `gateway.ts` then, and by nothing
 * else at run time: with tracing off the SDK is not even loaded, and every hook in the data paths is an
 * optional call on an absent value.
 *
 * It knows how the gateway continues a trace (`_meta` first, as the MCP conventions and SEP-414 say, then the
 * W3C headers; the other linked when both carry one) and how it passes one on; the per-request objects
 * (`call.ts` for the broker, `decision.ts` for the router) hold the spans.
 */
import {
  type Attributes,
  type Context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import {
  CompositePropagator,
  setGlobalErrorHandler,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from "@opentelemetry/core";
import { OTLPTraceExporter as JsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  type IdGenerator,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { createHash } from "node:crypto";
import type { Identity } from "../../identity/identity.ts";
import type { HeaderLookup } from "../../mcp/backend_headers.ts";
import { GATEWAY_INFO } from "../../mcp/protocol.ts";
import { metaTraceContext, type TraceCarrier } from "../../mcp/trace_context.ts";
import type { Logger } from "../log.ts";
import type { GatewayMetrics } from "../metrics.ts";
import { ATTR, requestIdAttribute, spanName, targetOf } from "./attributes.ts";
import { type CallStart, CallTrace } from "./call.ts";
import type { TracingConfig } from "./config.ts";
import { OpenSpan } from "./span.ts";
import { DecisionTrace } from "./decision.ts";
import type { SpanError, SpanParent } from "./span.ts";

export type SpanRole = "server" | "client" | "internal";

const KIND: Record<SpanRole, SpanKind> = {
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  internal: SpanKind.INTERNAL,
};

export type { OpenSpan, SpanError, SpanParent };

const headerGetter: TextMapGetter<HeaderLookup> = {
  keys: () => [],
  get: (lookup, key) => lookup(key) ?? undefined,
};

const carrierGetter: TextMapGetter<TraceCarrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key as keyof TraceCarrier],
};

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** `bytes` random bytes as hex, never all zero (an invalid id). */
function randomHex(bytes: number): string {
  let hex = "";
  for (let i = 0; i < bytes; i++) hex += HEX[(Math.random() * 256) | 0];
  return /^0+$/.test(hex) ? randomHex(bytes) : hex;
}

/**
 * Random trace and span ids, as the SDK's own generator makes them (`Math.random`; ids need to be unique,
 * not secret), without its detour through a Node `Buffer`, which costs more under Deno.
 */
const idGenerator: IdGenerator = {
  generateTraceId: () => randomHex(16),
  generateSpanId: () => randomHex(8),
};

function sampler(config: TracingConfig["sampler"]): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.ratio);
  switch (config.name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratio;
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

function exporter(config: TracingConfig["exporter"]): SpanExporter {
  if (config.kind === "console") return new ConsoleSpanExporter();
  const options = { url: config.url, headers: config.headers };
  return config.protocol === "http/json" ? new JsonTraceExporter(options) : new ProtoTraceExporter(options);
}

export class GatewayTracer {
  readonly #provider: TracerProvider;
  readonly #tracer: Tracer;
  readonly #propagator: TextMapPropagator;

  private constructor(
    config: TracingConfig,
    /** The two operation histograms live with the other metrics, on `/metrics`. */
    readonly metrics: Pick<GatewayMetrics, "mcpServerOperation" | "mcpClientOperation">,
    private readonly subject: TracingConfig["subject"],
  ) {
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes({
        "service.version": GATEWAY_INFO.version,
        ...config.resource,
      }),
      sampler: sampler(config.sampler),
      idGenerator,
      spanProcessors: [new BatchSpanProcessor({ exporter: exporter(config.exporter), ...config.batch })],
    });
    this.#tracer = this.#provider.getTracer("mcp-gateway", GATEWAY_INFO.version);
    const propagators: TextMapPropagator[] = [];
    if (config.propagators.traceContext) propagators.push(new W3CTraceContextPropagator());
    if (config.propagators.baggage) propagators.push(new W3CBaggagePropagator());
    this.#propagator = new CompositePropagator({ propagators });
  }

  /** Builds the tracer for `config`; export failures are logged (at most one line a minute). */
  static create(config: TracingConfig, metrics: GatewayMetrics, logger: Logger): GatewayTracer {
    let lastWarning = -Infinity;
    // The SDK reports export failures (collector down, refused) to its one global handler.
    setGlobalErrorHandler((error) => {
      if (performance.now() - lastWarning < 60_000) return;
      lastWarning = performance.now();
      logger.warn("trace export failed (repeats are not logged for a minute)", { error: String(error) });
    });
    if (config.ignoredPropagators.length) {
      logger.warn("OTEL_PROPAGATORS names propagators the gateway does not implement; they are ignored", {
        ignored: config.ignoredPropagators.join(","),
      });
    }
    return new GatewayTracer(config, metrics, config.subject);
  }

  /**
   * The context a request the gateway serves continues: the trace context in its `params._meta` when it has
   * one (the MCP conventions: the MCP client span is the parent, whatever the transport), else its W3C
   * headers. When both carry a context and they differ, the headers' (the transport's, e.g. Envoy's) is
   * returned as a link.
   */
  remoteParent(header: HeaderLookup, meta: TraceCarrier | undefined): { context: Context; links?: Link[] } {
    const fromHeaders = this.#propagator.extract(ROOT_CONTEXT, header, headerGetter);
    if (!meta) return { context: fromHeaders };
    const fromMeta = this.#propagator.extract(ROOT_CONTEXT, meta, carrierGetter);
    const metaSpan = trace.getSpanContext(fromMeta);
    if (!metaSpan) return { context: fromHeaders };
    const headerSpan = trace.getSpanContext(fromHeaders);
    const links = headerSpan && headerSpan.spanId !== metaSpan.spanId ? [{ context: headerSpan }] : undefined;
    return { context: fromMeta, links };
  }

  startSpan(
    name: string,
    role: SpanRole,
    parent: Context,
    attributes: Attributes,
    startTime?: number,
    links?: Link[],
  ): Span {
    return this.#tracer.startSpan(name, { kind: KIND[role], attributes, startTime, links }, parent);
  }

  /** `parent` with `span` as its current span (its baggage kept). */
  contextWith(parent: Context, span: Span): Context {
    return trace.setSpan(parent, span);
  }

  /** The trace context to send on from `context`: `traceparent`, `tracestate`, `baggage`. */
  carrier(context: Context): TraceCarrier {
    const carrier: TraceCarrier = {};
    this.#propagator.inject(context, carrier, {
      set: (c, key, value) => (c as Record<string, string>)[key] = value,
    });
    return carrier;
  }

  /** Ends `span`; with `error`, its status is ERROR and `error.type` set (the conventions' rule). */
  endSpan(span: Span, error?: SpanError, endTime?: number): void {
    if (error) {
      span.setAttribute(ATTR.ERROR_TYPE, error.type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    }
    span.end(endTime);
  }

  /** The span's trace id, when it is a real (sampled or not) span. */
  traceIdOf(span: Span): string | undefined {
    const context: SpanContext = span.spanContext();
    return /^0+$/.test(context.traceId) ? undefined : context.traceId;
  }

  /** Whether spans name the caller (`--trace-subject`). */
  get tracesSubject(): boolean {
    return this.subject !== "off";
  }

  /** `user.id` or `user.hash` for the caller, only as `--trace-subject` says. */
  subjectAttributes(identity: Identity, into: Attributes): void {
    if (this.subject === "off" || !identity.subject) return;
    if (this.subject === "id") into[ATTR.USER_ID] = identity.subject;
    else {
      into[ATTR.USER_HASH] = createHash("sha256").update(
        `${identity.issuer ?? identity.source}|${identity.subject}`,
      )
        .digest("hex").slice(0, 32);
    }
  }

  /**
   * The SERVER span of an MCP message the gateway receives, as the conventions name and describe it, under
   * the client's context ({@link remoteParent}). `attributes` are the caller's own, completed here.
   */
  serverSpan(
    message: {
      /** The JSON-RPC method; absent for a request that has none (GET, DELETE: named `name` then). */
      method?: string;
      name?: string;
      params?: Record<string, unknown>;
      rawId?: string;
      header: HeaderLookup;
      startTime: number;
    },
    attributes: Attributes,
  ): OpenSpan {
    const { method, params } = message;
    const target = method === undefined ? undefined : targetOf(method, params);
    if (method !== undefined) attributes[ATTR.MCP_METHOD_NAME] = method;
    attributes[ATTR.NETWORK_TRANSPORT] = "tcp";
    const id = requestIdAttribute(message.rawId);
    if (id !== undefined) attributes[ATTR.JSONRPC_REQUEST_ID] = id;
    if (attributes[ATTR.MCP_PROTOCOL_VERSION] === undefined) {
      const version = message.header("mcp-protocol-version");
      if (version) attributes[ATTR.MCP_PROTOCOL_VERSION] = version;
    }
    if (target?.kind === "tool") {
      attributes[ATTR.GEN_AI_TOOL_NAME] = target.name;
      attributes[ATTR.GEN_AI_OPERATION_NAME] = "execute_tool";
    } else if (target?.kind === "prompt") attributes[ATTR.GEN_AI_PROMPT_NAME] = target.name;
    else if (target) attributes[ATTR.MCP_RESOURCE_URI] = target.name;
    const { context, links } = this.remoteParent(message.header, metaTraceContext(params?._meta));
    const name = method === undefined
      ? message.name ?? "request"
      : spanName(method, target?.kind === "resource" ? undefined : target?.name);
    return new OpenSpan(
      this,
      context,
      this.startSpan(name, "server", context, attributes, message.startTime, links),
    );
  }

  /** A child span of `parent`, started now. */
  child(
    parent: SpanParent,
    name: string,
    role: SpanRole,
    attributes: Attributes,
    startTime?: number,
  ): OpenSpan {
    return new OpenSpan(
      this,
      parent.context,
      this.startSpan(name, role, parent.context, attributes, startTime),
    );
  }

  /** The broker serving one MCP message (a SERVER span, children as the call goes on). */
  serve(start: CallStart): CallTrace {
    return new CallTrace(this, start);
  }

  /** The router deciding one request (one ext_proc stream). */
  decide(headers: Map<string, string>): DecisionTrace {
    return new DecisionTrace(this, headers);
  }

  /** Exports what is left (shutdown). */
  async shutdown(): Promise<void> {
    await this.#provider.shutdown().catch(() => {});
  }

  /** Exports the spans ended so far (tests, shutdown). */
  async flush(): Promise<void> {
    await this.#provider.forceFlush().catch(() => {});
  }
}
