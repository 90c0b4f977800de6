/**
 * The list methods: answered from the routing projection's pre-rendered catalog, never by asking backends,
 * and narrowed to what the caller may see ({@link visibleList}: capabilities, virtual server, declared
 * client capabilities).
 */
import type { Admitted } from "../admission/admit.ts";
import { GatewayError } from "../mcp/errors.ts";
import { resultText } from "../mcp/jsonrpc.ts";
import type { MethodRoute } from "../mcp/methods.ts";
import { selectedVirtualServer, visibleList } from "../routing/visibility.ts";
import type { BrokerContext } from "./context.ts";

export function handleList(
  ctx: BrokerContext,
  route: Extract<MethodRoute, { answer: "list" }>,
  params: Record<string, unknown> | undefined,
  rawId: string,
  session: Admitted,
): Response {
  // Every list fits in one page: a cursor from a client can only be one we never issued.
  if (params?.cursor !== undefined) {
    throw new GatewayError(
      "invalid-params",
      "Invalid params: unknown cursor (the gateway lists in one page)",
      rawId,
    );
  }
  const { identity, claims } = session;
  const virtual = selectedVirtualServer(ctx.upstreams.state.config.virtualServers, identity);
  if (identity.virtualServer && !virtual) {
    ctx.logger.warn("unknown virtual server; serving the full list", {
      virtualServer: identity.virtualServer,
    });
  }
  const catalog = ctx.routing.state.view.catalog;
  const { json } = visibleList(catalog, route.list, identity, virtual, claims.clientCapabilities);
  return new Response(resultText(rawId, `{"${route.field}":${json}}`), {
    headers: { "content-type": "application/json", "mcp-session-id": session.token },
  });
}
