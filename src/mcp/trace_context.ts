/**
 * W3C trace context (`traceparent`, `tracestate`) and baggage where MCP carries them: in HTTP headers, and in
 * a request's `params._meta` (SEP-414: the keys unprefixed, as the OpenTelemetry MCP conventions propagate
 * them). Bodies are spliced, never re-serialized, so ids and arguments keep every byte.
 */
import { prependMetaMembers, spliceMeta } from "../era/envelope.ts";

/** A trace context to send on: what an OpenTelemetry propagator injects. */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
  baggage?: string;
}

export const TRACE_CONTEXT_KEYS = ["traceparent", "tracestate", "baggage"] as const;

/**
 * Puts `carrier` into request headers in place of the client's trace context: a `tracestate` or `baggage`
 * the carrier lacks is removed, so a backend never sees one context's parent with another's state.
 */
export function applyTraceHeaders(headers: Record<string, string>, carrier: TraceCarrier): void {
  for (const key of TRACE_CONTEXT_KEYS) {
    const value = carrier[key];
    if (value) headers[key] = value;
    else delete headers[key];
  }
}

/**
 * `text` (a JSON-RPC request) with `carrier` in `params._meta`. With `always` false the body changes only when
 * its `_meta` already carries a `traceparent` (a client's, which must not reach the backend as the parent);
 * a 2026 backend gets it always, as the conventions ask of an MCP client.
 */
export function withTraceMeta(text: string, carrier: TraceCarrier, always: boolean): string {
  // Most bodies carry no trace context: theirs is not read, only written (or, not always, left alone).
  if (!text.includes('"traceparent"') && !text.includes('"tracestate"') && !text.includes('"baggage"')) {
    if (!always) return text;
    let members = "";
    for (const key of TRACE_CONTEXT_KEYS) {
      const value = carrier[key];
      if (value) members += `${members ? "," : ""}"${key}":${JSON.stringify(value)}`;
    }
    return members ? prependMetaMembers(text, members) : text;
  }
  return spliceMeta(text, (meta) => {
    if (!always && typeof meta?.traceparent !== "string") return meta;
    const next: Record<string, unknown> = { ...meta };
    for (const key of TRACE_CONTEXT_KEYS) {
      const value = carrier[key];
      if (value) next[key] = value;
      else delete next[key];
    }
    return next;
  });
}

/** The trace context a request's `params._meta` carries (SEP-414), if any. */
export function metaTraceContext(meta: unknown): TraceCarrier | undefined {
  if (!meta || typeof meta !== "object") return undefined;
  const { traceparent, tracestate, baggage } = meta as Record<string, unknown>;
  if (typeof traceparent !== "string") return undefined;
  return {
    traceparent,
    tracestate: typeof tracestate === "string" ? tracestate : undefined,
    baggage: typeof baggage === "string" ? baggage : undefined,
  };
}
