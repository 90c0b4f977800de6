/**
 * Requests a backend answers (`tools/call`, `prompts/get`, `completion/complete`, `resources/read`,
 * `resources/subscribe`/`unsubscribe`) in the broker's own data path: the routing decision the router
 * also makes ({@link decideRoute}), then the request is forwarded over this session's backend session.
 */
import { prefixUri } from "../routing/aggregate.ts";
import { decideRoute } from "../routing/decide.ts";
import type { BrokerContext } from "./context.ts";
import type { Admitted } from "../admission/admit.ts";
import { forward, type ForwardDeps, type ForwardOptions } from "./forward.ts";
import { Relay } from "./relay.ts";

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
  session: Admitted,
  method: string,
  params: Record<string, unknown> | undefined,
  text: string,
  rawId: string,
): Promise<Response> {
  const decision = decideRoute(ctx.upstreams.state, ctx.routing.state.view, method, params, text, rawId);
  const server = ctx.upstreams.state.servers.get(decision.server)!.config;
  const options: ForwardOptions = {};
  if (method === "resources/read") options.rewriteResult = servedContents(server.toolPrefix);
  if (method === "tools/call") {
    const labels = { server: server.name, tool: decision.target.served };
    options.onAnswer = (status, seconds) => {
      const outcome = status === "unavailable" ? "unavailable" : status < 400 ? "ok" : "error";
      ctx.metrics.toolCalls.inc({ ...labels, outcome });
      if (status !== "unavailable") ctx.metrics.toolCallSeconds.observe({ server: server.name }, seconds);
    };
  }
  const res = await forward(ctx, deps, req, session, decision.body, server, rawId, options);
  if (method === "resources/subscribe" && res.ok) {
    // Updates for a subscription arrive on the backend session's own GET stream.
    const binding = await deps.binder.acquire(session.claims, server, rawId);
    const relay = new Relay(deps.store, ctx.logger, session.claims.id, server, binding);
    deps.streams.ensure(session.claims.id, server, binding, relay);
  }
  return res;
}
