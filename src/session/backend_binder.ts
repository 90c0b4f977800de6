/**
 * Backend sessions for gateway sessions, for both data paths: opened lazily on a session's first call to a
 * server, once (concurrent first calls share one `initialize`), reused after, recorded as events. How a
 * session is opened differs by path (the broker goes straight to the server, the router through Envoy),
 * so that part is injected; the lifecycle rules are here, once:
 *
 * - a session that is closed gets no new backend session;
 * - one that closes while its backend session is being opened (a DELETE racing the first call) has that
 *   backend session closed again as soon as it exists, and the caller is told the session is gone;
 * - a session this process never saw open (another replica's) is adopted with its token's expiry;
 * - every process sharing the session store uses the same backend session ({@link SessionStore.bindOnce}).
 *
 * 2026 clients have no gateway session. When one calls a 2025-only backend, the gateway holds a backend
 * session for it ({@link BackendBinder.acquireHeld}), keyed by who is calling and what the request declares
 * (see {@link heldSessionKey}), kept in the session store with a time to live.
 */
import { createHash } from "node:crypto";
import type { ServerConfig } from "../config/schema.ts";
import type { EventLog, ProjectionView } from "../events/log.ts";
import { backendSessionHeaders, gatewayRequestHeaders, type HeaderLookup } from "../mcp/backend_headers.ts";
import { closeBackendSession, postToBackend } from "../mcp/backend_session.ts";
import type { ClientCapabilities } from "../mcp/client_capabilities.ts";
import { GatewayError } from "../mcp/errors.ts";
import { LATEST_PROTOCOL_VERSION } from "../mcp/protocol.ts";
import { ATTR } from "../observe/tracing/attributes.ts";
import type { OpenSpan, SpanParent } from "../observe/tracing/span.ts";
import { type BackendBinding, backendSessionOf, isClosed, type SessionMapState } from "./session_map.ts";
import { HELD_SESSION_TTL_MS, type SessionStore } from "./store.ts";
import type { SessionClaims } from "./tokens.ts";

/**
 * How a data path opens a backend session. `client` is the request that needs it: its trace context (and,
 * opted in, its token). `span`, while tracing is on, is the `initialize` CLIENT span: its context replaces
 * the client's on the requests the opener sends.
 */
export type BackendOpener = (
  claims: SessionClaims,
  server: ServerConfig,
  client?: HeaderLookup,
  span?: OpenSpan,
) => Promise<BackendBinding>;

/** `initialize` as a CLIENT span of `parent` around `open` (the conventions' span for a session handshake). */
async function traced(
  parent: SpanParent,
  server: ServerConfig,
  kind: "session" | "held",
  open: (span: OpenSpan) => Promise<BackendBinding>,
): Promise<BackendBinding> {
  let address: URL | undefined;
  try {
    address = new URL(server.url);
  } catch { /* validated by the config schema */ }
  const span = parent.tracer.child(parent, "initialize", "client", {
    [ATTR.MCP_METHOD_NAME]: "initialize",
    [ATTR.SERVER]: server.name,
    [ATTR.BACKEND_SESSION]: kind,
    [ATTR.NETWORK_TRANSPORT]: "tcp",
    ...(address
      ? { [ATTR.SERVER_ADDRESS]: address.hostname, [ATTR.SERVER_PORT]: Number(address.port) || 80 }
      : {}),
  });
  try {
    const binding = await open(span);
    span.set(ATTR.MCP_SESSION_ID, binding.id || undefined);
    span.set(ATTR.MCP_PROTOCOL_VERSION, binding.protocolVersion);
    span.end();
    return binding;
  } catch (e) {
    const status = (e as { status?: unknown }).status;
    span.end({ type: typeof status === "number" ? String(status) : "_OTHER", message: (e as Error).message });
    throw e;
  }
}

/** Posts one message on a backend session, straight to the server (best effort). */
function post(server: ServerConfig, binding: BackendBinding, body: string): Promise<number> {
  return postToBackend(server.url, backendSessionHeaders(server, binding), body, 5_000);
}

/** Ends a backend session, straight at the server (best effort). */
function close(server: ServerConfig, binding: BackendBinding): Promise<void> {
  return closeBackendSession(server.url, binding.id, gatewayRequestHeaders(server));
}

/** A 2026 caller a backend session is held for: its key and what it declared. */
export interface HeldSessionOwner {
  key: string;
  capabilities: ClientCapabilities;
}

/**
 * The key of a backend session held for 2026 callers: different callers (subjects) and different declared
 * capabilities never share one — a backend may tailor a session to both (what it lists, what it may ask).
 * Extensions are a 2026 notion a 2025 session cannot carry, so they are not part of it.
 */
export function heldSessionKey(subject: string, capabilities: ClientCapabilities): string {
  const { extensions: _extensions, ...declared } = capabilities;
  const canonical = JSON.stringify(
    Object.keys(declared).sort().map((name) => [name, declared[name as keyof typeof declared]]),
  );
  return createHash("sha256").update(subject).update("\0").update(canonical).digest("hex").slice(0, 32);
}

export class BackendBinder {
  #pending = new Map<string, Promise<BackendBinding>>();

  constructor(
    private readonly log: EventLog,
    private readonly sessions: ProjectionView<SessionMapState>,
    private readonly store: SessionStore,
    private readonly opener: BackendOpener,
  ) {}

  /**
   * The bound backend session, opening one if there is none yet. `rawId` is for the error's id; `parent`,
   * while tracing is on, is the span an `initialize` span is a child of.
   */
  acquire(
    claims: SessionClaims,
    server: ServerConfig,
    rawId = "null",
    client?: HeaderLookup,
    parent?: SpanParent,
  ): Promise<BackendBinding> {
    const bound = backendSessionOf(this.sessions.state, claims.id, server.name);
    if (bound) return Promise.resolve(bound);
    if (isClosed(this.sessions.state, claims.id)) return Promise.reject(terminated(rawId));
    const key = `${claims.id}\0${server.name}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#open(claims, server, client, parent).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending.catch((e) => {
      throw e instanceof GatewayError ? e.withId(rawId) : e;
    });
  }

  /**
   * The backend session held on `server` for a 2026 caller, opening one (declaring the caller's own
   * capabilities, never more) if there is none yet.
   */
  async acquireHeld(
    owner: HeldSessionOwner,
    server: ServerConfig,
    rawId = "null",
    client?: HeaderLookup,
    parent?: SpanParent,
  ): Promise<BackendBinding> {
    const held = await this.store.heldSession(owner.key, server.name);
    if (held) return held;
    const key = `held:${owner.key}\0${server.name}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = (async () => {
        const { extensions: _extensions, ...capabilities } = owner.capabilities;
        const claims: SessionClaims = {
          id: key,
          expiresAt: Date.now() + HELD_SESSION_TTL_MS,
          protocolVersion: LATEST_PROTOCOL_VERSION,
          clientCapabilities: capabilities,
        };
        const binding = parent
          ? await traced(parent, server, "held", (span) => this.opener(claims, server, client, span))
          : await this.opener(claims, server, client);
        await this.store.holdSession(owner.key, server.name, binding, HELD_SESSION_TTL_MS);
        return binding;
      })().finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending.catch((e) => {
      throw e instanceof GatewayError ? e.withId(rawId) : e;
    });
  }

  /** The backend no longer knows a held session: forget it so the next call opens a fresh one. */
  releaseHeld(owner: HeldSessionOwner, server: string, binding: BackendBinding): Promise<void> {
    return this.store.releaseSession(owner.key, server, binding.id);
  }

  async #open(
    claims: SessionClaims,
    server: ServerConfig,
    client?: HeaderLookup,
    parent?: SpanParent,
  ): Promise<BackendBinding> {
    const bound = await this.store.bindOnce(
      claims.id,
      server.name,
      () =>
        parent
          ? traced(parent, server, "session", (span) => this.opener(claims, server, client, span))
          : this.opener(claims, server, client),
    );
    if ("closed" in bound) throw terminated();
    // Another process opened it and recorded it: its event reaches this log too.
    if (!bound.opened) return bound.binding;
    const binding = bound.binding;
    const level = await this.store.logLevel(claims.id);
    if (level) await post(server, binding, setLevelBody(level));
    if (isClosed(this.sessions.state, claims.id) || claims.expiresAt <= Date.now()) {
      // The session ended while we were opening: nobody will ever close this one but us.
      close(server, binding).catch(() => {});
      throw terminated();
    }
    this.log.append({
      type: "BackendSessionBound",
      session: claims.id,
      server: server.name,
      backendSession: binding.id,
      protocolVersion: binding.protocolVersion,
      expiresAt: claims.expiresAt,
    });
    return binding;
  }

  /** The backend no longer knows this session: forget it so the next call opens a fresh one. */
  invalidate(session: string, server: string, binding: BackendBinding, reason: string): void {
    this.log.append({
      type: "BackendSessionInvalidated",
      session,
      server,
      backendSession: binding.id,
      reason,
    });
  }

  /**
   * `logging/setLevel` for a gateway session: remembered for backend sessions opened later, and sent now to
   * those already open on servers that log.
   */
  async setLevel(
    session: string,
    level: string,
    servers: ReadonlyMap<string, { config: ServerConfig; capabilities?: Record<string, unknown> }>,
  ): Promise<void> {
    await this.store.setLogLevel(session, level);
    const backends = this.sessions.state.open.get(session)?.backends ?? new Map();
    await Promise.all([...backends].map(([name, binding]) => {
      const server = servers.get(name);
      return server?.capabilities?.logging ? post(server.config, binding, setLevelBody(level)) : undefined;
    }));
  }

  /**
   * Ends every backend session of a gateway session (DELETE, expiry, shutdown) but those in `keep`; best
   * effort.
   */
  closeAll(
    session: string,
    servers: ReadonlyMap<string, { config: ServerConfig }>,
    keep?: ReadonlySet<string>,
  ): Promise<void> {
    const backends = this.sessions.state.open.get(session)?.backends;
    if (!backends) return Promise.resolve();
    const closing = [...backends].map(([name, binding]) => {
      const server = servers.get(name)?.config;
      return server && binding.id && !keep?.has(binding.id)
        ? close(server, binding).catch(() => {})
        : undefined;
    });
    return Promise.all(closing).then(() => {});
  }
}

function terminated(rawId = "null"): GatewayError {
  return new GatewayError("invalid-session", "Session not found: the session was terminated", rawId);
}

function setLevelBody(level: string): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id: `gw-level-${crypto.randomUUID()}`,
    method: "logging/setLevel",
    params: { level },
  });
}
