/**
 * Backend sessions for the broker's own data path: opened lazily on a gateway session's first call to a
 * server, reused after, dropped when the backend says 404. Concurrent first calls share one `initialize`.
 * The binding itself lives in the session-map projection; this edge only does the I/O and appends events.
 */
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { ServerConfig } from "../events/types.ts";
import { type BackendBinding, backendSessionOf, type SessionMapState } from "../session/session_map.ts";
import type { SessionClaims } from "../session/tokens.ts";
import { closeBackendSession, initializeBackendSession } from "../upstream/backend_session.ts";

/** Headers the gateway itself sends to a backend: its own identity and the configured credential. */
export function gatewayHeaders(server: ServerConfig): Record<string, string> {
  const headers: Record<string, string> = { "user-agent": "mcp-gateway/0.1.0" };
  if (server.credential) headers.authorization = server.credential;
  return headers;
}

/** Request headers worth carrying to the backend: tracing. The client's Authorization is never passed on
 * (MCP security best practices forbid token passthrough); the gateway uses the server's own credential. */
const FORWARDED = ["traceparent", "tracestate", "baggage", "x-request-id"];

/** Headers for a request on a backend session. */
export function backendHeaders(
  server: ServerConfig,
  binding: BackendBinding,
  req?: Request,
): Record<string, string> {
  const headers: Record<string, string> = {
    ...gatewayHeaders(server),
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": binding.protocolVersion,
  };
  if (binding.id) headers["mcp-session-id"] = binding.id;
  for (const name of FORWARDED) {
    const value = req?.headers.get(name);
    if (value) headers[name] = value;
  }
  return headers;
}

export class BackendSessions {
  #pending = new Map<string, Promise<BackendBinding>>();
  /** Log level each gateway session asked for (`logging/setLevel`), applied to backend sessions it opens. */
  #levels = new Map<string, string>();

  constructor(private readonly log: EventLog, private readonly sessions: ProjectionView<SessionMapState>) {}

  /** The bound backend session, opening one if there is none yet. */
  acquire(claims: SessionClaims, server: ServerConfig): Promise<BackendBinding> {
    const bound = backendSessionOf(this.sessions.state, claims.id, server.name);
    if (bound) return Promise.resolve(bound);
    const key = `${claims.id}\0${server.name}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#open(claims, server).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #open(claims: SessionClaims, server: ServerConfig): Promise<BackendBinding> {
    const opened = await initializeBackendSession({
      url: server.url,
      headers: gatewayHeaders(server),
      protocolVersion: claims.protocolVersion,
      capabilities: claims.clientCapabilities,
    });
    const binding = { id: opened.sessionId ?? "", protocolVersion: opened.protocolVersion };
    const level = this.#levels.get(claims.id);
    if (level) await this.#sendLevel(server, binding, level);
    this.log.append({
      type: "BackendSessionBound",
      session: claims.id,
      server: server.name,
      backendSession: binding.id,
      protocolVersion: binding.protocolVersion,
    });
    return binding;
  }

  /**
   * `logging/setLevel` for a gateway session: remembered for backend sessions opened later, and sent now to
   * those already open on servers that log.
   */
  async setLevel(
    sessionId: string,
    level: string,
    servers: ReadonlyMap<string, { config: ServerConfig; capabilities?: Record<string, unknown> }>,
  ) {
    this.#levels.set(sessionId, level);
    const backends = this.sessions.state.open.get(sessionId)?.backends ?? new Map();
    await Promise.all([...backends].map(([name, binding]) => {
      const server = servers.get(name);
      return server?.capabilities?.logging ? this.#sendLevel(server.config, binding, level) : undefined;
    }));
  }

  async #sendLevel(server: ServerConfig, binding: BackendBinding, level: string) {
    const res = await fetch(server.url, {
      method: "POST",
      headers: backendHeaders(server, binding),
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: `gw-level-${crypto.randomUUID()}`,
        method: "logging/setLevel",
        params: { level },
      }),
      signal: AbortSignal.timeout(5_000),
    }).catch(() => undefined);
    await res?.body?.cancel();
  }

  /** Forgets per-session state when the gateway session ends. */
  forget(sessionId: string): void {
    this.#levels.delete(sessionId);
  }

  /** The backend no longer knows this session (HTTP 404): forget it so the next call re-initializes. */
  invalidate(claims: SessionClaims, server: string, binding: BackendBinding, reason: string): void {
    this.log.append({
      type: "BackendSessionInvalidated",
      session: claims.id,
      server,
      backendSession: binding.id,
      reason,
    });
  }

  /**
   * Ends every backend session of a gateway session (DELETE or expiry), but those in `keep`; best effort, in
   * the background.
   */
  closeAll(
    sessionId: string,
    servers: ReadonlyMap<string, { config: ServerConfig }>,
    keep?: ReadonlySet<string>,
  ): Promise<void> {
    const backends = this.sessions.state.open.get(sessionId)?.backends;
    if (!backends) return Promise.resolve();
    const closing = [...backends].map(([name, binding]) => {
      const server = servers.get(name)?.config;
      return server && binding.id && !keep?.has(binding.id)
        ? closeBackendSession(server.url, binding.id, gatewayHeaders(server))
        : undefined;
    });
    return Promise.all(closing).then(() => {});
  }
}
