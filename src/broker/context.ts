/** What every broker handler reads: projection views (synchronous, never awaited) and the edges' services. */
import type { Admission } from "../admission/admit.ts";
import type { AuditLog } from "../identity/audit.ts";
import type { OriginPolicy } from "../admission/origin.ts";
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { ExplainState } from "../observe/explain.ts";
import type { Logger } from "../observe/log.ts";
import type { EventRedactor } from "../observe/redact_event.ts";
import type { GatewayMetrics } from "../observe/metrics.ts";
import type { GatewayTracer } from "../observe/tracing/tracer.ts";
import type { RoutingState } from "../routing/routing_table.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";
import type { SessionMapState } from "../session/session_map.ts";
import type { SessionBus } from "../session/bus.ts";
import type { SessionStoreStatus } from "../session/shared_state.ts";
import type { SessionStore } from "../session/store.ts";
import type { TokenService } from "../session/tokens.ts";
import type { ResourceWatcher } from "../upstream/supervisor.ts";

export interface BrokerOptions extends OriginPolicy {
  /** Largest accepted POST body; larger ones get 413. */
  maxBodyBytes: number;
  /** A POST body must arrive within this many ms (0: no deadline); slower ones get 408. */
  bodyTimeoutMs: number;
  /** Keep-alive comment period on GET streams, so idle proxies do not cut them. */
  keepAliveMs: number;
  /** GET streams one session may hold open at once. */
  maxStreamsPerSession: number;
  /** GET streams the broker holds open at once, over all sessions. */
  maxStreams: number;
  /** How long a failed server's tools answer "unavailable" (retryable) rather than "unknown tool". */
  unavailableGraceMs: number;
  /**
   * How long a call bridged between eras waits for its client's input (a 2025 client's answers, a 2026
   * client's retry) before it ends (`--input-required-timeout`).
   */
  inputTimeoutMs: number;
}

export interface BrokerContext {
  log: EventLog;
  upstreams: ProjectionView<UpstreamsState>;
  routing: ProjectionView<{ base: UpstreamsState; view: RoutingState }>;
  sessions: ProjectionView<SessionMapState>;
  /** Provenance for `/debug/explain` and the console. */
  explain: ProjectionView<ExplainState>;
  /** Removes secrets from what `/debug/explain` and the event stream send. */
  redactor: EventRedactor;
  tokens: TokenService;
  admission: Admission;
  store: SessionStore;
  /** Delivery to clients whose streams another replica holds (absent: this process holds them all). */
  bus?: SessionBus;
  /** The session store's state, for `/status` and `/readyz` (absent: the embedded one, always ok). */
  storeStatus?: () => SessionStoreStatus;
  metrics: GatewayMetrics;
  /** One line per routed request; absent when the audit log is off. */
  audit?: AuditLog;
  /** Spans for every message and backend request; absent when tracing is off (no OTLP endpoint). */
  tracer?: GatewayTracer;
  /** Environment variables (`OAUTH_*` for the protected resource metadata), read per request. */
  env: (name: string) => string | undefined;
  /** Resource updates from backends, by their own URIs (the upstream managers'). */
  resources?: ResourceWatcher;
  logger: Logger;
  options: BrokerOptions;
}
