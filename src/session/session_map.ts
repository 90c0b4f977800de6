/**
 * Projection: the lifecycle of gateway sessions and, per open session, the backend session bound for each
 * server. A session is open, then closed (a tombstone until its token expires, so a DELETEd session's
 * still-valid token is refused), then forgotten. Nothing moves a session backwards: a backend session bound
 * after the gateway session closed (a DELETE racing the first call) is ignored here, and the edge that
 * opened it closes it again.
 *
 * Sessions are the high-rate part of the log, so this fold updates the maps it owns in place (O(1) per
 * event) instead of copying them; it touches nothing but its own state, takes time only from events, and
 * stays deterministic. Readers must not rely on reference changes of this state: `revision` moves instead.
 */
import type { Projection } from "../events/projection.ts";

/** A backend session opened for one gateway session on one server. */
export interface BackendBinding {
  /** Backend `mcp-session-id`; "" for a stateless backend. */
  id: string;
  /** Version the backend negotiated; sent as `MCP-Protocol-Version` on forwarded calls. */
  protocolVersion: string;
}

export interface GatewaySession {
  expiresAt: number;
  /** server name → backend session. Absent until the first call, to keep idle sessions small. */
  backends?: Map<string, BackendBinding>;
  /** Backends may send this client requests (it declared roots, sampling or elicitation). */
  answersRequests?: true;
}

export interface SessionMapState {
  open: Map<string, GatewaySession>;
  /** Closed (DELETEd) sessions → their token's expiry; a valid token for one of these is refused. */
  closed: Map<string, number>;
  /** Bumped on every change, so readers can tell without diffing. */
  revision: number;
}

/**
 * Most tombstones kept (≈100 bytes each). Beyond it the oldest are forgotten early: their tokens then open
 * a fresh, empty session again — a cost only to a client that DELETEd its session and keeps using it.
 */
export const MAX_TOMBSTONES = 100_000;

export const sessionMapProjection: Projection<SessionMapState> = {
  name: "sessions",
  // A getter: the state is mutated in place, so every log needs maps of its own.
  get initial() {
    return { open: new Map(), closed: new Map(), revision: 0 };
  },
  apply(state, event) {
    switch (event.type) {
      case "SessionOpened": {
        if (state.closed.has(event.session)) return state;
        const opened: GatewaySession = { expiresAt: event.expiresAt };
        if (event.answersRequests) opened.answersRequests = true;
        // Heard twice (a shared log replayed after a snapshot): the bindings learnt meanwhile stay.
        const known = state.open.get(event.session)?.backends;
        if (known) opened.backends = known;
        state.open.set(event.session, opened);
        break;
      }
      case "BackendSessionBound": {
        if (state.closed.has(event.session)) return state;
        let session = state.open.get(event.session);
        if (!session) state.open.set(event.session, session = { expiresAt: event.expiresAt });
        (session.backends ??= new Map()).set(event.server, {
          id: event.backendSession,
          protocolVersion: event.protocolVersion,
        });
        break;
      }
      case "BackendSessionInvalidated": {
        const backends = state.open.get(event.session)?.backends;
        if (backends?.get(event.server)?.id !== event.backendSession) return state;
        backends.delete(event.server);
        break;
      }
      case "SessionClosed": {
        state.open.delete(event.session);
        if (event.reason === "deleted" && event.expiresAt > event.at) {
          state.closed.set(event.session, event.expiresAt);
          if (state.closed.size > MAX_TOMBSTONES) {
            state.closed.delete(state.closed.keys().next().value!);
          }
        } else state.closed.delete(event.session);
        break;
      }
      case "UpstreamFailed":
      case "UpstreamRemoved":
        // A failed, removed or reconfigured server may have lost its sessions (a restart does): the next call
        // opens a fresh one rather than finding out through an error.
        for (const session of state.open.values()) session.backends?.delete(event.server);
        break;
      default:
        return state;
    }
    state.revision++;
    return state;
  },
};

/** The backend session bound for (session, server), if any. */
export function backendSessionOf(
  state: SessionMapState,
  session: string,
  server: string,
): BackendBinding | undefined {
  return state.open.get(session)?.backends?.get(server);
}

/** Whether `session` is past its end (DELETEd and tombstoned); unknown sessions are not. */
export function isClosed(state: SessionMapState, session: string): boolean {
  return state.closed.has(session);
}
