/**
 * The projections a broker/router process folds, registered in one place: the gateway registers them on
 * its log, and a replay of a recorded log (`deno task replay`) folds the same ones, so both reach the same
 * state from the same events.
 */
import type { EventLog, ProjectionView } from "./events/log.ts";
import { explainProjection, type ExplainState } from "./observe/explain.ts";
import { type RoutingState, routingTableProjection } from "./routing/routing_table.ts";
import { upstreamsProjection, type UpstreamsState } from "./routing/upstreams.ts";
import { sessionMapProjection, type SessionMapState } from "./session/session_map.ts";

/** Events the in-process log keeps beyond projection state (`/debug/events`, late subscribers). */
export const EVENT_TAIL = 1024;

export interface GatewayViews {
  upstreams: ProjectionView<UpstreamsState>;
  routing: ProjectionView<{ base: UpstreamsState; view: RoutingState }>;
  sessions: ProjectionView<SessionMapState>;
  explain: ProjectionView<ExplainState>;
}

/** Registers the gateway's projections on `log`; call before the first event is appended. */
export function projectGateway(log: EventLog): GatewayViews {
  return {
    upstreams: log.project(upstreamsProjection),
    routing: log.project(routingTableProjection),
    sessions: log.project(sessionMapProjection),
    explain: log.project(explainProjection),
  };
}
