/**
 * Requests that belong to one backend, besides `tools/call`: `prompts/get`, `resources/read`,
 * `resources/subscribe`/`unsubscribe` and `completion/complete`. Each is routed by the name or URI the
 * client used, from the same routing projection, with only that name or URI changed in the body.
 */
import type { ServerConfig } from "../events/types.ts";
import { GatewayError } from "../mcp/errors.ts";
import { replaceAt } from "../mcp/jsonrpc.ts";
import { prefixUri } from "../routing/aggregate.ts";
import { resolveResource } from "../routing/routing_table.ts";
import type { BrokerContext } from "./context.ts";
import { forward, type ForwardDeps, Relay } from "./forward.ts";
import type { AuthenticatedSession } from "./session.ts";

export const ROUTED_METHODS = new Set([
  "prompts/get",
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "completion/complete",
]);

interface Decision {
  server: ServerConfig;
  body: string;
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

function serverOf(ctx: BrokerContext, name: string): ServerConfig {
  return ctx.upstreams.state.servers.get(name)!.config;
}

function decidePrompt(
  ctx: BrokerContext,
  text: string,
  name: string,
  path: string[],
  rawId: string,
): Decision {
  const route = ctx.routing.state.view.table.prompts.get(name);
  if (!route) throw new GatewayError("invalid-params", `Invalid params: unknown prompt ${name}`, rawId);
  return {
    server: serverOf(ctx, route.server),
    body: replaceAt(text, path, JSON.stringify(route.upstreamName)),
  };
}

function decideResource(
  ctx: BrokerContext,
  text: string,
  uri: string,
  path: string[],
  rawId: string,
): Decision {
  const route = resolveResource(ctx.upstreams.state, ctx.routing.state.view.table, uri);
  if (!route) throw new GatewayError("resource-not-found", `Resource not found: ${uri}`, rawId);
  return {
    server: serverOf(ctx, route.server),
    body: replaceAt(text, path, JSON.stringify(route.upstreamUri)),
  };
}

function decideTemplate(ctx: BrokerContext, text: string, uri: string, rawId: string): Decision {
  const served = ctx.routing.state.view.catalog.templates.items.find((t) => t.name === uri);
  if (served) {
    return {
      server: serverOf(ctx, served.server),
      body: replaceAt(text, ["params", "ref", "uri"], JSON.stringify(served.upstreamName)),
    };
  }
  return decideResource(ctx, text, uri, ["params", "ref", "uri"], rawId);
}

/** The routing decision for a routed method. */
export function decide(
  ctx: BrokerContext,
  method: string,
  params: Record<string, unknown> | undefined,
  text: string,
  rawId: string,
): Decision {
  switch (method) {
    case "prompts/get":
      return decidePrompt(ctx, text, stringParam(params, "name", method, rawId), ["params", "name"], rawId);
    case "completion/complete": {
      const ref = params?.ref as Record<string, unknown> | undefined;
      if (ref?.type === "ref/prompt" && typeof ref.name === "string") {
        return decidePrompt(ctx, text, ref.name, ["params", "ref", "name"], rawId);
      }
      if (ref?.type === "ref/resource" && typeof ref.uri === "string") {
        return decideTemplate(ctx, text, ref.uri, rawId);
      }
      throw new GatewayError(
        "invalid-params",
        "Invalid params: completion/complete requires a ref/prompt or ref/resource",
        rawId,
      );
    }
    default:
      return decideResource(ctx, text, stringParam(params, "uri", method, rawId), ["params", "uri"], rawId);
  }
}

/** `contents[].uri` of a `resources/read` result, back to the URIs the client knows. */
function servedContents(prefix: string) {
  return (result: Record<string, unknown>) => {
    if (!prefix || !Array.isArray(result.contents)) return result;
    return {
      ...result,
      contents: result.contents.map((c: Record<string, unknown>) =>
        typeof c?.uri === "string" ? { ...c, uri: prefixUri(prefix, c.uri) } : c
      ),
    };
  };
}

export async function forwardRouted(
  ctx: BrokerContext,
  deps: ForwardDeps,
  req: Request,
  session: AuthenticatedSession,
  method: string,
  params: Record<string, unknown> | undefined,
  text: string,
  rawId: string,
): Promise<Response> {
  const { server, body } = decide(ctx, method, params, text, rawId);
  const res = await forward(ctx, deps, req, session, body, server, rawId, {
    rewriteResult: method === "resources/read" ? servedContents(server.toolPrefix) : undefined,
  });
  if (method === "resources/subscribe" && res.ok) {
    // Updates for a subscription arrive on the backend session's own GET stream.
    const binding = await deps.backends.acquire(session.claims, server);
    deps.streams.ensure(session.claims.id, server, binding, new Relay(ctx, deps, session, server, binding));
  }
  return res;
}
