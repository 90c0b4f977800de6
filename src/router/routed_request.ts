/**
 * Decides a request a backend answers: admit it (the broker's own admission), take the routing decision
 * from the shared routing projection ({@link decideRoute}, the broker's own path uses the same), make sure
 * a backend session exists, and send the request to the backend with only the routed name rewritten and
 * the headers the one rule of `mcp/backend_headers.ts` allows.
 *
 * Which methods come here is the method table's call (`isEnvoyRouted`): `resources/*` stay with the broker,
 * which rewrites resource URIs in results and holds the backend streams subscriptions need.
 */
import type { Admitted2025, InboundRequest } from "../admission/admit.ts";
import type { ServerConfig } from "../config/schema.ts";
import { envoyBackendMutation } from "../mcp/backend_headers.ts";
import { backendWire } from "../mcp/backend_wire.ts";
import { BackendInitError } from "../mcp/backend_session.ts";
import { GatewayError } from "../mcp/errors.ts";
import type { JsonRpcMessage, ParsedBody } from "../mcp/jsonrpc.ts";
import { RELAYED_REQUEST_ID_PREFIX } from "../mcp/protocol.ts";
import { withTraceMeta } from "../mcp/trace_context.ts";
import type { RoutingDecision } from "../routing/decide.ts";
import { decideForCaller } from "../routing/visibility.ts";
import { auditedRequest, type AuditRecord, outcomeOfError } from "../identity/audit.ts";
import { addressOf } from "../routing/routing_table.ts";
import { type BackendBinding, backendSessionOf } from "../session/session_map.ts";
import type { CallRoute } from "../session/store.ts";
import type { RouterContext, StreamState } from "./context.ts";
import type { ProcessingResponse } from "./proto.ts";
import { errorReply, requestBodyReply } from "./replies.ts";
import { toBroker } from "./to_broker.ts";

/** Header and metadata key naming what was routed, per kind. */
export const TARGET_HEADER = {
  tool: "x-mcp-toolname",
  prompt: "x-mcp-promptname",
  resource: "x-mcp-resourceuri",
} as const;

/** A failed backend initialize, as the client should hear it: policy refusals stay refusals. */
function bindFailure(e: unknown, server: string, rawId: string): GatewayError {
  if (e instanceof GatewayError) return e.withId(rawId);
  const status = e instanceof BackendInitError ? e.status : undefined;
  if (status === 401 || status === 403) {
    return new GatewayError(
      "forbidden",
      `Forbidden: the backend refused the session: ${(e as Error).message}`,
      rawId,
    );
  }
  return new GatewayError(
    "upstream-unavailable",
    `Server ${server} is unavailable: ${(e as Error).message}`,
    rawId,
    {
      data: { server, retryable: true },
      retryAfterMs: 1_000,
    },
  );
}

/** The request as admission reads it: the headers Envoy sent, the original `:authority` as the Host. */
export function inbound(state: StreamState, rawId: string): InboundRequest {
  const headers = state.requestHeaders ?? new Map<string, string>();
  return { header: (name) => headers.get(name), host: headers.get(":authority"), rawId };
}

/** Admits the request, or the local reply refusing it (the broker's answer for the same problem). */
async function admit(
  ctx: RouterContext,
  state: StreamState,
  rawId: string,
): Promise<{ ok: true; admitted: Admitted2025 } | { ok: false; reply: ProcessingResponse }> {
  try {
    return { ok: true, admitted: await ctx.admission.admitSession(inbound(state, rawId)) };
  } catch (e) {
    if (e instanceof GatewayError) return { ok: false, reply: errorReply(e) };
    throw e;
  }
}

/** The audit line of a request the router answered itself: named as far as its decision got. */
export function recordRefusal(
  ctx: RouterContext,
  audit: Omit<AuditRecord, "outcome">,
  error: GatewayError,
  decision?: RoutingDecision,
): void {
  ctx.audit?.record({
    ...audit,
    name: decision?.target.served ?? audit.name,
    server: decision?.server ?? audit.server,
    outcome: outcomeOfError(error),
    error: { code: error.code, message: error.message },
  });
}

/**
 * Headers that send a request to a backend session through Envoy: where it goes, the backend session in
 * place of the gateway's, and what the backend may see of the caller.
 */
function backendMutation(state: StreamState, server: ServerConfig, binding: BackendBinding, body?: string) {
  const target = addressOf(server);
  const client = state.requestHeaders ?? new Map<string, string>();
  const { set, remove } = envoyBackendMutation(server, (name) => client.has(name));
  Object.assign(set, {
    ":authority": target.hostname,
    ":path": target.path,
    // The backend session may have settled on another version than the client's gateway session.
    "mcp-protocol-version": binding.protocolVersion,
  });
  if (body !== undefined) set["content-length"] = String(new TextEncoder().encode(body).length);
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
  const admitted = await admit(ctx, state, rawId);
  if (!admitted.ok) return admitted.reply;
  const { identity, session: { claims, token } } = admitted.admitted;
  // JSON-RPC answers (HTTP 200) keep the session header the client expects on every response.
  const echo = { "mcp-session-id": token };
  const params = message.params;
  const audit = auditedRequest({
    path: "router",
    identity,
    sessionId: claims.id,
    method,
    params,
    rawId,
    headers: state.requestHeaders ?? new Map<string, string>(),
    traceId: state.trace?.traceId,
  });
  state.trace?.decided({
    route: "broker",
    sessionId: claims.id,
    protocolVersion: claims.protocolVersion,
    identity,
  });
  const { base, view } = ctx.routing.state;
  const decided = decideForCaller(base, view, identity, { method, params, text: parsed.text, rawId });
  if (!decided.ok) {
    recordRefusal(ctx, audit, decided.error, decided.decision);
    return errorReply(decided.error, echo);
  }
  const { decision } = decided;
  const upstream = ctx.routing.state.base.servers.get(decision.server)!;
  // A backend that speaks only 2026: the broker speaks it for the 2025 client (envelope from its session,
  // answers framed back), and writes the audit line.
  if (backendWire(upstream, "2025") === "stateless") return toBroker(state, message, "2025");
  audit.name = decision.target.served;
  audit.server = decision.server;
  state.trace?.decided({ route: "backend", server: decision.server, target: decision.target });
  const server = upstream.config;
  let binding = backendSessionOf(ctx.sessions.state, claims.id, decision.server);
  if (binding === undefined) {
    const client = state.requestHeaders ?? new Map<string, string>();
    try {
      binding = await ctx.binder.acquire(claims, server, rawId, (name) => client.get(name), state.trace);
    } catch (e) {
      ctx.logger.warn("backend session failed", { server: decision.server, error: e });
      const error = bindFailure(e, decision.server, rawId);
      recordRefusal(ctx, audit, error);
      return errorReply(error);
    }
  }
  // Envoy carries the answer: the outcome is recorded when its status arrives (response-headers phase).
  state.audit = audit;
  state.routed = { session: claims.id, server: decision.server, backendSession: binding.id };
  // Envoy carries the answer; the end of a call is not seen here, so its route lives out its time to live.
  await ctx.store.beginCall(claims.id, rawId, callRoute(decision.server, binding));
  // A trace context in the body's `_meta` (the client's) becomes the router's, as in the headers.
  const body = state.trace ? withTraceMeta(decision.body, state.trace.carrier(), false) : decision.body;
  const { set, remove } = backendMutation(state, server, binding, body);
  const targetHeader = TARGET_HEADER[decision.target.kind];
  Object.assign(set, {
    "x-mcp-method": method,
    "x-mcp-servername": decision.server,
    "x-mcp-era": "2025",
    [targetHeader]: decision.target.upstream,
  });
  if (decision.annotationHints) set["x-mcp-annotation-hints"] = decision.annotationHints;
  return requestBodyReply({ set, remove, body, clearRouteCache: true }, {
    method,
    [targetHeader.slice("x-mcp-".length)]: decision.target.upstream,
    servedname: decision.target.served,
    servername: decision.server,
    hostname: decision.hostname,
    ...(decision.annotationHints ? { annotation_hints: decision.annotationHints } : {}),
    session: claims.id,
    era: "2025",
  });
}

function callRoute(server: string, binding: BackendBinding): CallRoute {
  return { server, backendSession: binding.id, protocolVersion: binding.protocolVersion, viaEnvoy: true };
}

/**
 * A client's message about a call in progress, to the backend session the call ran on:
 * `notifications/cancelled` to the call it names; an answer to a backend's request (sampling,
 * elicitation, roots made during a call reach the client inside the call's own response stream, untouched
 * by Envoy, so the answer carries no routing facts) to the session's latest call. Undefined when there is
 * none: the broker then answers.
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
  const admitted = await admit(ctx, state, message.kind === "response" ? message.rawId : "null");
  if (!admitted.ok) return admitted.reply;
  const session = admitted.admitted.session.claims.id;
  const call = message.kind === "response"
    ? await ctx.store.latestCall(session)
    : await ctx.store.call(session, JSON.stringify(message.params?.requestId));
  if (!call) return undefined;
  const bound = backendSessionOf(ctx.sessions.state, session, call.server);
  const server = ctx.routing.state.base.servers.get(call.server)?.config;
  if (!bound || bound.id !== call.backendSession || !server) return undefined; // that backend session is gone
  state.routed = { session, server: call.server, backendSession: bound.id };
  state.trace?.decided({ route: "follow-up", server: call.server, sessionId: session });
  const { set, remove } = backendMutation(state, server, bound);
  Object.assign(set, { "x-mcp-method": method, "x-mcp-servername": call.server, "x-mcp-era": "2025" });
  return requestBodyReply({ set, remove, clearRouteCache: true }, {
    method,
    servername: call.server,
    hostname: server.hostname,
    session,
    era: "2025",
  });
}
