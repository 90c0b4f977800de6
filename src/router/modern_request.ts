/**
 * A 2026-07-28 `tools/call` or `prompts/get` that a 2026 backend answers, carried by Envoy: no backend
 * session, no hairpin `initialize`; the request goes as the client sent it (its own `_meta` envelope, its
 * `Mcp-Param-*` headers) with only the routed name changed, in the body and in `Mcp-Name` alike, so the
 * backend's own header check (SEP-2243) sees the name it serves. What the backend may see of the caller
 * follows the one rule of `mcp/backend_headers.ts`, as for 2025.
 *
 * The broker carries what needs it instead: a call to a backend that speaks only 2025 (a session held for
 * the caller), and a call whose client declares the tasks extension (a task it may create must be recorded
 * for the `tasks/*` requests that follow, which the broker answers).
 */
import { GatewayError } from "../mcp/errors.ts";
import type { NormalizedRequest } from "../era/classify.ts";
import { encodeHeaderValue, MCP_NAME_HEADER, nameSource } from "../era/headers.ts";
import { envoyBackendMutation } from "../mcp/backend_headers.ts";
import { backendWire } from "../mcp/backend_wire.ts";
import { TASKS_EXTENSION } from "../mcp/protocol.ts";
import { withTraceMeta } from "../mcp/trace_context.ts";
import { auditedRequest } from "../identity/audit.ts";
import { addressOf } from "../routing/routing_table.ts";
import { decideForCaller } from "../routing/visibility.ts";
import type { RouterContext, StreamState } from "./context.ts";
import type { ProcessingResponse } from "./proto.ts";
import { errorReply, requestBodyReply } from "./replies.ts";
import { inbound, recordRefusal, TARGET_HEADER } from "./routed_request.ts";
import { toBroker } from "./to_broker.ts";

export async function handleModernRequest(
  ctx: RouterContext,
  state: StreamState,
  request: NormalizedRequest,
): Promise<ProcessingResponse> {
  const message = request.message;
  if (message.kind !== "request") throw new Error("handleModernRequest needs a request");
  const { rawId, method, params } = message;
  let identity;
  try {
    ({ identity } = await ctx.admission.admit(inbound(state, rawId), request));
  } catch (e) {
    if (e instanceof GatewayError) return errorReply(e);
    throw e;
  }
  const headers = state.requestHeaders ?? new Map<string, string>();
  const audit = auditedRequest({
    path: "router",
    identity,
    method,
    params,
    rawId,
    headers,
    traceId: state.trace?.traceId,
  });
  state.trace?.decided({ route: "broker", protocolVersion: request.envelope?.protocolVersion, identity });
  const { base, view } = ctx.routing.state;
  const decided = decideForCaller(base, view, identity, { method, params, text: request.text, rawId });
  if (!decided.ok) {
    recordRefusal(ctx, audit, decided.error, decided.decision);
    return errorReply(decided.error);
  }
  const { decision } = decided;
  const upstream = base.servers.get(decision.server)!;
  const wantsTasks = method === "tools/call" &&
    !!request.envelope?.capabilities.extensions?.[TASKS_EXTENSION];
  if (backendWire(upstream, "2026") !== "stateless" || wantsTasks) return toBroker(state, message, "2026");

  // Envoy carries the answer: the outcome is recorded when its status arrives (response-headers phase, asked
  // for only while there is an audit log to write it to).
  if (ctx.audit) state.audit = { ...audit, name: decision.target.served, server: decision.server };
  state.trace?.decided({ route: "backend", server: decision.server, target: decision.target });
  const server = upstream.config;
  const target = addressOf(server);
  const { set, remove } = envoyBackendMutation(server, (name) => headers.has(name));
  set[":authority"] = target.hostname;
  set[":path"] = target.path;
  if (nameSource(method) !== undefined) set[MCP_NAME_HEADER] = encodeHeaderValue(decision.target.upstream);
  // A 2026 backend reads the trace context from `_meta` first: the router's span goes there too.
  const body = state.trace ? withTraceMeta(decision.body, state.trace.carrier(), true) : decision.body;
  const renamed = body !== request.text;
  if (renamed) set["content-length"] = String(new TextEncoder().encode(body).length);
  // 2026 has no sessions: a session id the client sent anyway (a gateway token) stays here.
  if (headers.has("mcp-session-id")) remove.push("mcp-session-id");
  const targetHeader = TARGET_HEADER[decision.target.kind];
  Object.assign(set, {
    "x-mcp-method": method,
    "x-mcp-servername": decision.server,
    "x-mcp-era": "2026",
    [targetHeader]: decision.target.upstream,
  });
  if (decision.annotationHints) set["x-mcp-annotation-hints"] = decision.annotationHints;
  return requestBodyReply({ set, remove, body: renamed ? body : undefined, clearRouteCache: true }, {
    method,
    [targetHeader.slice("x-mcp-".length)]: decision.target.upstream,
    servedname: decision.target.served,
    servername: decision.server,
    hostname: decision.hostname,
    ...(decision.annotationHints ? { annotation_hints: decision.annotationHints } : {}),
    era: "2026",
  });
}
