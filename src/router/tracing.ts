/**
 * The router's span per decision, applied to its replies (tracing on): a request Envoy sends on carries the
 * decision span's context in place of the client's (`traceparent`, `tracestate`, `baggage` header
 * mutations), so the backend or the broker continues the trace as its child; a request the router answers
 * itself ends the span as refused. See `observe/tracing/decision.ts` for the span.
 */
import { TRACE_CONTEXT_KEYS } from "../mcp/trace_context.ts";
import type { StreamState } from "./context.ts";
import { type CommonResponse, type ProcessingResponse, rawHeader } from "./proto.ts";
import { headerValue } from "./replies.ts";

/** The status Envoy's local reply will have. */
function replyStatus(reply: ProcessingResponse): number {
  const code = reply.immediate_response?.status?.code;
  return typeof code === "number" ? code : Number(code) || 500;
}

const decoder = new TextDecoder();

/** The JSON-RPC error code of a local reply's body (an unknown tool is refused on HTTP 200), if it has one. */
function replyErrorCode(reply: ProcessingResponse): string | undefined {
  try {
    const code = JSON.parse(decoder.decode(reply.immediate_response?.body))?.error?.code;
    return typeof code === "number" ? String(code) : undefined;
  } catch {
    return undefined;
  }
}

/** Records `reply` on the decision's span and, when the request goes on, puts the span's context on it. */
export function traceReply(state: StreamState, reply: ProcessingResponse): void {
  const trace = state.trace;
  if (!trace) return;
  if (reply.immediate_response) {
    return trace.refused(replyStatus(reply), reply.immediate_response.details, replyErrorCode(reply));
  }
  // The request's last word before Envoy sends it on: the body reply, or the headers reply when no body follows.
  let common: CommonResponse | null | undefined;
  if (reply.request_body) common = reply.request_body.response ??= {};
  else if (reply.request_headers && state.phases && !state.phases.body) {
    common = reply.request_headers.response ??= {};
  }
  if (!common) return;
  const carrier = trace.carrier();
  const mutation = common.header_mutation ??= {};
  const set = mutation.set_headers ??= [];
  for (const key of TRACE_CONTEXT_KEYS) {
    const value = carrier[key];
    if (value) set.push(rawHeader(key, headerValue(value)));
    else if (state.requestHeaders?.has(key)) (mutation.remove_headers ??= []).push(key);
  }
}
