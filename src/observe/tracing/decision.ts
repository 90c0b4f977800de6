/**
 * One request the router decides (one ext_proc stream), as a span. In the Envoy path the router is the only
 * part of the gateway that sees a routed call, so its span stands for the gateway: kind SERVER (it serves
 * Envoy's ext_proc request for that MCP request), named `{mcp.method.name} {target}` like the broker's, with
 * the routing facts as attributes. It starts when the request headers arrive and is created once the router
 * knows where the request goes (the body phase for most, so its parent can be the `_meta` trace context the
 * MCP conventions prefer); it ends with the stream: at the response headers when the router asked for them
 * (2025 calls, audited 2026 calls: `http.response.status_code`), otherwise at its last decision. The router
 * then puts this span's context on the request Envoy sends on (`traceparent`, and `params._meta` for 2026
 * backends), so the backend (or the broker) continues the trace as its child.
 *
 * Created only while tracing is on (`GatewayTracer.decide`).
 */
import type { Attributes, Context } from "@opentelemetry/api";
import type { Identity } from "../../identity/identity.ts";
import type { Era } from "../../mcp/protocol.ts";
import type { TraceCarrier } from "../../mcp/trace_context.ts";
import { ATTR } from "./attributes.ts";
import type { OpenSpan, SpanParent } from "./span.ts";
import type { GatewayTracer } from "./tracer.ts";

/** Where the router sends a request. */
export type RouteKind = "backend" | "broker" | "hairpin" | "follow-up" | "refused";

/** What the router knows of a request when it decides it. */
export interface DecisionFacts {
  /** The JSON-RPC method (or, for a request without one, its HTTP method). */
  method?: string;
  params?: Record<string, unknown>;
  rawId?: string;
  era?: Era;
  route: RouteKind;
  server?: string;
  target?: { kind: string; served: string; upstream: string };
  /** The gateway session's id (never its token). */
  sessionId?: string;
  protocolVersion?: string;
  identity?: Identity;
}

export class DecisionTrace implements SpanParent {
  readonly #startedAt = performance.now();
  #open: OpenSpan | undefined;
  #status: number | undefined;

  constructor(readonly tracer: GatewayTracer, private readonly headers: Map<string, string>) {}

  /** The decision's span context (started by {@link decided}). */
  get context(): Context {
    return this.#span().context;
  }

  get started(): boolean {
    return this.#open !== undefined;
  }

  /** Records the decision, starting the span the first time. Later calls add to it (a route changed). */
  decided(facts: DecisionFacts): void {
    const attributes: Attributes = { [ATTR.ROUTE]: facts.route };
    if (facts.server) attributes[ATTR.SERVER] = facts.server;
    if (facts.era) attributes[ATTR.ERA] = facts.era;
    if (facts.sessionId) attributes[ATTR.MCP_SESSION_ID] = facts.sessionId;
    if (facts.protocolVersion) attributes[ATTR.MCP_PROTOCOL_VERSION] = facts.protocolVersion;
    if (facts.target) attributes[ATTR.SERVED_NAME] = facts.target.served;
    if (facts.identity) this.tracer.subjectAttributes(facts.identity, attributes);
    if (this.#open) {
      this.#open.span.setAttributes(attributes);
      return;
    }
    attributes[ATTR.PATH] = "envoy";
    this.#open = this.tracer.serverSpan({
      method: facts.method,
      // A request without a JSON-RPC method (GET, DELETE) is named by its HTTP method.
      name: this.headers.get(":method"),
      params: facts.params,
      rawId: facts.rawId,
      header: (name) => this.headers.get(name),
      startTime: performance.timeOrigin + this.#startedAt,
    }, attributes);
  }

  /** What the request carries on: this span's context. */
  carrier(): TraceCarrier {
    return this.#span().carrier();
  }

  /** The trace id, for the audit line. */
  get traceId(): string | undefined {
    return this.#open && this.tracer.traceIdOf(this.#open.span);
  }

  /** The HTTP status of the answer (response headers), when the router sees it. */
  status(status: number): void {
    this.#status = status;
    this.#span().set(ATTR.HTTP_RESPONSE_STATUS_CODE, status);
  }

  /**
   * The router answered itself (an immediate response): the request went nowhere. `code` is the JSON-RPC
   * error code of the answer when it carries one (an unknown tool is refused on HTTP 200).
   */
  refused(status: number, details?: string, code?: string): void {
    const span = this.#span();
    span.set(ATTR.ROUTE, "refused");
    this.status(status);
    if (code === undefined) return this.end(details);
    span.set(ATTR.RPC_RESPONSE_STATUS_CODE, code);
    span.end({ type: code, message: details });
  }

  /** Ends the span (once): an error when the answer's status says so. */
  end(details?: string): void {
    if (!this.#open || this.#open.ended) return;
    const status = this.#status;
    this.#open.end(
      status !== undefined && status >= 400 ? { type: String(status), message: details } : undefined,
    );
  }

  #span(): OpenSpan {
    if (!this.#open) this.decided({ route: "broker" });
    return this.#open!;
  }
}
