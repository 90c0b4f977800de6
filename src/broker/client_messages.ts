/**
 * Messages from the client that are not requests: answers to a backend's request (routed back to the
 * backend session that asked, with its own id restored, or to the call the era bridge asked them for) and
 * notifications (cancellation of an in-flight call reaches the backend running it; the rest concern only the
 * gateway). Both are found through the session store, so they reach the right backend whichever path or
 * replica carried the call.
 */
import type { Admitted2025 } from "../admission/admit.ts";
import type { JsonRpcMessage } from "../mcp/jsonrpc.ts";
import { replaceId } from "../mcp/jsonrpc.ts";
import type { CallRoute } from "../session/store.ts";
import { postOnSession } from "./backend_transport.ts";
import type { BrokerContext } from "./context.ts";
import type { ForwardDeps } from "./forward.ts";

export async function handleClientMessage(
  ctx: BrokerContext,
  deps: ForwardDeps,
  admitted: Admitted2025,
  message: Exclude<JsonRpcMessage, { kind: "request" }>,
  text: string,
): Promise<Response> {
  const { session } = admitted;
  const accepted = () => new Response(null, { status: 202, headers: { "mcp-session-id": session.token } });
  const sessionId = session.claims.id;
  if (message.kind === "response") {
    const relayed = await deps.store.takeRelayed(sessionId, message.id);
    if (!relayed) {
      ctx.logger.debug("client answered a request nobody is waiting for", { id: message.rawId });
      return accepted();
    }
    if (relayed.waiter) {
      // Asked by the era bridge for a 2026 backend's `input_required`: the call waiting for it retries.
      await deps.bridge.answered(relayed, text);
      return accepted();
    }
    const status = await send(ctx, relayed, replaceId(text, relayed.backendRawId));
    if (status >= 400) {
      ctx.logger.warn("backend refused the client's answer", { server: relayed.server, status });
    }
    return accepted();
  }
  if (message.method === "notifications/cancelled" && message.params?.requestId !== undefined) {
    const rawId = JSON.stringify(message.params.requestId);
    // A call on a 2026 backend is cancelled by closing it; one on a backend session, by telling the backend.
    if (deps.statelessCalls.cancel(sessionId, rawId)) return accepted();
    const call = await deps.store.call(sessionId, rawId);
    if (call) await send(ctx, call, text);
  }
  return accepted();
}

/** Posts to the backend session a call ran on, if its server is still configured. */
function send(ctx: BrokerContext, route: CallRoute, body: string): Promise<number> {
  const server = ctx.upstreams.state.servers.get(route.server)?.config;
  if (!server) return Promise.resolve(404);
  return postOnSession(server, { id: route.backendSession, protocolVersion: route.protocolVersion }, body);
}
