/**
 * Decides a request a backend answers: verify the gateway session, take the routing decision from the
 * shared routing projection ({@link decideRoute}, the broker's own path uses the same), make sure a backend
 * session exists, and send the request to the backend with only the routed name rewritten.
 *
 * `tools/call`, `prompts/get` and `completion/complete` go to backends through Envoy, so per-route
 * policies see them. `resources/*` stay with the broker: it rewrites resource URIs in results and holds
 * the backend streams subscriptions need, neither of which a header-only response phase can do.
 */
import { GatewayError } from "../mcp/errors.ts";
import { RELAYED_REQUEST_ID_PREFIX } from "../mcp/protocol.ts";
import type { JsonRpcMessage, ParsedBody } from "../mcp/jsonrpc.ts";
import { decideRoute } from "../routing/decide.ts";
import { BackendInitError } from "../upstream/backend_session.ts";
import { backendSessionOf } from "../session/session_map.ts";
import type { SessionClaims } from "../session/tokens.ts";
import type { BackendTarget, RouterContext, StreamState } from "./context.ts";
import type { ProcessingResponse } from "./proto.ts";
import { errorReply, requestBodyReply } from "./replies.ts";

/** Methods the router sends straight to a backend. */
export const BACKEND_METHODS: ReadonlySet<string> = new Set([
  "tools/call",
  "prompts/get",
  "completion/complete",
]);

/** How long a client's answer to a backend request is routed to the backend of its latest call. */
const ANSWER_WINDOW_MS = 15 * 60_000;

/** Header and metadata key naming what was routed, per kind. */
const TARGET_HEADER = {
  tool: "x-mcp-toolname",
  prompt: "x-mcp-promptname",
  resource: "x-mcp-resourceuri",
} as const;

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

type Verified = { ok: true; token: string; claims: SessionClaims } | { ok: false; reply: ProcessingResponse };

/** The gateway session of a routed request; refusals are the broker's: 400 missing, 404 unknown. */
async function verify(ctx: RouterContext, state: StreamState, rawId: string): Promise<Verified> {
  const token = state.requestHeaders?.get("mcp-session-id");
  if (!token) {
    return {
      ok: false,
      reply: errorReply(
        new GatewayError("missing-session", "Bad Request: Mcp-Session-Id header is required", rawId),
      ),
    };
  }
  const verified = await ctx.tokens.verifySession(token);
  if (!verified.ok) {
    return {
      ok: false,
      reply: errorReply(new GatewayError("invalid-session", `Session not found: ${verified.reason}`, rawId)),
    };
  }
  if (ctx.sessions.state.closed.has(verified.claims.id)) {
    return {
      ok: false,
      reply: errorReply(new GatewayError("invalid-session", "Session not found: session was closed", rawId)),
    };
  }
  return { ok: true, token, claims: verified.claims };
}

/** Headers that send a request to a backend session through Envoy. */
function backendSet(target: BackendTarget, binding: { id: string; protocolVersion: string }, body: string) {
  const set: Record<string, string> = {
    ":authority": target.hostname,
    ":path": target.path,
    "content-length": String(new TextEncoder().encode(body).length),
    // The backend session may have settled on another version than the client's gateway session.
    "mcp-protocol-version": binding.protocolVersion,
  };
  const remove: string[] = [];
  // A stateless backend issued no session: it must not see the gateway's token either.
  if (binding.id) set["mcp-session-id"] = binding.id;
  else remove.push("mcp-session-id");
  return { set, remove };
}

export async function handleRoutedRequest(
  ctx: RouterContext,
  state: StreamState,
  parsed: ParsedBody,
): Promise<ProcessingResponse> {
  const message = parsed.message;
  if (message.kind !== "request") throw new Error("handleRoutedRequest needs a request");
  const { rawId, method } = message;
  const session = await verify(ctx, state, rawId);
  if (!session.ok) return session.reply;
  const { claims, token } = session;
  // JSON-RPC answers (HTTP 200) keep the session header the client expects on every response.
  const echo = { "mcp-session-id": token };
  let decision;
  try {
    const { base, view } = ctx.routing.state;
    decision = decideRoute(base, view, method, message.params, parsed.text, rawId);
  } catch (e) {
    if (e instanceof GatewayError) return errorReply(e, echo);
    throw e;
  }
  let binding = backendSessionOf(ctx.sessions.state, claims.id, decision.server);
  if (binding === undefined) {
    try {
      binding = await ctx.backends.bind(claims, decision, state.requestHeaders ?? new Map());
    } catch (e) {
      ctx.logger.warn("backend session failed", { server: decision.server, error: e });
      return errorReply(bindFailure(e, rawId));
    }
  }
  state.routed = { session: claims.id, server: decision.server, backendSession: binding.id };
  if (method === "tools/call") ctx.latestCalls.set(claims.id, { target: decision, binding, at: Date.now() });
  const { set, remove } = backendSet(decision, binding, decision.body);
  const targetHeader = TARGET_HEADER[decision.target.kind];
  Object.assign(set, {
    "x-mcp-method": method,
    "x-mcp-servername": decision.server,
    [targetHeader]: decision.target.upstream,
  });
  if (decision.annotationHints) set["x-mcp-annotation-hints"] = decision.annotationHints;
  return requestBodyReply({ set, remove, body: decision.body, clearRouteCache: true }, {
    method,
    [targetHeader.slice("x-mcp-".length)]: decision.target.upstream,
    servedname: decision.target.served,
    servername: decision.server,
    hostname: decision.hostname,
    ...(decision.annotationHints ? { annotation_hints: decision.annotationHints } : {}),
    session: claims.id,
  });
}

/**
 * A client's message about a call in progress — its answer to a backend request (sampling, elicitation,
 * roots) or `notifications/cancelled` — to the backend of the session's latest call, over the same backend
 * session. Undefined when there is none (the broker then answers 202).
 */
export async function routeFollowUp(
  ctx: RouterContext,
  state: StreamState,
  message: Exclude<JsonRpcMessage, { kind: "request" }>,
): Promise<ProcessingResponse | undefined> {
  // Requests the broker relayed (from a backend's GET stream) carry its ids: the broker maps them back.
  if (
    message.kind === "response" && typeof message.id === "string" &&
    message.id.startsWith(RELAYED_REQUEST_ID_PREFIX)
  ) {
    return undefined;
  }
  const method = message.kind === "response" ? "(response)" : message.method;
  const session = await verify(ctx, state, message.kind === "response" ? message.rawId : "null");
  if (!session.ok) return session.reply;
  const latest = ctx.latestCalls.get(session.claims.id);
  if (!latest || Date.now() - latest.at > ANSWER_WINDOW_MS) return undefined;
  const bound = backendSessionOf(ctx.sessions.state, session.claims.id, latest.target.server);
  if (!bound || bound.id !== latest.binding.id) return undefined; // that backend session is gone
  state.routed = { session: session.claims.id, server: latest.target.server, backendSession: bound.id };
  const { set, remove } = backendSet(latest.target, bound, "");
  delete set["content-length"]; // the body is not replaced
  Object.assign(set, { "x-mcp-method": method, "x-mcp-servername": latest.target.server });
  return requestBodyReply({ set, remove, clearRouteCache: true }, {
    method,
    servername: latest.target.server,
    hostname: latest.target.hostname,
    session: session.claims.id,
  });
}
