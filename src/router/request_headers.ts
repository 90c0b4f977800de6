/**
 * Request-headers phase: every request is pointed at the broker's public host first, so nothing reaches a
 * backend except through a decision the body phase makes. Client-sent router headers are stripped.
 */
import { headerRecord, type HttpHeaders, type ProcessingResponse } from "./proto.ts";
import { HAIRPIN_HOST_HEADER, HAIRPIN_TOKEN_HEADER } from "../mcp/backend_headers.ts";
import { ROUTER_OWNED_HEADERS, type RouterContext, type StreamState } from "./context.ts";
import { requestHeadersReply } from "./replies.ts";

const STRIPPED = [...ROUTER_OWNED_HEADERS, HAIRPIN_TOKEN_HEADER, HAIRPIN_HOST_HEADER];

export function handleRequestHeaders(
  ctx: RouterContext,
  state: StreamState,
  message: HttpHeaders,
): ProcessingResponse {
  const headers = headerRecord(message.headers);
  state.requestHeaders = headers;
  return requestHeadersReply({
    set: { ":authority": ctx.publicHost },
    remove: STRIPPED.filter((h) => headers.has(h)),
    clearRouteCache: true,
  });
}
