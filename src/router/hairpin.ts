/**
 * The router's lazy backend `initialize` goes back through Envoy ("hairpin") so gateway policies on the
 * backend route apply to it with the client's own credentials. It carries a short-lived token bound to
 * the target host; the body phase accepts it here and sends it to that host.
 */
import { HAIRPIN_HOST_HEADER, HAIRPIN_TOKEN_HEADER } from "../mcp/backend_headers.ts";
import { GatewayError } from "../mcp/errors.ts";
import type { JsonRpcMessage } from "../mcp/jsonrpc.ts";
import { isHandshake } from "../mcp/methods.ts";
import type { RouterContext, StreamState } from "./context.ts";
import type { ProcessingResponse } from "./proto.ts";
import { errorReply, requestBodyReply } from "./replies.ts";

/** True when the request claims to be the router's own hairpin (whether or not the claim holds). */
export function isHairpin(state: StreamState): boolean {
  return !!state.requestHeaders && (state.requestHeaders.has(HAIRPIN_HOST_HEADER) ||
    state.requestHeaders.has(HAIRPIN_TOKEN_HEADER));
}

/** Verifies a hairpin request and routes it to its target host; anything else is refused (403). */
export async function acceptHairpin(
  ctx: RouterContext,
  state: StreamState,
  message: JsonRpcMessage,
): Promise<ProcessingResponse> {
  const headers = state.requestHeaders ?? new Map<string, string>();
  const host = headers.get(HAIRPIN_HOST_HEADER);
  const token = headers.get(HAIRPIN_TOKEN_HEADER);
  const rawId = message.kind === "request" ? message.rawId : "null";
  const method = message.kind === "response" ? undefined : message.method;
  // Only the two messages of a session handshake may ride a hairpin token.
  if (!host || !token || !method || !isHandshake(method)) {
    return errorReply(new GatewayError("forbidden", "Forbidden: not a valid backend initialize", rawId));
  }
  if (!await ctx.tokens.verifyHairpin(token, host)) {
    return errorReply(
      new GatewayError("forbidden", "Forbidden: backend initialize token is not valid", rawId),
    );
  }
  let server: string | undefined;
  for (const upstream of ctx.routing.state.base.servers.values()) {
    if (upstream.config.hostname === host) {
      server = upstream.config.name;
      break;
    }
  }
  state.method = method;
  state.trace?.decided({ route: "hairpin", server });
  const set: Record<string, string> = { ":authority": host, "x-mcp-method": method };
  if (server) set["x-mcp-servername"] = server;
  return requestBodyReply({ set, clearRouteCache: true }, { method, servername: server, hostname: host });
}
