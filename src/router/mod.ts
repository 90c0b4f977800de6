/**
 * The router role: an Envoy ext_proc server that turns each HTTP request into a routing decision from the
 * routing-table and session-map projections. See docs/envoy.md for the Envoy side.
 */
import type { Admission } from "../admission/admit.ts";
import type { AuditLog } from "../identity/audit.ts";
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { Logger } from "../observe/log.ts";
import type { GatewayTracer } from "../observe/tracing/tracer.ts";
import { BackendBinder } from "../session/backend_binder.ts";
import type { SessionMapState } from "../session/session_map.ts";
import type { SessionStore } from "../session/store.ts";
import type { TokenService } from "../session/tokens.ts";
import { openThroughEnvoy } from "./backend_sessions.ts";
import type { RouterContext, RoutingView } from "./context.ts";
import { serveExtProc } from "./server.ts";

export { METADATA_NAMESPACE } from "./replies.ts";

/** Default request body limit, as the reference router's `--max-request-body-size`. */
export const DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024;

export interface RouterOptions {
  /** "host:port", port may be 0. */
  address: string;
  /** Share the port with other processes (local workers): SO_REUSEPORT. */
  reusePort?: boolean;
  /** The broker's public host (`--mcp-gateway-public-host`), e.g. "mcp.127-0-0-1.sslip.io:8888". */
  publicHost: string;
  /** `host:port` of the Envoy listener the hairpin initialize goes through (`--mcp-gateway-private-host`). */
  privateHost: string;
  maxBodyBytes: number;
  log: EventLog;
  tokens: TokenService;
  /** The broker's admission: both paths refuse the same requests the same way. */
  admission: Admission;
  /** Shared with the broker, so follow-ups find calls whichever path carried them. */
  store: SessionStore;
  audit?: AuditLog;
  logger: Logger;
  /** `log.project(routingTableProjection)`. */
  routing: RoutingView;
  /** `log.project(sessionMapProjection)`. */
  sessions: ProjectionView<SessionMapState>;
  /** The gateway's tracer, while tracing is on: a span per decision. */
  tracer?: GatewayTracer;
}

export interface RunningRouter {
  port: number;
  /**
   * Stops accepting ext_proc streams and lets open ones finish; after `graceMs` (default 2 s) the rest are
   * cut. Open streams are requests Envoy is still processing (a long SSE response keeps its stream open).
   */
  close(graceMs?: number): Promise<void>;
  /**
   * Backend sessions that carried a session's latest call through Envoy. Its answer streams from the backend
   * through Envoy without passing the gateway, so a shutdown must not DELETE them under it.
   */
  routedBackendSessions(): Promise<Set<string>>;
}

export async function startRouter(o: RouterOptions): Promise<RunningRouter> {
  const logger = o.logger.with({ component: "router" });
  const ctx: RouterContext = {
    publicHost: o.publicHost,
    maxBodyBytes: o.maxBodyBytes || DEFAULT_MAX_BODY_BYTES,
    tokens: o.tokens,
    admission: o.admission,
    routing: o.routing,
    sessions: o.sessions,
    log: o.log,
    logger,
    store: o.store,
    audit: o.audit,
    tracer: o.tracer,
    binder: new BackendBinder(
      o.log,
      o.sessions,
      o.store,
      openThroughEnvoy({ privateHost: o.privateHost, tokens: o.tokens }),
    ),
  };
  const { port, server } = await serveExtProc(ctx, o.address, o.reusePort);
  const host = o.address.slice(0, o.address.lastIndexOf(":"));
  logger.info("router listening", { address: `${host}:${port}` });
  return {
    port,
    async routedBackendSessions() {
      const latest = await Promise.all([...o.sessions.state.open.keys()].map((id) => o.store.latestCall(id)));
      return new Set(latest.filter((c) => c?.viaEnvoy && c.backendSession).map((c) => c!.backendSession));
    },
    close: (graceMs = 2_000) =>
      new Promise<void>((resolve) => {
        // In-flight streams (long SSE responses) would hold a graceful shutdown open forever.
        const timer = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
