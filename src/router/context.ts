/**
 * What every phase handler reads: projections (synchronously), admission, the backend-session binder, the
 * session store, and the per-stream state Envoy's messages accumulate into.
 */
import type { Admission } from "../admission/admit.ts";
import type { AuditLog, AuditRecord } from "../identity/audit.ts";
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { Era } from "../mcp/protocol.ts";
import type { Logger } from "../observe/log.ts";
import type { DecisionTrace } from "../observe/tracing/decision.ts";
import type { GatewayTracer } from "../observe/tracing/tracer.ts";
import type { RoutingState } from "../routing/routing_table.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";
import type { BackendBinder } from "../session/backend_binder.ts";
import type { SessionMapState } from "../session/session_map.ts";
import type { SessionStore } from "../session/store.ts";

/** `log.project(routingTableProjection)`: the routing state and the upstreams it was derived from. */
export type RoutingView = ProjectionView<{ readonly base: UpstreamsState; readonly view: RoutingState }>;

export interface RouterContext {
  publicHost: string;
  maxBodyBytes: number;
  admission: Admission;
  routing: RoutingView;
  sessions: ProjectionView<SessionMapState>;
  log: EventLog;
  logger: Logger;
  binder: BackendBinder;
  store: SessionStore;
  tokens: { verifyHairpin(token: string, host: string): Promise<boolean> };
  /** One line per routed request; absent when the audit log is off. */
  audit?: AuditLog;
  /** A span per decision; absent when tracing is off. */
  tracer?: GatewayTracer;
}

/**
 * Which messages the router asked Envoy for, beyond the request headers (`mode_override` in the
 * request-headers reply); the stream ends once the last of them is answered.
 */
export interface Phases {
  body: boolean;
  responseHeaders: boolean;
}

/** What one ext_proc stream (= one HTTP request) has learnt so far. */
export interface StreamState {
  /** Request headers exactly as Envoy sent them (before our mutations), lower-case keys. */
  requestHeaders?: Map<string, string>;
  /** The request's era as its headers claim it (the body phase checks the claim). */
  era?: Era;
  /** The messages still to come (unset: every one, as the shipped processing mode sends them). */
  phases?: Phases;
  /**
   * A 2026 request the headers say a backend answers through Envoy: the body phase checks the body against
   * the headers and routes it.
   */
  routable?: boolean;
  /** JSON-RPC method of the request body, when there was one. */
  method?: string;
  /** Set when a call was sent to a backend session, so a backend 404 can invalidate it. */
  routed?: { session: string; server: string; backendSession: string };
  /** A routed call's audit record, completed with its outcome when the response status arrives. */
  audit?: Omit<AuditRecord, "outcome">;
  /** The decision's span, while tracing is on. */
  trace?: DecisionTrace;
}

/** Headers only the router may set: a client sending them could steer policies. */
export const ROUTER_OWNED_HEADERS = [
  "x-mcp-method",
  "x-mcp-toolname",
  "x-mcp-servername",
  "x-mcp-annotation-hints",
  "x-mcp-promptname",
  "x-mcp-resourceuri",
  "x-mcp-era",
] as const;

/** `x-mcp-servername` of everything the broker answers (the reference router's value). */
export const BROKER_SERVER_NAME = "mcpBroker";
