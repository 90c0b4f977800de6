/**
 * Projection: served tool name → where a call goes. The broker's own data path and the Envoy router both
 * route from this one table, so the two paths cannot disagree.
 */
import { derivedProjection } from "./derived.ts";
import { buildToolView, type ToolView } from "./tool_view.ts";
import { upstreamsProjection, type UpstreamsState } from "./upstreams.ts";

export interface ToolRoute {
  /** Name clients call. */
  servedName: string;
  server: string;
  /** Name the backend knows the tool by (prefix stripped). */
  upstreamName: string;
  /** Full backend URL (the broker connects here). */
  url: string;
  /** Authority Envoy routes the call by. */
  hostname: string;
  /** Path component of `url`, the `:path` of a routed call. */
  path: string;
  /** `readOnly=…,destructive=…,idempotent=…,openWorld=…` for `x-mcp-annotation-hints`. */
  annotationHints: string;
}

export interface RoutingTable {
  routes: ReadonlyMap<string, ToolRoute>;
  /** Tool-view version this table was built from. */
  version: number;
}

function hint(value: unknown): string {
  return typeof value === "boolean" ? String(value) : "unspecified";
}

/** Renders the annotation hints header from a tool's MCP annotations. */
export function annotationHints(annotations: unknown): string {
  const a = (annotations ?? {}) as Record<string, unknown>;
  return `readOnly=${hint(a.readOnlyHint)},destructive=${hint(a.destructiveHint)},idempotent=${
    hint(a.idempotentHint)
  },openWorld=${hint(a.openWorldHint)}`;
}

export function buildRoutingTable(upstreams: UpstreamsState, view: ToolView): RoutingTable {
  const routes = new Map<string, ToolRoute>();
  for (const served of view.tools) {
    const server = upstreams.servers.get(served.server)!.config;
    const url = new URL(server.url);
    routes.set(served.name, {
      servedName: served.name,
      server: server.name,
      upstreamName: served.upstreamName,
      url: server.url,
      hostname: server.hostname,
      path: url.pathname + url.search,
      annotationHints: annotationHints(served.tool.annotations),
    });
  }
  return { routes, version: view.version };
}

/**
 * Rebuilt only when the tool view changes. (A hostname or URL edit without a reconnect changes the
 * connection key, so it reaches this table through the view as well.)
 */
export const routingTableProjection = derivedProjection<
  UpstreamsState,
  { view: ToolView; table: RoutingTable; digest: string }
>(
  "routingTable",
  upstreamsProjection,
  (upstreams, previous) => {
    const view = buildToolView(upstreams, previous?.view);
    const digest = upstreams.configDigest;
    if (previous && previous.view === view && previous.digest === digest) return previous;
    return { view, table: buildRoutingTable(upstreams, view), digest };
  },
);
