/**
 * Projection: where each request goes. The broker's own data path and the Envoy router both route from
 * this one table, so the two paths cannot disagree. It also carries the aggregated catalog it was built
 * from, which is what the list methods answer with.
 */
import { prefixName, type ServedItem, unprefixUri } from "./aggregate.ts";
import { derivedProjection } from "./derived.ts";
import type { ServerConfig } from "../config/schema.ts";
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
  routes: ReadonlyMap<string, ToolRoute>;
  prompts: ReadonlyMap<string, ToolRoute>;
  /** Listed resources: served URI → route. */
  resources: ReadonlyMap<string, ResourceRoute>;
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

export function addressOf(server: ServerConfig): BackendAddress {
  const url = new URL(server.url);
  return { server: server.name, url: server.url, hostname: server.hostname, path: url.pathname + url.search };
}

function namedRoutes(upstreams: UpstreamsState, items: readonly ServedItem[], withHints: boolean) {
  const routes = new Map<string, ToolRoute>();
  for (const served of items) {
    routes.set(served.name, {
      ...addressOf(upstreams.servers.get(served.server)!.config),
      servedName: served.name,
      upstreamName: served.upstreamName,
      annotationHints: withHints ? annotationHints(served.item.annotations) : "",
    });
  }
  return routes;
}

export function buildRoutingTable(upstreams: UpstreamsState, catalog: Catalog): RoutingTable {
  const resources = new Map<string, ResourceRoute>();
  for (const served of catalog.resources.items) {
    resources.set(served.name, {
      ...addressOf(upstreams.servers.get(served.server)!.config),
      upstreamUri: served.upstreamName,
    });
  }
  const uriPrefixes = [...upstreams.servers.values()]
    .filter((s) => s.status === "ready" && s.config.enabled)
    .map((s) => ({
      prefix: s.config.toolPrefix,
      server: s.config.name,
      templates: s.templates.map((t) => String(t.uriTemplate)),
    }))
    .sort((a, b) => b.prefix.length - a.prefix.length);
  const routes = namedRoutes(upstreams, catalog.tools.items, true);
  const dormantTools = new Map<string, string>();
  for (const s of upstreams.servers.values()) {
    if (s.status === "ready") continue;
    for (const name of s.knownTools) {
      const served = prefixName(s.config.toolPrefix, name);
      if (!routes.has(served) && !dormantTools.has(served)) dormantTools.set(served, s.config.name);
    }
  }
  return {
    routes,
    prompts: namedRoutes(upstreams, catalog.prompts.items, false),
    resources,
    dormantTools,
    uriPrefixes,
    version: catalog.tools.version,
  };
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
}

/** Rebuilt only when the catalog or the config changes. */
export const routingTableProjection = derivedProjection<UpstreamsState, RoutingState>(
  "routingTable",
  upstreamsProjection,
  (upstreams, previous) => {
    const catalog = buildCatalog(upstreams, previous?.catalog);
    const digest = upstreams.configDigest;
    if (previous && previous.catalog === catalog && previous.digest === digest) return previous;
    return { view: catalog.tools, catalog, table: buildRoutingTable(upstreams, catalog), digest };
  },
);
