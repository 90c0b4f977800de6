/**
 * The list methods: answered from the routing projection's pre-rendered catalog, never by asking backends,
 * and narrowed to what the caller may see ({@link visibleList}: capabilities, virtual server, declared
 * client capabilities). A 2026 client's answer also carries the list's cache hint: the aggregate of the
 * contributing upstreams' ({@link listCacheHint}), `private` when the answer depends on the caller.
 */
import type { Admitted } from "../admission/admit.ts";
import { listResultText } from "../era/frame.ts";
import { GatewayError } from "../mcp/errors.ts";
import { resultText } from "../mcp/jsonrpc.ts";
import type { MethodRoute } from "../mcp/methods.ts";
import { listCacheHint } from "../routing/list_cache.ts";
import { selectedVirtualServer, visibleList } from "../routing/visibility.ts";
import type { BrokerContext } from "./context.ts";

export function handleList(
  ctx: BrokerContext,
  route: Extract<MethodRoute, { answer: "list" }>,
  params: Record<string, unknown> | undefined,
  rawId: string,
  admitted: Admitted,
): Response {
  // Every list fits in one page: a cursor from a client can only be one we never issued.
  if (params?.cursor !== undefined) {
    throw new GatewayError(
      "invalid-params",
      "Invalid params: unknown cursor (the gateway lists in one page)",
      rawId,
    );
  }
  const { identity, envelope, session } = admitted;
  const virtual = selectedVirtualServer(ctx.upstreams.state.config.virtualServers, identity);
  if (identity.virtualServer && !virtual) {
    ctx.logger.warn("unknown virtual server; serving the full list", {
      virtualServer: identity.virtualServer,
    });
  }
  const catalog = ctx.routing.state.view.catalog;
  const visible = visibleList(catalog, route.list, identity, virtual, envelope.capabilities);
  const upstream = listCacheHint(ctx.upstreams.state, route.list);
  const hint = {
    ttlMs: upstream.ttlMs,
    cacheScope: visible.cacheScope === "private" ? "private" as const : upstream.cacheScope,
  };
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (session) headers["mcp-session-id"] = session.token;
  return new Response(
    resultText(rawId, listResultText(admitted.era, route.field, visible.json, hint)),
    { headers },
  );
}
