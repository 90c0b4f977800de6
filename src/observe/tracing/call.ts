/**
 * One MCP message the broker serves, as a trace: the gateway is the server of the client's request (a
 * SERVER span, `{mcp.method.name} {target}`) and the client of the backend's (a CLIENT span per request it
 * sends, whose context the backend receives), with INTERNAL spans between for the routing decision and each
 * `input_required` round of the era bridge. Backend sessions opened on the way are CLIENT `initialize` spans
 * of their own (`session/backend_binder.ts`). The conventions' operation histograms are recorded as the
 * SERVER and CLIENT spans end, sampled or not.
 *
 * Created only while tracing is on (`GatewayTracer.serve`); the data paths hold it as an optional value.
 */
import type { Attributes, Context } from "@opentelemetry/api";
import type { Admitted } from "../../admission/admit.ts";
import type { ServerConfig } from "../../config/schema.ts";
import type { Identity } from "../../identity/identity.ts";
import type { HeaderLookup } from "../../mcp/backend_headers.ts";
import { GatewayError } from "../../mcp/errors.ts";
import { metricMethod } from "../../mcp/methods.ts";
import type { Era } from "../../mcp/protocol.ts";
import { applyTraceHeaders, type TraceCarrier, withTraceMeta } from "../../mcp/trace_context.ts";
import { ATTR, requestIdAttribute, spanName } from "./attributes.ts";
import { nowMs, type OpenSpan, type SpanError, type SpanParent } from "./span.ts";
import type { GatewayTracer } from "./tracer.ts";

/** A message as it arrived, before anything was decided about it. */
export interface CallStart {
  method: string;
  params: Record<string, unknown> | undefined;
  /** The JSON-RPC id as JSON text; undefined for a notification. */
  rawId?: string;
  /** The client's era, when already known (the broker sets it once the request is classified). */
  era?: Era;
  /** The request's headers (trace context, `MCP-Protocol-Version`). */
  header: HeaderLookup;
  /** When the request arrived (`performance.now()`), so the span covers reading and parsing it. */
  startedAt: number;
}

/** How a call ended, as the broker's settle callbacks report it. */
export type CallOutcome = "ok" | "error" | "unavailable" | "denied" | "cut";

/** A request the gateway sends a backend, as the CLIENT span describes it. */
export interface BackendStart {
  method: string;
  /** The tool or prompt as the backend knows it (unprefixed). */
  name?: string;
  server: Pick<ServerConfig, "name" | "url">;
  /** The id the backend gets (JSON text). */
  rawId: string;
  /** The backend session, when the request goes on one. */
  sessionId?: string;
  protocolVersion: string;
  /** A retry carrying the answers of this `input_required` round. */
  round?: number;
}

const addresses = new WeakMap<object, { address: string; port: number }>();

/** `server.address` and `server.port` of a backend URL (parsed once per server entry). */
function addressOf(server: Pick<ServerConfig, "url">): { address: string; port: number } {
  let known = addresses.get(server);
  if (!known) {
    const url = new URL(server.url);
    known = {
      address: url.hostname.replace(/^\[|\]$/g, ""),
      port: Number(url.port) || (url.protocol === "https:" ? 443 : 80),
    };
    addresses.set(server, known);
  }
  return known;
}

/** The conventions' `error.type` of a JSON-RPC answer: its error code, or `tool_error` for `isError`. */
export function answerErrorType(text: string): SpanError | undefined {
  let message: Record<string, any>;
  try {
    message = JSON.parse(text);
  } catch {
    return { type: "_OTHER", message: "the answer is not JSON" };
  }
  if (!message || typeof message !== "object") return undefined;
  if (message.error && typeof message.error === "object") {
    return { type: String(message.error.code ?? "_OTHER"), message: String(message.error.message ?? "") };
  }
  if (message.result?.isError === true) return { type: "tool_error" };
  return undefined;
}

function gatewayError(error: GatewayError): SpanError {
  return { type: String(error.code), message: error.message };
}

/** A request to a backend in flight: its CLIENT span, the context it carries, its duration. */
export class BackendCall {
  readonly #open: OpenSpan;
  readonly #labels: Record<string, string | number>;
  readonly #started = performance.now();

  constructor(private readonly call: CallTrace, start: BackendStart) {
    const tracer = call.tracer;
    const { address, port } = addressOf(start.server);
    const attributes: Attributes = {
      [ATTR.MCP_METHOD_NAME]: start.method,
      [ATTR.MCP_PROTOCOL_VERSION]: start.protocolVersion,
      [ATTR.SERVER_ADDRESS]: address,
      [ATTR.SERVER_PORT]: port,
      [ATTR.NETWORK_TRANSPORT]: "tcp",
    };
    const id = requestIdAttribute(start.rawId);
    if (id !== undefined) attributes[ATTR.JSONRPC_REQUEST_ID] = id;
    if (start.sessionId) attributes[ATTR.MCP_SESSION_ID] = start.sessionId;
    if (start.round !== undefined) attributes[ATTR.INPUT_ROUND] = start.round;
    this.#labels = {
      mcp_method_name: metricMethod(start.method),
      mcp_protocol_version: start.protocolVersion,
      network_transport: "tcp",
      server_address: address,
      server_port: port,
    };
    const name = start.method === "tools/call" || start.method === "prompts/get" ? start.name : undefined;
    if (name !== undefined) {
      const tool = start.method === "tools/call";
      attributes[tool ? ATTR.GEN_AI_TOOL_NAME : ATTR.GEN_AI_PROMPT_NAME] = name;
      if (tool) attributes[ATTR.GEN_AI_OPERATION_NAME] = "execute_tool";
      // The backend's own names are bounded by its catalog: the label is safe.
      this.#labels[tool ? "gen_ai_tool_name" : "gen_ai_prompt_name"] = name;
    }
    this.#open = tracer.child(call, spanName(start.method, name), "client", attributes);
  }

  /** The context the backend receives: this CLIENT span's. */
  carrier(): TraceCarrier {
    return this.#open.carrier();
  }

  /**
   * A request with this span's context in place of the client's: headers always, `params._meta` for a 2026
   * backend (`always`) or when the body already carries a trace context there.
   */
  apply(request: { headers: Record<string, string>; body: string }, always: boolean) {
    const carrier = this.carrier();
    const headers = { ...request.headers };
    applyTraceHeaders(headers, carrier);
    return { headers, body: withTraceMeta(request.body, carrier, always) };
  }

  get ended(): boolean {
    return this.#open.ended;
  }

  /** The backend's answer is complete (or the request failed). */
  end(error?: SpanError): void {
    if (this.#open.ended) return;
    this.#open.end(error);
    const labels = error ? { ...this.#labels, error_type: error.type } : this.#labels;
    this.call.tracer.metrics.mcpClientOperation.observe(labels, (performance.now() - this.#started) / 1000);
  }
}

export class CallTrace implements SpanParent {
  readonly context: Context;
  readonly #server: OpenSpan;
  readonly #started: number;
  readonly #labels: Record<string, string>;
  readonly #method: string;
  #routeStart: number | undefined;
  #backend: BackendCall | undefined;
  /** The client's JSON answer, read for its error only if the call failed. */
  #answer: string | undefined;
  /**
   * Set by the forwarding path: the answer streams on after the handler returns, and the call ends when it
   * settles (the endpoint then leaves the end to it).
   */
  settlesLater = false;

  constructor(readonly tracer: GatewayTracer, start: CallStart) {
    const { method, era } = start;
    this.#method = method;
    this.#started = start.startedAt;
    const attributes: Attributes = { [ATTR.PATH]: "broker" };
    if (era) attributes[ATTR.ERA] = era;
    this.#server = tracer.serverSpan(
      { ...start, startTime: performance.timeOrigin + start.startedAt },
      attributes,
    );
    this.context = this.#server.context;
    this.#labels = { mcp_method_name: metricMethod(method), network_transport: "tcp" };
  }

  /** The trace this call belongs to (the audit line's `traceId`). */
  get traceId(): string | undefined {
    return this.tracer.traceIdOf(this.#server.span);
  }

  /** Admitted: the session, the negotiated version, and (when configured) who is calling. */
  admitted(admitted: Pick<Admitted, "envelope" | "identity" | "session">): void {
    const span = this.#server;
    span.set(ATTR.MCP_PROTOCOL_VERSION, admitted.envelope.protocolVersion);
    this.#labels.mcp_protocol_version = admitted.envelope.protocolVersion;
    // The gateway session's id, never its token.
    span.set(ATTR.MCP_SESSION_ID, admitted.session?.claims.id);
    this.identified(admitted.identity);
  }

  /** Who is calling, when `--trace-subject` asks for it. */
  identified(identity: Identity): void {
    if (!this.tracer.tracesSubject) return;
    const subject: Attributes = {};
    this.tracer.subjectAttributes(identity, subject);
    this.#server.span.setAttributes(subject);
  }

  /** The routing decision starts (its INTERNAL span covers {@link routing} to {@link routed}). */
  routing(): void {
    this.#routeStart = nowMs();
  }

  /** Where the call goes (or why it goes nowhere). */
  routed(
    decision: { server: string; target: { kind: string; served: string; upstream: string } } | undefined,
    error?: GatewayError,
    facts: { wire?: string; crossing?: string } = {},
  ): void {
    const attributes: Attributes = {};
    if (decision) {
      attributes[ATTR.SERVER] = decision.server;
      this.#server.set(ATTR.SERVER, decision.server);
      if (decision.target.kind === "tool") this.#labels.gen_ai_tool_name = decision.target.served;
      if (decision.target.kind === "prompt") this.#labels.gen_ai_prompt_name = decision.target.served;
      if (decision.target.kind === "resource") attributes[ATTR.MCP_RESOURCE_URI] = decision.target.upstream;
      else {
        attributes[decision.target.kind === "tool" ? ATTR.GEN_AI_TOOL_NAME : ATTR.GEN_AI_PROMPT_NAME] =
          decision.target.upstream;
      }
    }
    if (facts.wire) attributes[ATTR.WIRE] = facts.wire;
    if (facts.crossing) attributes[ATTR.CROSSING] = facts.crossing;
    const span = this.tracer.child(this, `route ${this.#method}`, "internal", attributes, this.#routeStart);
    span.end(error && gatewayError(error));
  }

  /** A request to the backend starts (the previous one, if any, is over). */
  backend(start: BackendStart): BackendCall {
    this.#backend?.end();
    this.#backend = new BackendCall(this, start);
    return this.#backend;
  }

  /** The current backend request's answer is complete (one round of an exchange); the call goes on. */
  backendDone(error?: SpanError): void {
    this.#backend?.end(error);
    this.#backend = undefined;
  }

  /**
   * The current backend request, handed to whoever reads the backend's answer past this call's end (a call
   * held for a 2026 client's input): this call will not end it.
   */
  detachBackend(): BackendCall | undefined {
    const backend = this.#backend;
    this.#backend = undefined;
    return backend;
  }

  /** An `input_required` round: the gateway asks the client, until its answers are in. */
  inputRound(round: number, methods: string[]): OpenSpan {
    return this.tracer.child(this, `input_required ${this.#method}`, "internal", {
      [ATTR.MCP_METHOD_NAME]: this.#method,
      [ATTR.INPUT_ROUND]: round,
      [ATTR.INPUT_REQUESTS]: methods,
    });
  }

  /** The JSON answer the client gets: a failed call's `error.type` is read from it (its code). */
  answered(text: string): void {
    this.#answer = text;
  }

  /** Sets an attribute on the SERVER span. */
  set(key: string, value: string | number | boolean | undefined): void {
    this.#server.set(key, value);
  }

  get ended(): boolean {
    return this.#server.ended;
  }

  /** The client has its whole answer: ends the backend request still open, then the SERVER span. */
  end(outcome: CallOutcome = "ok", error?: GatewayError | SpanError): void {
    if (this.#server.ended) return;
    let spanError: SpanError | undefined;
    if (error instanceof GatewayError) spanError = gatewayError(error);
    else if (error) spanError = error;
    else if (outcome === "error") {
      spanError = (this.#answer !== undefined ? answerErrorType(this.#answer) : undefined) ??
        { type: "_OTHER" };
    } else if (outcome !== "ok") spanError = { type: outcome };
    if (spanError && /^-?\d+$/.test(spanError.type)) {
      this.#server.set(ATTR.RPC_RESPONSE_STATUS_CODE, spanError.type);
    }
    this.#backend?.end(outcome === "ok" ? undefined : spanError);
    this.#server.end(spanError);
    const labels = spanError ? { ...this.#labels, error_type: spanError.type } : this.#labels;
    this.tracer.metrics.mcpServerOperation.observe(labels, (performance.now() - this.#started) / 1000);
  }
}
