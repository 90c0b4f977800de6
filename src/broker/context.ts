/** What every broker handler reads: projection views (synchronous, never awaited) and the edges' services. */
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { Logger } from "../observe/log.ts";
import type { GatewayMetrics } from "../observe/metrics.ts";
import type { RoutingState } from "../routing/routing_table.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";
import type { SessionMapState } from "../session/session_map.ts";
import type { TokenService } from "../session/tokens.ts";

export interface BrokerOptions {
  /** Largest accepted POST body; larger ones get 413. */
  maxBodyBytes: number;
  /** A POST body must arrive within this many ms (0: no deadline); slower ones get 408. */
  bodyTimeoutMs: number;
  /** Keep-alive comment period on GET streams, so idle proxies do not cut them. */
  keepAliveMs: number;
  /** Browser origins allowed besides loopback ones and the public host; "*" allows any. */
  allowedOrigins: readonly string[] | "*";
  /** Host header values accepted; "*" accepts any. */
  allowedHosts: readonly string[] | "*";
}

export interface BrokerContext {
  log: EventLog;
  upstreams: ProjectionView<UpstreamsState>;
  routing: ProjectionView<{ base: UpstreamsState; view: RoutingState }>;
  sessions: ProjectionView<SessionMapState>;
  tokens: TokenService;
  metrics: GatewayMetrics;
  logger: Logger;
  options: BrokerOptions;
}
