/**
 * The list methods: answered from the routing projection's pre-rendered catalog, never by asking backends.
 * A virtual server (`X-Mcp-Virtualserver: <name>`) narrows tools (and prompts, when it names them).
 */
import { GatewayError } from "../mcp/errors.ts";
import { resultText } from "../mcp/jsonrpc.ts";
import type { AggregatedView } from "../routing/aggregate.ts";
import { toolsFor } from "../routing/tool_view.ts";
import type { BrokerContext } from "./context.ts";
import type { AuthenticatedSession } from "./session.ts";

const LISTS = {
  "tools/list": { view: "tools", field: "tools" },
  "prompts/list": { view: "prompts", field: "prompts" },
  "resources/list": { view: "resources", field: "resources" },
  "resources/templates/list": { view: "templates", field: "resourceTemplates" },
} as const;

export type ListMethod = keyof typeof LISTS;

export function isListMethod(method: string): method is ListMethod {
  return method in LISTS;
}

function filtered(view: AggregatedView, allowed: readonly string[] | undefined): string {
  if (!allowed) return view.json;
  const names = new Set(allowed);
  return JSON.stringify(view.items.filter((t) => names.has(t.name)).map((t) => t.item));
}

export function handleList(
  ctx: BrokerContext,
  req: Request,
  method: ListMethod,
  params: Record<string, unknown> | undefined,
  rawId: string,
  session: AuthenticatedSession,
): Response {
  // Every list fits in one page: a cursor from a client can only be one we never issued.
  if (params?.cursor !== undefined) {
    throw new GatewayError(
      "invalid-params",
      "Invalid params: unknown cursor (the gateway lists in one page)",
      rawId,
    );
  }
  const { view: key, field } = LISTS[method];
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
