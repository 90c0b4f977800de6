/**
 * Projection: open gateway sessions and, per session, the backend session bound for each server.
 *
 * Sessions are the high-rate part of the log, so this fold updates the maps it owns in place (O(1) per
 * event) instead of copying them; it touches nothing but its own state and stays deterministic.
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
  /** Closed (DELETEd) sessions → their expiry; a valid token for one of these is still refused. */
  closed: Map<string, number>;
  /** Bumped on every change, so readers can tell without diffing. */
  revision: number;
}

export const sessionMapProjection: Projection<SessionMapState> = {
  name: "sessions",
  // A getter: the state is mutated in place, so every log needs maps of its own.
  get initial() {
    return { open: new Map(), closed: new Map(), revision: 0 };
  },
  apply(state, event) {
    switch (event.type) {
      case "SessionOpened":
        state.open.set(
          event.session,
          event.answersRequests
            ? { expiresAt: event.expiresAt, answersRequests: true }
            : { expiresAt: event.expiresAt },
        );
        break;
      case "BackendSessionBound": {
        const session = state.open.get(event.session) ?? { expiresAt: Number.MAX_SAFE_INTEGER };
        (session.backends ??= new Map()).set(event.server, {
          id: event.backendSession,
          protocolVersion: event.protocolVersion,
        });
        state.open.set(event.session, session);
        break;
      }
      case "BackendSessionInvalidated": {
        const backends = state.open.get(event.session)?.backends;
        if (backends?.get(event.server)?.id === event.backendSession) backends.delete(event.server);
        break;
      }
      case "SessionClosed": {
        const session = state.open.get(event.session);
        state.open.delete(event.session);
        if (event.reason === "deleted") {
          state.closed.set(event.session, session?.expiresAt ?? Date.now() + 86_400_000);
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
