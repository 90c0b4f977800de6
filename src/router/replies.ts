/**
 * Builders for the router's ProcessingResponses. Every header is written with `raw_value` and no append
 * flag, which Envoy applies as "overwrite or add" (ext_proc ignores `append_action`).
 */
import type { GatewayError } from "../mcp/errors.ts";
import {
  type CommonResponse,
  type ProcessingMode,
  type ProcessingResponse,
  rawHeader,
  toStruct,
} from "./proto.ts";

/** The dynamic-metadata namespace the router publishes its routing facts under, for policies and logs. */
export const METADATA_NAMESPACE = "mcp-gateway";

export interface Mutation {
  set?: Record<string, string>;
  remove?: string[];
  /** Re-match the route on the mutated headers (Envoy needs this for `:authority`/`:path` changes). */
  clearRouteCache?: boolean;
  body?: string;
}

/**
 * Header values carry what clients chose (a JSON-RPC method name may be anything); Envoy fails the whole
 * request (500) on a mutation whose value holds a control character, so those are percent-encoded.
 */
export function headerValue(value: string): string {
  // A control character is one below space other than tab, or DEL; most values have none.
  if (!hasControl(value)) return value;
  let out = "";
  for (const c of value) {
    const code = c.charCodeAt(0);
    out += (code < 0x20 && code !== 0x09) || code === 0x7f ? `%${code.toString(16).padStart(2, "0")}` : c;
  }
  return out;
}

function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
  }
  return false;
}

function common(m: Mutation): CommonResponse {
  const response: CommonResponse = {};
  const set = Object.entries(m.set ?? {}).map(([k, v]) => rawHeader(k, headerValue(v)));
  if (set.length || m.remove?.length) {
    response.header_mutation = { set_headers: set, remove_headers: m.remove ?? [] };
  }
  if (m.body !== undefined) response.body_mutation = { body: new TextEncoder().encode(m.body) };
  if (m.clearRouteCache) response.clear_route_cache = true;
  return response;
}

/** Facts for policies, as `dynamic_metadata` under {@link METADATA_NAMESPACE}. */
export type RoutingFacts = Record<string, string | undefined>;

function withMetadata(reply: ProcessingResponse, facts?: RoutingFacts): ProcessingResponse {
  if (facts) reply.dynamic_metadata = toStruct({ [METADATA_NAMESPACE]: facts });
  return reply;
}

/**
 * The request-headers reply; `mode` asks Envoy for fewer messages (`phases.ts`), and `facts` are published
 * when the decision is already taken here.
 */
export function requestHeadersReply(
  m: Mutation,
  options: { mode?: ProcessingMode; facts?: RoutingFacts } = {},
): ProcessingResponse {
  const reply: ProcessingResponse = { request_headers: { response: common(m) } };
  if (options.mode) reply.mode_override = options.mode;
  return withMetadata(reply, options.facts);
}

export function requestBodyReply(m: Mutation, facts?: RoutingFacts): ProcessingResponse {
  return withMetadata({ request_body: { response: common(m) } }, facts);
}

export function responseHeadersReply(m: Mutation): ProcessingResponse {
  return { response_headers: { response: common(m) } };
}

/**
 * A local reply a client understands: the JSON-RPC error body with the status from `errors.ts`, so the
 * Envoy path answers exactly as the broker would. `details` becomes Envoy's `%RESPONSE_CODE_DETAILS%`.
 */
export function errorReply(error: GatewayError, headers: Record<string, string> = {}): ProcessingResponse {
  const set = { "content-type": "application/json", ...error.headers(), ...headers };
  return {
    immediate_response: {
      status: { code: error.status },
      headers: { set_headers: Object.entries(set).map(([k, v]) => rawHeader(k, v)) },
      body: new TextEncoder().encode(error.body()),
      details: `mcp_gateway_${error.kind.replaceAll("-", "_")}`,
    },
  };
}
