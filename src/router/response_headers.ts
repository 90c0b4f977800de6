/**
 * Response-headers phase: the client only ever sees its gateway session id, never a backend's; a backend
 * that no longer knows its session is unbound so the next call initializes a fresh one. The spec says 404;
 * some servers (server-everything among them) answer 400 "No valid session ID". Only headers are seen
 * here, so a 400 to a routed call also unbinds: a spare re-initialize costs little, a stuck session a lot.
 * A 2026 request comes here only for its audit line (or when Envoy ignored the router's `mode_override`).
 */
import type { RouterContext, StreamState } from "./context.ts";
import { headerRecord, type HttpHeaders, type ProcessingResponse } from "./proto.ts";
import { responseHeadersReply } from "./replies.ts";

export function handleResponseHeaders(
  ctx: RouterContext,
  state: StreamState,
  message: HttpHeaders,
): ProcessingResponse {
  const status = headerRecord(message.headers).get(":status");
  const routed = state.routed;
  if (status) state.trace?.status(Number(status));
  if (state.audit) {
    // Envoy carries the body: the status is all the router sees of the outcome.
    ctx.audit?.record({ ...state.audit, outcome: status?.startsWith("2") ? "ok" : "error" });
    state.audit = undefined;
  }
  if ((status === "404" || status === "400") && routed && routed.backendSession !== "") {
    ctx.log.append({ type: "BackendSessionInvalidated", ...routed, reason: `backend answered ${status}` });
    ctx.logger.info("backend session invalidated", { session: routed.session, server: routed.server });
  }
  // 2026 has no sessions: nothing to put back (and a session id a 2026 client sent means nothing).
  const clientSession = state.era === "2026" ? undefined : state.requestHeaders?.get("mcp-session-id");
  return responseHeadersReply(clientSession ? { set: { "mcp-session-id": clientSession } } : {});
}
