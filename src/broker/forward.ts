/**
 * Forwards one JSON-RPC request to the backend that owns it (the broker's own data path), on the wire
 * `mcp/backend_wire.ts` picks for this client and backend: a 2025 backend session (the gateway session's
 * own, or one held for a 2026 caller), or a stateless 2026 request. Bodies go out as given — callers have
 * already changed exactly what routing requires — but for the envelope the wire adds or removes. Answers
 * stream back as they arrive (see {@link Relay}), framed for the client's era (`era_answers.ts`); when the
 * client and the backend are of different eras, the bridge (`bridge/`) answers, carrying the backend's
 * requests for input to the client the way its era asks them.
 */
import type { ServerConfig } from "../config/schema.ts";
import { GatewayError } from "../mcp/errors.ts";
import { replaceId } from "../mcp/jsonrpc.ts";
import { BackendInitError } from "../mcp/backend_session.ts";
import { type Admitted, sessionEnvelope } from "../admission/admit.ts";
import { subjectKey } from "../identity/resolve.ts";
import { MCP_PARAM_HEADER_PREFIX } from "../era/headers.ts";
import {
  type BackendEras,
  type BackendWire,
  backendWire,
  type Outbound,
  type OutboundClient,
  sessionBody,
  statelessRequest,
} from "../mcp/backend_wire.ts";
import { MODERN_PROTOCOL_VERSION } from "../mcp/protocol.ts";
import { type BackendBinder, heldSessionKey, type HeldSessionOwner } from "../session/backend_binder.ts";
import type { BackendBinding } from "../session/session_map.ts";
import type { SessionStore } from "../session/store.ts";
import { backendSessionHeaders } from "../mcp/backend_headers.ts";
import type { BackendStreams } from "./backend_streams.ts";
import type { BrokerContext } from "./context.ts";
import { answerOptions, answerStatus } from "./era_answers.ts";
import type { StatelessCalls } from "./stateless_calls.ts";
import type { Subscriptions } from "./subscriptions.ts";
import { type Answer, answerOfText, Relay, type RelayOptions } from "./relay.ts";
import { type Bridge, crossingOf } from "./bridge/mod.ts";
import type { CallTrace } from "../observe/tracing/call.ts";
import { ATTR } from "../observe/tracing/attributes.ts";

export interface ForwardDeps {
  binder: BackendBinder;
  /** Backend GET streams: where a backend sends requests and notifications not tied to one call. */
  streams: BackendStreams;
  store: SessionStore;
  /** Listen streams, and 2025 sessions' watches of 2026 backends' resources. */
  subscriptions: Subscriptions;
  /** 2025 sessions' calls on 2026 backends, so a cancellation can close them. */
  statelessCalls: StatelessCalls;
  /** Interactive requests (elicitation, sampling, roots) between a client and a backend of different eras. */
  bridge: Bridge;
}

export interface ForwardOptions {
  /** Rewrites the result before it is framed for the client's era (e.g. resource URIs back to served ones). */
  rewriteResult?: RelayOptions["rewriteResult"];
  /** A 2026 answer that depends on who asked: its `cacheScope` becomes `private`. */
  privateToCaller?: boolean;
  /** Called with the HTTP status and elapsed seconds once the backend answered (metrics). */
  onAnswer?: (status: number | "unavailable", seconds: number) => void;
  /** Called once with the call's outcome, when the client has its whole answer (audit). */
  onSettled?: (outcome: "ok" | "error" | "unavailable", error?: GatewayError) => void;
  /** The call's trace, while tracing is on: a CLIENT span per request to the backend, context passed on. */
  trace?: CallTrace;
}

/**
 * The outcome a JSON answer reports, read from its shape ({@link answerOfText}): a JSON-RPC error, or a
 * result marked `isError`, is an error; a body that is no JSON-RPC answer at all is one too.
 */
function jsonAnswer(text: string): "ok" | "error" {
  return answerOfText(text) || "error";
}

/**
 * Did the backend forget our session? The spec's answer is 404; some servers (server-everything among
 * them) say 400 "No valid session ID". Either way the request was not processed, so it may be re-sent.
 * Consumes the body only when it answers yes.
 */
async function lostSession(res: Response): Promise<boolean> {
  if (res.status === 404) {
    await res.body?.cancel();
    return true;
  }
  if (res.status !== 400) return false;
  const text = await res.clone().text().catch(() => "");
  if (!/session/i.test(text)) return false;
  await res.body?.cancel();
  return true;
}

function unavailable(server: ServerConfig, reason: string, rawId: string): GatewayError {
  return new GatewayError("upstream-unavailable", `Server ${server.name} is unavailable: ${reason}`, rawId, {
    data: { server: server.name, retryable: true },
    retryAfterMs: 1_000,
  });
}

/** Where a request goes: the server, what the gateway knows of its eras, and the request itself. */
export interface ForwardTarget {
  server: ServerConfig;
  backend: BackendEras;
  out: Outbound;
}

/** A 2026 request's `Mcp-Param-*` headers, passed through to a 2026 backend as sent. */
function paramHeadersOf(req: Request): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of req.headers) {
    if (name.startsWith(MCP_PARAM_HEADER_PREFIX)) headers[name] = value;
  }
  return headers;
}

/** The 2026 caller a held backend session is for: who is calling and what it declared. */
function heldOwner(admitted: Admitted): HeldSessionOwner {
  const capabilities = admitted.envelope.capabilities;
  return { key: heldSessionKey(subjectKey(admitted.identity) ?? "", capabilities), capabilities };
}

/** What one request to a backend brought back, and how it was sent. */
interface Sent {
  res: Response;
  binding?: BackendBinding;
  /** Headers and body as sent (a bridged call's retries send them again). */
  request: { headers: Record<string, string>; body: string };
  /** Aborts when a 2025 client cancels a call on a 2026 backend, or the bridge closes the call. */
  signal?: AbortSignal;
  /** The call is over: forgets it in the store (a 2025 client's calls are recorded). */
  endCall: () => void;
}

/** `params` of a request body (the body is valid JSON: it was parsed on arrival). */
function paramsOf(body: string): Record<string, unknown> | undefined {
  const params = JSON.parse(body)?.params;
  return params && typeof params === "object" && !Array.isArray(params) ? params : undefined;
}

export async function forward(
  ctx: BrokerContext,
  deps: ForwardDeps,
  req: Request,
  admitted: Admitted,
  target: ForwardTarget,
  rawId: string,
  options: ForwardOptions = {},
): Promise<Response> {
  const { server, out } = target;
  const wire = backendWire(target.backend, admitted.era);
  const session = admitted.session;
  const crossing = crossingOf(admitted.era, wire);
  const params = crossing === "hold-call" ? paramsOf(out.body) : undefined;
  const subject = subjectKey(admitted.identity) ?? "";
  if (crossing) options.trace?.set(ATTR.CROSSING, crossing);
  if (typeof params?.requestState === "string") {
    // A retry of a call the gateway holds for this 2026 client: it goes to that call, never to the backend.
    try {
      return await deps.bridge.resume({
        subject,
        method: out.method,
        server,
        name: out.name ?? "",
        rawId,
        params,
        settle: (answer) => options.onSettled?.(answer === "cut" ? "error" : answer),
      });
    } catch (e) {
      if (e instanceof GatewayError) options.onSettled?.("error", e);
      throw e;
    }
  }
  // A call held for a 2026 client gets an id of the gateway's own: callers sharing a held backend session
  // may use the same ids, and the call may outlive the client's request.
  const backendId = crossing === "hold-call" ? JSON.stringify(`mcpgw-${crypto.randomUUID()}`) : undefined;
  const bridgeAbort = crossing ? new AbortController() : undefined;
  const sent = await send(deps, req, admitted, target, rawId, options, {
    wire,
    backendId,
    abort: bridgeAbort,
  });
  const { res, binding, endCall } = sent;
  const type = res.headers.get("content-type") ?? "";
  const status = answerStatus(admitted, wire, res.status);
  const headers = new Headers(session ? { "mcp-session-id": session.token } : {});
  if (type) headers.set("content-type", type);
  const relayOptions = answerOptions({
    admitted,
    wire,
    server,
    binding,
    method: out.method,
    rawId,
    store: deps.store,
    privateToCaller: options.privateToCaller,
  }, options.rewriteResult);
  const relay = new Relay(
    deps.store,
    ctx.logger,
    session?.claims.id ?? "",
    server,
    binding ?? { id: "", protocolVersion: MODERN_PROTOCOL_VERSION },
    relayOptions,
  );
  /** A JSON answer, as it always was. */
  const plain = async (text: string) => {
    endCall();
    options.trace?.answered(text);
    options.onSettled?.(res.ok ? jsonAnswer(text) : "error");
    if (!relayOptions.rewriteResult || !res.ok) return new Response(text, { status, headers });
    return new Response(await relay.rewrite(text), { status, headers });
  };
  const settle = (answer: Answer | "cut") => {
    endCall();
    options.onSettled?.(answer === "cut" ? "error" : answer);
  };
  const finish = async (result: Record<string, unknown>) =>
    relayOptions.rewriteResult ? await relayOptions.rewriteResult(result) : result;
  if (crossing === "ask-client" && session) {
    return await deps.bridge.ask(
      {
        session: session.claims,
        sessionToken: session.token,
        server,
        rawId,
        request: sent.request,
        // Crossing calls always carry the bridge's signal (and a 2025 client's cancellation).
        signal: sent.signal!,
        abort: () => bridgeAbort?.abort(),
        relay,
        finish,
        settle,
        trace: options.trace,
      },
      res,
      plain,
    );
  }
  if (crossing === "hold-call" && binding) {
    const token = (params?._meta as Record<string, unknown> | undefined)?.progressToken;
    return await deps.bridge.hold(
      {
        subject,
        capabilities: admitted.envelope.capabilities,
        server,
        binding,
        method: out.method,
        name: out.name ?? "",
        rawId,
        backendId: backendId!,
        progressToken: token === undefined ? undefined : JSON.stringify(token),
        relay,
        abort: () => bridgeAbort?.abort(),
        finish,
        settle,
        trace: options.trace,
        // The backend call may outlive this request (held for the client's retry): the held call ends it.
        backendSpan: options.trace?.detachBackend(),
      },
      res,
      plain,
    );
  }
  if (type.includes("text/event-stream") && res.body) {
    headers.set("x-accel-buffering", "no");
    const stream = relay.stream(res.body, rawId, (answer) => {
      endCall();
      options.onSettled?.(answer === "cut" ? "error" : answer);
    });
    return new Response(stream, { status, headers });
  }
  if (relayOptions.rewriteResult && res.ok) return await plain(await res.text());
  // Passed on as the bytes that came; read only as far as the outcome needs, and only when someone asks.
  const bytes = await res.bytes();
  endCall();
  if (options.trace || options.onSettled) {
    const text = decoder.decode(bytes);
    options.trace?.answered(text);
    options.onSettled?.(res.ok ? jsonAnswer(text) : "error");
  }
  return new Response(bytes, { status, headers });
}

const decoder = new TextDecoder();

/**
 * Sends the request on the wire `wire` calls for: a backend session (bound, or held for a 2026 caller; a
 * session the backend forgot is replaced once) or a stateless 2026 request. Resolves with a backend's answer
 * that carries JSON-RPC (any status with a JSON body, or a stream); throws the error for anything else.
 */
async function send(
  deps: ForwardDeps,
  req: Request,
  admitted: Admitted,
  target: ForwardTarget,
  rawId: string,
  options: ForwardOptions,
  how: { wire: BackendWire; backendId?: string; abort?: AbortController },
): Promise<Sent> {
  const { server, out } = target;
  const { wire } = how;
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const header = (name: string) => req.headers.get(name);
  const session = admitted.session;
  // Only a held backend session (a 2026 caller on a 2025-only backend) has an owner to work out.
  const owner = session || wire !== "session" ? undefined : heldOwner(admitted);
  for (let attempt = 0; attempt < 2; attempt++) {
    let binding: BackendBinding | undefined;
    let request: { headers: Record<string, string>; body: string };
    if (wire === "session") {
      try {
        binding = session
          ? await deps.binder.acquire(session.claims, server, rawId, header, options.trace)
          : await deps.binder.acquireHeld(owner!, server, rawId, header, options.trace);
      } catch (e) {
        const error = e instanceof GatewayError
          ? e
          : unavailable(server, e instanceof BackendInitError ? e.message : String(e), rawId);
        if (!(e instanceof GatewayError)) options.onAnswer?.("unavailable", elapsed());
        options.onSettled?.(error.kind === "upstream-unavailable" ? "unavailable" : "error", error);
        throw error;
      }
      const body = sessionBody(out.body, admitted.era);
      request = {
        headers: backendSessionHeaders(server, binding, header),
        body: how.backendId ? replaceId(body, how.backendId) : body,
      };
    } else {
      const client: OutboundClient = {
        era: admitted.era,
        envelope: session ? sessionEnvelope(session.claims) : admitted.envelope,
        header,
        paramHeaders: admitted.era === "2026" ? paramHeadersOf(req) : undefined,
        logLevel: session ? await deps.store.logLevel(session.claims.id) : undefined,
      };
      request = statelessRequest(server, out, client);
    }
    // The backend continues the trace under the gateway's CLIENT span (a 2026 backend reads it from `_meta`).
    const backendCall = options.trace?.backend({
      method: out.method,
      name: out.name,
      server,
      rawId: how.backendId ?? rawId,
      sessionId: binding?.id || undefined,
      protocolVersion: binding?.protocolVersion ?? MODERN_PROTOCOL_VERSION,
    });
    if (backendCall) request = backendCall.apply(request, wire === "stateless");
    // A 2025 client's calls are recorded so its cancellation and answers find them; a 2026 client cancels
    // by closing its stream.
    const route = {
      server: server.name,
      backendSession: binding?.id ?? "",
      protocolVersion: binding?.protocolVersion ?? MODERN_PROTOCOL_VERSION,
    };
    if (session) await deps.store.beginCall(session.claims.id, rawId, route);
    const cancelled = session && wire === "stateless"
      ? deps.statelessCalls.begin(session.claims.id, rawId)
      : undefined;
    const signals = [cancelled, how.abort?.signal].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    const endCall = () => {
      if (!session) return;
      void deps.store.endCall(session.claims.id, rawId);
      if (cancelled) deps.statelessCalls.end(session.claims.id, rawId);
    };
    let res: Response;
    try {
      res = await fetch(server.url, { method: "POST", headers: request.headers, body: request.body, signal });
    } catch (e) {
      endCall();
      options.onAnswer?.("unavailable", elapsed());
      const error = unavailable(server, (e as Error).message, rawId);
      options.onSettled?.("unavailable", error);
      throw error;
    }
    if (binding?.id && attempt === 0 && await lostSession(res)) {
      endCall();
      backendCall?.end({ type: String(res.status), message: "the backend no longer knows the session" });
      if (session) {
        deps.binder.invalidate(session.claims.id, server.name, binding, `backend answered ${res.status}`);
      } else await deps.binder.releaseHeld(owner!, server.name, binding);
      continue;
    }
    options.onAnswer?.(res.status, elapsed());
    const type = res.headers.get("content-type") ?? "";
    // A JSON error body is the backend's JSON-RPC answer: the client gets it as it was sent.
    if (!res.ok && !type.includes("application/json")) {
      endCall();
      const detail = await res.text().catch(() => "");
      const error = new GatewayError(
        "upstream-error",
        `Server ${server.name} answered HTTP ${res.status}${detail ? `: ${detail.slice(0, 200)}` : ""}`,
        rawId,
        { data: { server: server.name, status: res.status } },
      );
      options.onSettled?.("error", error);
      throw error;
    }
    return { res, binding, request, signal, endCall };
  }
  const error = unavailable(server, "it keeps rejecting new sessions", rawId);
  options.onSettled?.("unavailable", error);
  throw error;
}
