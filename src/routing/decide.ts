/**
 * The routing decision for a request that belongs to one backend — made here once, from the routing
 * projection, for both data paths: the broker forwards by it, the router tells Envoy by it. Only the name
 * or URI the client used is changed in the body (spliced, so every other byte survives).
 */
import { GatewayError } from "../mcp/errors.ts";
import { replaceAt } from "../mcp/jsonrpc.ts";
import { addressOf, resolveResource, type RoutingState } from "./routing_table.ts";
import type { UpstreamsState } from "./upstreams.ts";

/**
 * How long after a server stops serving its tools are answered "unavailable, retry" (HTTP 502, retryable)
 * rather than "unknown tool": long enough for a restart or a rolling update, short enough that a server
 * gone for good stops promising tools it may no longer have.
 */
export const UNAVAILABLE_GRACE_MS = 5 * 60_000;

export interface RoutingDecision {
  server: string;
  url: string;
  hostname: string;
  /** The backend URL's path, the `:path` of a routed request. */
  path: string;
  /** The body to send: the client's, with the routed name or URI rewritten. */
  body: string;
  /** What was routed by, for headers and metadata. */
  target: { kind: "tool" | "prompt" | "resource"; served: string; upstream: string };
  /** Tool annotation hints (`x-mcp-annotation-hints`), for tools. */
  annotationHints?: string;
}

function stringParam(
  params: Record<string, unknown> | undefined,
  key: string,
  method: string,
  rawId: string,
): string {
  const value = params?.[key];
  if (typeof value !== "string" || value === "") {
    throw new GatewayError("invalid-params", `Invalid params: ${method} requires params.${key}`, rawId);
  }
  return value;
}

export function decideRoute(
  upstreams: UpstreamsState,
  routing: RoutingState,
  method: string,
  params: Record<string, unknown> | undefined,
  text: string,
  rawId: string,
  now = Date.now(),
): RoutingDecision {
  const { table, catalog } = routing;
  const named = (kind: "tool" | "prompt", name: string, path: string[]): RoutingDecision => {
    const route = (kind === "tool" ? table.routes : table.prompts).get(name);
    if (!route) {
      throw kind === "tool"
        ? unknownTool(upstreams, table.dormantTools.get(name), name, rawId, now)
        : new GatewayError("invalid-params", `Invalid params: unknown prompt ${name}`, rawId);
    }
    return {
      server: route.server,
      url: route.url,
      hostname: route.hostname,
      path: route.path,
      body: name === route.upstreamName ? text : replaceAt(text, path, JSON.stringify(route.upstreamName)),
      target: { kind, served: name, upstream: route.upstreamName },
      annotationHints: kind === "tool" ? route.annotationHints : undefined,
    };
  };
  const resource = (uri: string, path: string[]): RoutingDecision => {
    const template = path.includes("ref") ? catalog.templates.items.find((t) => t.name === uri) : undefined;
    const route = template
      ? { server: template.server, upstreamUri: template.upstreamName }
      : resolveResource(upstreams, table, uri);
    const server = route && upstreams.servers.get(route.server)?.config;
    if (!route || !server) throw new GatewayError("resource-not-found", `Resource not found: ${uri}`, rawId);
    return {
      ...addressOf(server),
      body: uri === route.upstreamUri ? text : replaceAt(text, path, JSON.stringify(route.upstreamUri)),
      target: { kind: "resource", served: uri, upstream: route.upstreamUri },
    };
  };
  switch (method) {
    case "tools/call":
      return named("tool", stringParam(params, "name", method, rawId), ["params", "name"]);
    case "prompts/get":
      return named("prompt", stringParam(params, "name", method, rawId), ["params", "name"]);
    case "completion/complete": {
      const ref = params?.ref as Record<string, unknown> | undefined;
      if (ref?.type === "ref/prompt" && typeof ref.name === "string") {
        return named("prompt", ref.name, ["params", "ref", "name"]);
      }
      if (ref?.type === "ref/resource" && typeof ref.uri === "string") {
        return resource(ref.uri, ["params", "ref", "uri"]);
      }
      throw new GatewayError(
        "invalid-params",
        "Invalid params: completion/complete requires a ref/prompt or ref/resource",
        rawId,
      );
    }
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe":
      return resource(stringParam(params, "uri", method, rawId), ["params", "uri"]);
    default:
      throw new Error(`${method} is not a routed method`);
  }
}

/**
 * A tool nobody serves: unknown, unless its server is known and only not serving right now. Then the client
 * hears why: disabled (not retryable), or unavailable within the grace period (retryable, with when).
 */
function unknownTool(
  upstreams: UpstreamsState,
  serverName: string | undefined,
  name: string,
  rawId: string,
  now: number,
): GatewayError {
  const server = serverName === undefined ? undefined : upstreams.servers.get(serverName);
  if (!server) return new GatewayError("unknown-tool", `Unknown tool: ${name}`, rawId);
  if (server.status === "disabled") {
    return new GatewayError(
      "unknown-tool",
      `Unknown tool: ${name} (server ${serverName} is disabled)`,
      rawId,
      {
        data: { server: serverName, status: "disabled" },
      },
    );
  }
  if (now - (server.unavailableSince ?? now) > UNAVAILABLE_GRACE_MS) {
    return new GatewayError(
      "unknown-tool",
      `Unknown tool: ${name} (server ${serverName} is ${server.status})`,
      rawId,
      {
        data: { server: serverName, status: server.status },
      },
    );
  }
  const why = server.lastError
    ? `${server.lastError.stage} failed: ${server.lastError.reason}`
    : "reconnecting";
  return new GatewayError("upstream-unavailable", `Server ${serverName} is unavailable: ${why}`, rawId, {
    data: { server: serverName, status: server.status, retryable: true },
    retryAfterMs: Math.max(1_000, (server.nextAttemptAt ?? now) - now),
  });
}
