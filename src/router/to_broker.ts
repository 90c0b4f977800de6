/**
 * The broker-bound decision of the body phase: everything a backend does not answer through Envoy goes to
 * the broker (`:authority` is already its public host), labelled for policies on its route.
 */
import type { JsonRpcMessage } from "../mcp/jsonrpc.ts";
import type { Era } from "../mcp/protocol.ts";
import { BROKER_SERVER_NAME, type StreamState } from "./context.ts";
import type { ProcessingResponse } from "./proto.ts";
import { requestBodyReply } from "./replies.ts";

export function toBroker(state: StreamState, message: JsonRpcMessage, era: Era): ProcessingResponse {
  const set: Record<string, string> = { "x-mcp-servername": BROKER_SERVER_NAME, "x-mcp-era": era };
  state.trace?.decided({ route: "broker", era, server: BROKER_SERVER_NAME });
  if (message.kind !== "response") {
    state.method = message.method;
    set["x-mcp-method"] = message.method;
  }
  return requestBodyReply({ set, clearRouteCache: true }, {
    method: state.method,
    servername: BROKER_SERVER_NAME,
    era,
  });
}
