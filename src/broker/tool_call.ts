/**
 * `tools/call` in the broker's own data path (no Envoy in front): the routing decision the router also
 * makes, from the same routing table, then the call goes to the owning backend with only `params.name`
 * changed.
 */
import { GatewayError } from "../mcp/errors.ts";
import { replaceParamsName } from "../mcp/jsonrpc.ts";
import type { ToolRoute } from "../routing/routing_table.ts";
import type { BrokerContext } from "./context.ts";
import { forward, type ForwardDeps } from "./forward.ts";
import type { AuthenticatedSession } from "./session.ts";

/** Resolves a served tool name to its route, or the JSON-RPC error a client expects (-32602). */
export function routeTool(
  ctx: BrokerContext,
  params: Record<string, unknown> | undefined,
  rawId: string,
): ToolRoute {
  const name = params?.name;
  if (typeof name !== "string" || name === "") {
    throw new GatewayError("invalid-params", "Invalid params: tools/call requires params.name", rawId);
  }
  const route = ctx.routing.state.view.table.routes.get(name);
  if (!route) throw new GatewayError("unknown-tool", `Unknown tool: ${name}`, rawId);
  return route;
}

export function forwardToolCall(
  ctx: BrokerContext,
  deps: ForwardDeps,
  req: Request,
  session: AuthenticatedSession,
  text: string,
  route: ToolRoute,
  rawId: string,
): Promise<Response> {
  const server = ctx.upstreams.state.servers.get(route.server)!.config;
  const labels = { server: route.server, tool: route.servedName };
  return forward(ctx, deps, req, session, replaceParamsName(text, route.upstreamName), server, rawId, {
    onAnswer: (status, seconds) => {
      const outcome = status === "unavailable" ? "unavailable" : status < 400 ? "ok" : "error";
      ctx.metrics.toolCalls.inc({ ...labels, outcome });
      if (status !== "unavailable") ctx.metrics.toolCallSeconds.observe({ server: route.server }, seconds);
    },
  });
}
