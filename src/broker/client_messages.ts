/**
 * Messages from the client that are not requests: answers to a backend's request (routed back to the
 * backend session that asked, with its own id restored) and notifications (cancellation of an in-flight
 * call reaches the backend running it; the rest concern only the gateway).
 */
import type { JsonRpcMessage } from "../mcp/jsonrpc.ts";
import { replaceId } from "../mcp/jsonrpc.ts";
import type { BrokerContext } from "./context.ts";
import { backendHeaders } from "./backend_sessions.ts";
import type { ForwardDeps } from "./forward.ts";
import type { AuthenticatedSession } from "./session.ts";

async function post(url: string, headers: Record<string, string>, body: string): Promise<number> {
  try {
    const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 502;
  }
}

export async function handleClientMessage(
  ctx: BrokerContext,
  deps: ForwardDeps,
  session: AuthenticatedSession,
  message: Exclude<JsonRpcMessage, { kind: "request" }>,
  text: string,
): Promise<Response> {
  const headers = { "mcp-session-id": session.token };
  if (message.kind === "response") {
    const pending = deps.pending.take(session.claims.id, message.id);
    if (!pending) {
      ctx.logger.debug("client answered a request nobody is waiting for", { id: message.rawId });
      return new Response(null, { status: 202, headers });
    }
    const status = await post(
      pending.server.url,
      backendHeaders(pending.server, pending.binding),
      replaceId(text, pending.backendRawId),
    );
    if (status >= 400) {
      ctx.logger.warn("backend refused the client's answer", { server: pending.server.name, status });
    }
    return new Response(null, { status: 202, headers });
  }
  if (message.method === "notifications/cancelled" && message.params?.requestId !== undefined) {
    const key = `${session.claims.id}\0${JSON.stringify(message.params.requestId)}`;
    const inflight = deps.inflight.get(key);
    if (inflight) {
      await post(inflight.server.url, backendHeaders(inflight.server, inflight.binding), text);
    }
  }
  return new Response(null, { status: 202, headers });
}
