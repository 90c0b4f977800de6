/**
 * Request-body phase (BUFFERED: the whole body in one message). Parses JSON-RPC once, classifies it with the
 * era module (the broker's own checks) and dispatches: the router's own hairpin, a 2025 `tools/call`,
 * `prompts/get` or `completion/complete` to a backend session, a 2026 call the headers said a 2026 backend
 * answers to that backend (`modern_request.ts`), everything else to the broker.
 */
import { classifyInbound, type NormalizedRequest } from "../era/classify.ts";
import { GatewayError } from "../mcp/errors.ts";
import { parseJsonRpc } from "../mcp/jsonrpc.ts";
import { contentTypeProblem, postAcceptProblem } from "../mcp/media.ts";
import { isEnvoyRouted } from "../mcp/methods.ts";
import type { RouterContext, StreamState } from "./context.ts";
import { acceptHairpin, isHairpin } from "./hairpin.ts";
import { handleModernRequest } from "./modern_request.ts";
import type { HttpBody, ProcessingResponse } from "./proto.ts";
import { errorReply, requestBodyReply } from "./replies.ts";
import { handleRoutedRequest, routeFollowUp } from "./routed_request.ts";
import { toBroker } from "./to_broker.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function handleRequestBody(
  ctx: RouterContext,
  state: StreamState,
  message: HttpBody,
): ProcessingResponse | Promise<ProcessingResponse> {
  const bytes = message.body ?? new Uint8Array();
  if (bytes.length > ctx.maxBodyBytes) {
    return errorReply(
      new GatewayError(
        "body-too-large",
        `Request body too large: ${bytes.length} bytes, limit ${ctx.maxBodyBytes}`,
      ),
    );
  }
  const headers = state.requestHeaders ?? new Map<string, string>();
  // Not JSON-RPC for us to read: the broker answers it (415, 406, 400…) exactly as on the direct path.
  if (
    bytes.length === 0 || contentTypeProblem(headers.get("content-type") ?? null) ||
    postAcceptProblem(headers.get("accept") ?? null)
  ) return requestBodyReply({});
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return errorReply(new GatewayError("parse", "Parse error: body is not UTF-8"));
  }
  let parsed;
  try {
    parsed = parseJsonRpc(text);
  } catch (e) {
    if (e instanceof GatewayError) return errorReply(e);
    throw e;
  }
  const m = parsed.message;
  // The decision's span starts here, under the trace context of the message's `_meta` if it has one.
  state.trace?.decided({
    method: m.kind === "response" ? undefined : m.method,
    params: m.kind === "response" ? undefined : m.params,
    rawId: m.kind === "request" ? m.rawId : undefined,
    era: state.era,
    route: isHairpin(state) ? "hairpin" : "broker",
  });
  if (isHairpin(state)) return acceptHairpin(ctx, state, m);
  // A message no era may serve (the 2026 ladder's refusals) goes to the broker, which refuses it with the
  // same error it gives on its own path.
  let request: NormalizedRequest;
  try {
    request = classifyInbound((name) => headers.get(name), parsed);
  } catch (e) {
    if (e instanceof GatewayError) return toBroker(state, m, state.era ?? "2025");
    throw e;
  }
  if (request.era === "2026") {
    // The body agrees with the headers (checked above): a call they named for a 2026 backend is routed.
    if (state.routable && m.kind === "request" && isEnvoyRouted(m.method, "2026")) {
      state.method = m.method;
      return handleModernRequest(ctx, state, request);
    }
    return toBroker(state, m, "2026");
  }
  if (m.kind === "request" && isEnvoyRouted(m.method)) {
    state.method = m.method;
    return handleRoutedRequest(ctx, state, parsed);
  }
  const followUp = m.kind === "response" || m.method === "notifications/cancelled";
  if (m.kind !== "request" && followUp && state.requestHeaders?.has("mcp-session-id")) {
    return routeFollowUp(ctx, state, m).then((reply) => reply ?? toBroker(state, m, "2025"));
  }
  return toBroker(state, m, "2025");
}
