/**
 * `tools/list`: the aggregated view, served from the projection's pre-rendered JSON. A virtual server
 * (`X-Mcp-Virtualserver: <name>`) narrows it to the tools that virtual server names.
 */
import { resultText } from "../mcp/jsonrpc.ts";
import type { BrokerContext } from "./context.ts";

export function handleToolsList(ctx: BrokerContext, req: Request, rawId: string, token: string): Response {
  const view = ctx.routing.state.view.view;
  let json = view.json;
  const virtualName = req.headers.get("x-mcp-virtualserver");
  if (virtualName) {
    const virtual = ctx.upstreams.state.config.virtualServers.find((v) => v.name === virtualName);
    if (virtual) {
      const allowed = new Set(virtual.tools);
      json = JSON.stringify(view.tools.filter((t) => allowed.has(t.name)).map((t) => t.tool));
    } else ctx.logger.warn("unknown virtual server; serving every tool", { virtualServer: virtualName });
  }
  return new Response(resultText(rawId, `{"tools":${json}}`), {
    headers: { "content-type": "application/json", "mcp-session-id": token },
  });
}
