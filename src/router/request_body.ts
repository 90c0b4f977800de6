/**
 * Request-body phase (BUFFERED: the whole body in one message). Parses JSON-RPC once and dispatches:
 * the router's own hairpin, `tools/call` to a backend, everything else to the broker.
 */
import { classifyInbound } from "../era/classify.ts";
import { GatewayError } from "../mcp/errors.ts";
import { type JsonRpcMessage, parseJsonRpc } from "../mcp/jsonrpc.ts";
import { contentTypeProblem, postAcceptProblem } from "../mcp/media.ts";
import { isEnvoyRouted } from "../mcp/methods.ts";
import { BROKER_SERVER_NAME, type RouterContext, type StreamState } from "./context.ts";
import { acceptHairpin, isHairpin } from "./hairpin.ts";
import type { HttpBody, ProcessingResponse } from "./proto.ts";
import { errorReply, requestBodyReply } from "./replies.ts";
import { handleRoutedRequest, routeFollowUp } from "./routed_request.ts";

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
  if (isHairpin(state)) return acceptHairpin(ctx, state, m);
  // The router decides 2025-era requests only: a 2026-era one (or one no era may serve) goes to the broker,
  // which answers every 2026 method and every ladder rejection itself.
  let era;
  try {
    era = classifyInbound((name) => headers.get(name), parsed).era;
  } catch (e) {
    if (e instanceof GatewayError) return toBroker(state, m);
    throw e;
  }
  if (era === "2026") return toBroker(state, m);
  if (m.kind === "request" && isEnvoyRouted(m.method)) {
    state.method = m.method;
    return handleRoutedRequest(ctx, state, parsed);
  }
  const followUp = m.kind === "response" || m.method === "notifications/cancelled";
  if (m.kind !== "request" && followUp && state.requestHeaders?.has("mcp-session-id")) {
    return routeFollowUp(ctx, state, m).then((reply) => reply ?? toBroker(state, m));
  }
  return toBroker(state, m);
}

/** Everything but a routed call goes to the broker (`:authority` is already the public host). */
function toBroker(state: StreamState, message: JsonRpcMessage): ProcessingResponse {
  const set: Record<string, string> = { "x-mcp-servername": BROKER_SERVER_NAME };
  if (message.kind !== "response") {
    state.method = message.method;
    set["x-mcp-method"] = message.method;
  }
  return requestBodyReply({ set, clearRouteCache: true }, {
    method: state.method,
    servername: BROKER_SERVER_NAME,
  });
}
