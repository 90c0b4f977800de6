/**
 * Forwards one JSON-RPC request to the backend that owns it, over the backend session opened for this
 * gateway session (the broker's own data path). Bodies go out as given — callers have already changed
 * exactly what routing requires. Answers stream back as they arrive: a JSON body untouched, an SSE stream
 * event by event, with server-to-client requests given gateway ids so two backends cannot collide.
 */
import type { ServerConfig } from "../events/types.ts";
import { GatewayError } from "../mcp/errors.ts";
import { formatSse, parseSse } from "../mcp/sse.ts";
import { prefixUri } from "../routing/aggregate.ts";
import type { BackendBinding } from "../session/session_map.ts";
import { BackendInitError } from "../upstream/backend_session.ts";
import { backendHeaders, type BackendSessions } from "./backend_sessions.ts";
import type { PendingRequests } from "./client_requests.ts";
import type { BackendStreams } from "./backend_streams.ts";
import type { BrokerContext } from "./context.ts";
import type { AuthenticatedSession } from "./session.ts";

export interface ForwardDeps {
  backends: BackendSessions;
  /** Backend GET streams: where a backend sends requests and notifications not tied to one call. */
  streams: BackendStreams;
  pending: PendingRequests;
  /** In-flight requests by `session\0rawId`, so a client's `notifications/cancelled` reaches the backend. */
  inflight: Map<string, { server: ServerConfig; binding: BackendBinding }>;
}

export interface ForwardOptions {
  /** Rewrites the result of the response (e.g. resource URIs back to served ones). */
  rewriteResult?: (result: Record<string, unknown>) => Record<string, unknown>;
  /** Called with the HTTP status and elapsed seconds once the backend answered (metrics). */
  onAnswer?: (status: number | "unavailable", seconds: number) => void;
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

export async function forward(
  ctx: BrokerContext,
  deps: ForwardDeps,
  req: Request,
  session: AuthenticatedSession,
  body: string,
  server: ServerConfig,
  rawId: string,
  options: ForwardOptions = {},
): Promise<Response> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  for (let attempt = 0; attempt < 2; attempt++) {
    let binding: BackendBinding;
    try {
      binding = await deps.backends.acquire(session.claims, server);
    } catch (e) {
      options.onAnswer?.("unavailable", elapsed());
      const reason = e instanceof BackendInitError ? e.message : String(e);
      throw new GatewayError(
        "upstream-unavailable",
        `Server ${server.name} is unavailable: ${reason}`,
        rawId,
      );
    }
    const inflightKey = `${session.claims.id}\0${rawId}`;
    deps.inflight.set(inflightKey, { server, binding });
    let res: Response;
    try {
      res = await fetch(server.url, { method: "POST", headers: backendHeaders(server, binding, req), body });
    } catch (e) {
      deps.inflight.delete(inflightKey);
      options.onAnswer?.("unavailable", elapsed());
      throw new GatewayError(
        "upstream-unavailable",
        `Server ${server.name} is unavailable: ${(e as Error).message}`,
        rawId,
      );
    }
    if (binding.id && attempt === 0 && await lostSession(res)) {
      deps.inflight.delete(inflightKey);
      deps.backends.invalidate(session.claims, server.name, binding, `backend answered ${res.status}`);
      continue;
    }
    options.onAnswer?.(res.status, elapsed());
    const type = res.headers.get("content-type") ?? "";
    // A JSON error body is the backend's JSON-RPC answer: the client gets it as it was sent.
    if (!res.ok && !type.includes("application/json")) {
      deps.inflight.delete(inflightKey);
      const detail = await res.text().catch(() => "");
      throw new GatewayError(
        "upstream-error",
        `Server ${server.name} answered HTTP ${res.status}${detail ? `: ${detail.slice(0, 200)}` : ""}`,
        rawId,
      );
    }
    const headers = new Headers({ "mcp-session-id": session.token });
    if (type) headers.set("content-type", type);
    const relay = new Relay(ctx, deps, session.claims.id, server, binding, options);
    if (type.includes("text/event-stream") && res.body) {
      return new Response(relay.stream(res.body, () => deps.inflight.delete(inflightKey)), {
        status: res.status,
        headers,
      });
    }
    deps.inflight.delete(inflightKey);
    if (!options.rewriteResult || !res.ok) return new Response(res.body, { status: res.status, headers });
    const text = await res.text();
    return new Response(relay.rewrite(text), { status: res.status, headers });
  }
  throw new GatewayError("upstream-unavailable", `Server ${server.name} keeps rejecting new sessions`, rawId);
}

/** Carries backend messages to the client, changing only what must change for the client to see one server. */
export class Relay {
  constructor(
    private readonly ctx: BrokerContext,
    private readonly deps: ForwardDeps,
    /** The gateway session the messages are for. */
    private readonly sessionId: string,
    private readonly server: ServerConfig,
    private readonly binding: BackendBinding,
    private readonly options: ForwardOptions = {},
  ) {}

  /** One message, as JSON text in and out; returns the input itself when nothing changes. */
  rewrite(text: string): string {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text);
    } catch {
      return text;
    }
    if (!message || typeof message !== "object") return text;
    const params = message.params as Record<string, unknown> | undefined;
    if (typeof message.method === "string" && "id" in message) {
      const id = this.deps.pending.add(
        this.sessionId,
        this.server,
        this.binding,
        JSON.stringify(message.id),
      );
      return JSON.stringify({ ...message, id: JSON.parse(id) });
    }
    if (message.method === "notifications/resources/updated" && typeof params?.uri === "string") {
      return JSON.stringify({
        ...message,
        params: { ...params, uri: prefixUri(this.server.toolPrefix, params.uri) },
      });
    }
    if (this.options.rewriteResult && message.result && typeof message.result === "object") {
      return JSON.stringify({
        ...message,
        result: this.options.rewriteResult(message.result as Record<string, unknown>),
      });
    }
    return text;
  }

  /** An SSE body, event by event. */
  stream(body: ReadableStream<Uint8Array>, onEnd: () => void): ReadableStream<Uint8Array> {
    const events = parseSse(body);
    const encoder = new TextEncoder();
    let ended = false;
    const end = () => {
      if (!ended) onEnd();
      ended = true;
    };
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const { value, done } = await events.next();
          if (done) {
            end();
            controller.close();
            return;
          }
          const data = value.data ? this.rewrite(value.data) : value.data;
          controller.enqueue(encoder.encode(formatSse({ ...value, data })));
        } catch (e) {
          end();
          this.ctx.logger.warn("backend stream broke", { server: this.server.name, error: e });
          controller.error(e);
        }
      },
      cancel: async () => {
        end();
        await events.return(undefined);
      },
    });
  }
}
