/**
 * Decides a `tools/call`: verify the gateway session, find the tool in the routing table, make sure a
 * backend session exists, and send the call to the backend with only `params.name` rewritten.
 */
import { GatewayError } from "../mcp/errors.ts";
import { type ParsedBody, replaceParamsName } from "../mcp/jsonrpc.ts";
import { BackendInitError } from "../upstream/backend_session.ts";
import { backendSessionOf } from "../session/session_map.ts";
import type { RouterContext, StreamState } from "./context.ts";
import type { ProcessingResponse } from "./proto.ts";
import { errorReply, requestBodyReply } from "./replies.ts";

/** A failed backend initialize, as the client should hear it: policy refusals stay refusals. */
function bindFailure(e: unknown, rawId: string): GatewayError {
  const status = e instanceof BackendInitError ? e.status : undefined;
  if (status === 401 || status === 403) {
    return new GatewayError(
      "forbidden",
      `Forbidden: the backend refused the session: ${(e as Error).message}`,
      rawId,
    );
  }
  return new GatewayError("upstream-unavailable", `Backend unavailable: ${(e as Error).message}`, rawId);
}

export async function handleToolCall(
  ctx: RouterContext,
  state: StreamState,
  parsed: ParsedBody,
): Promise<ProcessingResponse> {
  const message = parsed.message;
  if (message.kind !== "request") throw new Error("handleToolCall needs a request");
  const { rawId } = message;
  const headers = state.requestHeaders ?? new Map<string, string>();
  const token = headers.get("mcp-session-id");
  if (!token) {
    return errorReply(
      new GatewayError("missing-session", "Bad Request: Mcp-Session-Id header is required", rawId),
    );
  }
  const verified = await ctx.tokens.verifySession(token);
  if (!verified.ok) {
    return errorReply(new GatewayError("invalid-session", `Session not found: ${verified.reason}`, rawId));
  }
  const claims = verified.claims;
  if (ctx.sessions.state.closed.has(claims.id)) {
    return errorReply(new GatewayError("invalid-session", "Session not found: session was closed", rawId));
  }
  // JSON-RPC answers (HTTP 200) keep the session header the client expects on every response.
  const echo = { "mcp-session-id": token };
  const name = message.params?.name;
  if (typeof name !== "string" || name === "") {
    return errorReply(
      new GatewayError("invalid-params", "Invalid params: tools/call needs params.name", rawId),
      echo,
    );
  }
  const route = ctx.routing.state.view.table.routes.get(name);
  if (!route) return errorReply(new GatewayError("unknown-tool", `Unknown tool: ${name}`, rawId), echo);

  let binding = backendSessionOf(ctx.sessions.state, claims.id, route.server);
  if (binding === undefined) {
    try {
      binding = await ctx.backends.bind(claims, route, headers);
    } catch (e) {
      ctx.logger.warn("backend session failed", { server: route.server, error: e });
      return errorReply(bindFailure(e, rawId));
    }
  }
  const body = name === route.upstreamName ? parsed.text : replaceParamsName(parsed.text, route.upstreamName);
  state.routed = { session: claims.id, server: route.server, backendSession: binding.id };
  const set: Record<string, string> = {
    "x-mcp-method": "tools/call",
    "x-mcp-toolname": route.upstreamName,
    "x-mcp-servername": route.server,
    "x-mcp-annotation-hints": route.annotationHints,
    ":authority": route.hostname,
    ":path": route.path,
    "content-length": String(new TextEncoder().encode(body).length),
    // The backend session may have settled on another version than the client's gateway session.
    "mcp-protocol-version": binding.protocolVersion,
  };
  const remove: string[] = [];
  // A stateless backend issued no session: it must not see the gateway's token either.
  if (binding.id) set["mcp-session-id"] = binding.id;
  else remove.push("mcp-session-id");
  return requestBodyReply({ set, remove, body, clearRouteCache: true }, {
    method: "tools/call",
    toolname: route.upstreamName,
    servedname: route.servedName,
    servername: route.server,
    hostname: route.hostname,
    annotation_hints: route.annotationHints,
    session: claims.id,
  });
}
