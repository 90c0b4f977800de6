/**
 * Forwards one JSON-RPC request to the backend that owns it (the broker's own data path), on the wire
 * `mcp/backend_wire.ts` picks for this client and backend: a 2025 backend session (the gateway session's
 * own, or one held for a 2026 caller), or a stateless 2026 request. Bodies go out as given — callers have
 * already changed exactly what routing requires — but for the envelope the wire adds or removes. Answers
 * stream back as they arrive (see {@link Relay}), framed for the client's era (`era_answers.ts`).
 */
import type { ServerConfig } from "../config/schema.ts";
import { GatewayError } from "../mcp/errors.ts";
import { BackendInitError } from "../mcp/backend_session.ts";
import { type Admitted, sessionEnvelope } from "../admission/admit.ts";
import { subjectKey } from "../identity/resolve.ts";
import { MCP_PARAM_HEADER_PREFIX } from "../era/headers.ts";
import {
  type BackendEras,
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
import { answerOf, Relay, type RelayOptions } from "./relay.ts";

export interface ForwardDeps {
  binder: BackendBinder;
  /** Backend GET streams: where a backend sends requests and notifications not tied to one call. */
  streams: BackendStreams;
  store: SessionStore;
  /** Listen streams, and 2025 sessions' watches of 2026 backends' resources. */
  subscriptions: Subscriptions;
  /** 2025 sessions' calls on 2026 backends, so a cancellation can close them. */
  statelessCalls: StatelessCalls;
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
}

/** The outcome a JSON answer reports. */
function jsonAnswer(text: string): "ok" | "error" {
  try {
    const message = JSON.parse(text);
    return message && typeof message === "object" ? answerOf(message) || "ok" : "error";
  } catch {
    return "error";
  }
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
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const wire = backendWire(target.backend, admitted.era);
  const header = (name: string) => req.headers.get(name);
  const session = admitted.session;
  const owner = session ? undefined : heldOwner(admitted);
  for (let attempt = 0; attempt < 2; attempt++) {
    let binding: BackendBinding | undefined;
    let request: { headers: Record<string, string>; body: string };
    if (wire === "session") {
      try {
        binding = session
          ? await deps.binder.acquire(session.claims, server, rawId, header)
          : await deps.binder.acquireHeld(owner!, server, rawId, header);
      } catch (e) {
        const error = e instanceof GatewayError
          ? e
          : unavailable(server, e instanceof BackendInitError ? e.message : String(e), rawId);
        if (!(e instanceof GatewayError)) options.onAnswer?.("unavailable", elapsed());
        options.onSettled?.(error.kind === "upstream-unavailable" ? "unavailable" : "error", error);
        throw error;
      }
      request = {
        headers: backendSessionHeaders(server, binding, header),
        body: sessionBody(out.body, admitted.era),
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
    // A 2025 client's calls are recorded so its cancellation and answers find them; a 2026 client cancels
    // by closing its stream, and is never asked anything.
    const route = {
      server: server.name,
      backendSession: binding?.id ?? "",
      protocolVersion: binding?.protocolVersion ?? MODERN_PROTOCOL_VERSION,
    };
    if (session) await deps.store.beginCall(session.claims.id, rawId, route);
    const signal = session && wire === "stateless"
      ? deps.statelessCalls.begin(session.claims.id, rawId)
      : undefined;
    const endCall = () => {
      if (!session) return;
      void deps.store.endCall(session.claims.id, rawId);
      if (signal) deps.statelessCalls.end(session.claims.id, rawId);
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
    if (type.includes("text/event-stream") && res.body) {
      headers.set("x-accel-buffering", "no");
      const stream = relay.stream(res.body, rawId, (answer) => {
        endCall();
        options.onSettled?.(answer === "cut" ? "error" : answer);
      });
      return new Response(stream, { status, headers });
    }
    endCall();
    const text = await res.text();
    options.onSettled?.(res.ok ? jsonAnswer(text) : "error");
    if (!relayOptions.rewriteResult || !res.ok) return new Response(text, { status, headers });
    return new Response(await relay.rewrite(text), { status, headers });
  }
  const error = unavailable(server, "it keeps rejecting new sessions", rawId);
  options.onSettled?.("unavailable", error);
  throw error;
}
