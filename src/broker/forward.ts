/**
 * Forwards one JSON-RPC request to the backend that owns it, over the backend session opened for this
 * gateway session (the broker's own data path). Bodies go out as given — callers have already changed
 * exactly what routing requires. Answers stream back as they arrive (see {@link Relay}).
 */
import type { ServerConfig } from "../config/schema.ts";
import { GatewayError } from "../mcp/errors.ts";
import { BackendInitError } from "../mcp/backend_session.ts";
import type { Admitted } from "../admission/admit.ts";
import type { BackendBinder } from "../session/backend_binder.ts";
import type { BackendBinding } from "../session/session_map.ts";
import type { SessionStore } from "../session/store.ts";
import { backendSessionHeaders } from "../mcp/backend_headers.ts";
import type { BackendStreams } from "./backend_streams.ts";
import type { BrokerContext } from "./context.ts";
import { answerOf, Relay, type RelayOptions } from "./relay.ts";

export interface ForwardDeps {
  binder: BackendBinder;
  /** Backend GET streams: where a backend sends requests and notifications not tied to one call. */
  streams: BackendStreams;
  store: SessionStore;
}

export interface ForwardOptions extends RelayOptions {
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

export async function forward(
  ctx: BrokerContext,
  deps: ForwardDeps,
  req: Request,
  session: Admitted,
  body: string,
  server: ServerConfig,
  rawId: string,
  options: ForwardOptions = {},
): Promise<Response> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const sessionId = session.claims.id;
  for (let attempt = 0; attempt < 2; attempt++) {
    let binding: BackendBinding;
    try {
      binding = await deps.binder.acquire(session.claims, server, rawId, (name) => req.headers.get(name));
    } catch (e) {
      const error = e instanceof GatewayError
        ? e
        : unavailable(server, e instanceof BackendInitError ? e.message : String(e), rawId);
      if (!(e instanceof GatewayError)) options.onAnswer?.("unavailable", elapsed());
      options.onSettled?.(error.kind === "upstream-unavailable" ? "unavailable" : "error", error);
      throw error;
    }
    const route = {
      server: server.name,
      backendSession: binding.id,
      protocolVersion: binding.protocolVersion,
    };
    await deps.store.beginCall(sessionId, rawId, route);
    const endCall = () => void deps.store.endCall(sessionId, rawId);
    let res: Response;
    try {
      res = await fetch(server.url, {
        method: "POST",
        headers: backendSessionHeaders(server, binding, (name) => req.headers.get(name)),
        body,
      });
    } catch (e) {
      endCall();
      options.onAnswer?.("unavailable", elapsed());
      const error = unavailable(server, (e as Error).message, rawId);
      options.onSettled?.("unavailable", error);
      throw error;
    }
    if (binding.id && attempt === 0 && await lostSession(res)) {
      endCall();
      deps.binder.invalidate(sessionId, server.name, binding, `backend answered ${res.status}`);
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
    const headers = new Headers({ "mcp-session-id": session.token });
    if (type) headers.set("content-type", type);
    const relay = new Relay(deps.store, ctx.logger, sessionId, server, binding, options);
    if (type.includes("text/event-stream") && res.body) {
      const stream = relay.stream(res.body, rawId, (answer) => {
        endCall();
        options.onSettled?.(answer === "cut" ? "error" : answer);
      });
      return new Response(stream, { status: res.status, headers });
    }
    endCall();
    const text = await res.text();
    options.onSettled?.(res.ok ? jsonAnswer(text) : "error");
    if (!options.rewriteResult || !res.ok) return new Response(text, { status: res.status, headers });
    return new Response(await relay.rewrite(text), { status: res.status, headers });
  }
  const error = unavailable(server, "it keeps rejecting new sessions", rawId);
  options.onSettled?.("unavailable", error);
  throw error;
}
