/**
 * The list methods: answered from the routing projection's pre-rendered catalog, never by asking backends.
 * A virtual server (`X-Mcp-Virtualserver: <name>`) narrows tools (and prompts, when it names them).
 */
import { GatewayError } from "../mcp/errors.ts";
import { resultText } from "../mcp/jsonrpc.ts";
import type { Admitted } from "../admission/admit.ts";
import type { MethodRoute } from "../mcp/methods.ts";
import type { AggregatedView } from "../routing/aggregate.ts";
import { toolsFor } from "../routing/tool_view.ts";
import type { BrokerContext } from "./context.ts";

function filtered(view: AggregatedView, allowed: readonly string[] | undefined): string {
  if (!allowed) return view.json;
  const names = new Set(allowed);
  return JSON.stringify(view.items.filter((t) => names.has(t.name)).map((t) => t.item));
}

export function handleList(
  ctx: BrokerContext,
  req: Request,
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
  const { list: key, field } = route;
  const catalog = ctx.routing.state.view.catalog;
  let view: AggregatedView = catalog[key];
  let json = view.json;
  if (key === "tools") {
    const visible = toolsFor(catalog.tools, session.claims.clientCapabilities);
    json = visible.json;
    view = { ...view, items: visible.items };
  }
  const virtualName = req.headers.get("x-mcp-virtualserver");
  if (virtualName && (key === "tools" || key === "prompts")) {
    const virtual = ctx.upstreams.state.config.virtualServers.find((v) => v.name === virtualName);
    if (virtual) json = filtered(view, key === "tools" ? virtual.tools : virtual.prompts);
    else ctx.logger.warn("unknown virtual server; serving the full list", { virtualServer: virtualName });
  }
  return new Response(resultText(rawId, `{"${field}":${json}}`), {
    headers: { "content-type": "application/json", "mcp-session-id": session.token },
  });
}
