/**
 * Projection: where each request goes. The broker's own data path and the Envoy router both route from
 * this one table, so the two paths cannot disagree. It also carries the aggregated catalog it was built
 * from, which is what the list methods answer with.
 */
import { type AggregatedView, prefixName, type ServedItem, unprefixUri } from "./aggregate.ts";
import { PersistentMap } from "./persistent_map.ts";
import { derivedProjection } from "./derived.ts";
import type { GatewayConfig, ServerConfig } from "../config/schema.ts";
import { buildCatalog, type Catalog, type ToolView } from "./tool_view.ts";
import { upstreamsProjection, type UpstreamsState } from "./upstreams.ts";

/** Where requests for a server go: its URL, the authority Envoy routes by, and the URL's path. */
export interface BackendAddress {
  server: string;
  /** Full backend URL (the broker connects here). */
  url: string;
  /** Authority Envoy routes requests by. */
  hostname: string;
  /** Path component of `url`: the `:path` of a routed request. */
  path: string;
}

/** Where a named item (tool or prompt) lives. */
export interface ToolRoute extends BackendAddress {
  /** Name clients use. */
  servedName: string;
  /** Name the backend knows it by (prefix stripped). */
  upstreamName: string;
  /** `readOnly=…,destructive=…,idempotent=…,openWorld=…` for `x-mcp-annotation-hints` (tools). */
  annotationHints: string;
}

/** Where a resource URI lives, and its URI on that server. */
export interface ResourceRoute extends BackendAddress {
  upstreamUri: string;
}

export interface RoutingTable {
  /** Tools: served name → route. */
  routes: PersistentMap<ToolRoute>;
  prompts: PersistentMap<ToolRoute>;
  /** Listed resources: served URI → route. */
  resources: PersistentMap<ResourceRoute>;
  /**
   * Tools of servers that are not serving (down, reconnecting, disabled), by the name clients knew them
   * under: served name → server. Names a serving server owns are not here.
   */
  dormantTools: ReadonlyMap<string, string>;
  /** Servers with their prefix, longest prefix first: resolves URIs no list named (templates, dynamic). */
  uriPrefixes: readonly { prefix: string; server: string; templates: readonly string[] }[];
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

const addresses = new WeakMap<ServerConfig, BackendAddress>();

/** Where a server's requests go; worked out once per server config (a URL parse per route adds up). */
export function addressOf(server: ServerConfig): BackendAddress {
  let address = addresses.get(server);
  if (!address) {
    const url = new URL(server.url);
    address = {
      server: server.name,
      url: server.url,
      hostname: server.hostname,
      path: url.pathname + url.search,
    };
    addresses.set(server, address);
  }
  return address;
}

function toolRoute(upstreams: UpstreamsState, served: ServedItem, withHints: boolean): ToolRoute {
  return {
    ...addressOf(upstreams.servers.get(served.server)!.config),
    servedName: served.name,
    upstreamName: served.upstreamName,
    annotationHints: withHints ? annotationHints(served.item.annotations) : "",
  };
}

function resourceRoute(upstreams: UpstreamsState, served: ServedItem): ResourceRoute {
  return { ...addressOf(upstreams.servers.get(served.server)!.config), upstreamUri: served.upstreamName };
}

/**
 * Routes by served name for one list: only the names that changed since `previous` was built (when this
 * view was built from the one `previous` was, and under the same config), else every name.
 */
function routesOf<R>(
  view: AggregatedView,
  previous: { view: AggregatedView; routes: PersistentMap<R> } | undefined,
  sameConfig: boolean,
  route: (served: ServedItem) => R,
): PersistentMap<R> {
  if (previous && sameConfig && previous.view === view) return previous.routes;
  if (previous && sameConfig && view.changes.from === previous.view.id && !view.changes.full) {
    const changes: [string, R | undefined][] = [];
    for (const [name, change] of view.changes.names) {
      changes.push([name, change.after && route(change.after)]);
    }
    return previous.routes.with(changes);
  }
  return PersistentMap.from([...view.owners.values()].map((served) => [served.name, route(served)] as const));
}

/**
 * The routing table for `catalog`; with the table built for the catalog before it, only the names that
 * changed are routed anew (a change costs in proportion to the server that changed).
 */
export function buildRoutingTable(
  upstreams: UpstreamsState,
  catalog: Catalog,
  previous?: { catalog: Catalog; table: RoutingTable; config: unknown },
): RoutingTable {
  const sameConfig = previous?.config === upstreams.config;
  const routes = routesOf(
    catalog.tools,
    previous && { view: previous.catalog.tools, routes: previous.table.routes },
    sameConfig,
    (served) => toolRoute(upstreams, served, true),
  );
  const prompts = routesOf(
    catalog.prompts,
    previous && { view: previous.catalog.prompts, routes: previous.table.prompts },
    sameConfig,
    (served) => toolRoute(upstreams, served, false),
  );
  const resources = routesOf(
    catalog.resources,
    previous && { view: previous.catalog.resources, routes: previous.table.resources },
    sameConfig,
    (served) => resourceRoute(upstreams, served),
  );
  const uriPrefixes = [...upstreams.servers.values()]
    .filter((s) => s.status === "ready" && s.config.enabled)
    .map((s) => ({
      prefix: s.config.toolPrefix,
      server: s.config.name,
      templates: s.templates.map((t) => String(t.uriTemplate)),
    }))
    .sort((a, b) => b.prefix.length - a.prefix.length);
  const dormantTools = new Map<string, string>();
  for (const s of upstreams.servers.values()) {
    if (s.status === "ready") continue;
    for (const name of s.knownTools) {
      const served = prefixName(s.config.toolPrefix, name);
      if (!routes.has(served) && !dormantTools.has(served)) dormantTools.set(served, s.config.name);
    }
  }
  return { routes, prompts, resources, dormantTools, uriPrefixes, version: catalog.tools.version };
}

/**
 * Finds the server for a resource URI: an exact listed URI first; otherwise the server whose prefix the URI
 * carries (longest first), preferring one with a template that matches what is left.
 */
export function resolveResource(
  upstreams: UpstreamsState,
  table: RoutingTable,
  uri: string,
): ResourceRoute | undefined {
  const listed = table.resources.get(uri);
  if (listed) return listed;
  let fallback: { server: string; upstreamUri: string } | undefined;
  for (const candidate of table.uriPrefixes) {
    const upstreamUri = unprefixUri(candidate.prefix, uri);
    if (upstreamUri === undefined) continue;
    if (candidate.templates.some((t) => templateMatches(t, upstreamUri))) {
      fallback = { server: candidate.server, upstreamUri };
      break;
    }
    fallback ??= { server: candidate.server, upstreamUri };
  }
  if (!fallback) return undefined;
  return { ...addressOf(upstreams.servers.get(fallback.server)!.config), upstreamUri: fallback.upstreamUri };
}

/** RFC 6570 level-1 match: each `{var}` stands for one or more characters without `/`. */
export function templateMatches(template: string, uri: string): boolean {
  const pattern = template.split(/\{[^}]*\}/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(
    "[^/]+",
  );
  return new RegExp(`^${pattern}$`).test(uri);
}

export interface RoutingState {
  /** The tool view (what `tools/list` answers). */
  view: ToolView;
  catalog: Catalog;
  table: RoutingTable;
  digest: string;
  /** The config the table was built under (routes carry its addresses). */
  config: GatewayConfig;
}

/** Rebuilt only when the catalog or the config changes, and then only for what changed. */
export const routingTableProjection = derivedProjection<UpstreamsState, RoutingState>(
  "routingTable",
  upstreamsProjection,
  (upstreams, previous) => {
    const catalog = buildCatalog(upstreams, previous?.catalog);
    const digest = upstreams.configDigest;
    if (previous && previous.catalog === catalog && previous.digest === digest) return previous;
    const table = buildRoutingTable(upstreams, catalog, previous);
    return { view: catalog.tools, catalog, table, digest, config: upstreams.config };
  },
);
