/**
 * What every phase handler reads: projections (synchronously), the token service, the backend-session
 * binder, and the per-stream state Envoy's messages accumulate into.
 */
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { Logger } from "../observe/log.ts";
import type { RoutingState, ToolRoute } from "../routing/routing_table.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";
import type { BackendBinding, SessionMapState } from "../session/session_map.ts";
import type { SessionClaims, TokenService } from "../session/tokens.ts";

/** `log.project(routingTableProjection)`: the routing state and the upstreams it was derived from. */
export type RoutingView = ProjectionView<{ readonly base: UpstreamsState; readonly view: RoutingState }>;

/** Where a backend session is opened: the server, and the host and path Envoy routes it by. */
export type BackendTarget = Pick<ToolRoute, "server" | "hostname" | "path">;

/** Opens (or reuses) the backend session for (gateway session, route). */
export interface BackendSessionBinder {
  /** Resolves to the binding (its `id` is "" for a stateless backend). */
  bind(
    claims: SessionClaims,
    route: BackendTarget,
    clientHeaders: ReadonlyMap<string, string>,
  ): Promise<BackendBinding>;
}

export interface RouterContext {
  publicHost: string;
  maxBodyBytes: number;
  tokens: TokenService;
  routing: RoutingView;
  sessions: ProjectionView<SessionMapState>;
  log: EventLog;
  logger: Logger;
  backends: BackendSessionBinder;
  latestCalls: LatestCalls;
}

/** What one ext_proc stream (= one HTTP request) has learnt so far. */
export interface StreamState {
  /** Request headers exactly as Envoy sent them (before our mutations), lower-case keys. */
  requestHeaders?: Map<string, string>;
  /** JSON-RPC method of the request body, when there was one. */
  method?: string;
  /** Set when a call was sent to a backend session, so a backend 404 can invalidate it. */
  routed?: { session: string; server: string; backendSession: string };
}

/**
 * Per gateway session, the backend its latest `tools/call` went to. A backend's requests during a call
 * (sampling, elicitation) reach the client inside the call's own response stream, untouched by Envoy;
 * the client's answer carries no routing facts, so it goes where the latest call went.
 */
export type LatestCalls = Map<string, { target: BackendTarget; binding: BackendBinding; at: number }>;

/** Headers only the router may set: a client sending them could steer policies or forge a hairpin. */
export const ROUTER_OWNED_HEADERS = [
  "x-mcp-method",
  "x-mcp-toolname",
  "x-mcp-servername",
  "x-mcp-annotation-hints",
  "x-mcp-promptname",
  "x-mcp-resourceuri",
] as const;

/** The hairpin's own headers: read by the body phase, never forwarded anywhere. */
export const HAIRPIN_TOKEN_HEADER = "x-mcp-hairpin-token";
export const HAIRPIN_HOST_HEADER = "mcp-init-host";

/** `x-mcp-servername` of everything the broker answers (the reference router's value). */
export const BROKER_SERVER_NAME = "mcpBroker";
