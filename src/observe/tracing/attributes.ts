/**
 * Span names and attribute keys: the OpenTelemetry semantic conventions for MCP (GenAI conventions,
 * `docs/gen-ai/mcp.md`, development status) and the gateway's own, under `mcp_gateway.`. Plain strings, no
 * SDK import, so the data paths can name them while tracing is off.
 */

export const ATTR = {
  MCP_METHOD_NAME: "mcp.method.name",
  MCP_PROTOCOL_VERSION: "mcp.protocol.version",
  MCP_SESSION_ID: "mcp.session.id",
  MCP_RESOURCE_URI: "mcp.resource.uri",
  GEN_AI_TOOL_NAME: "gen_ai.tool.name",
  GEN_AI_PROMPT_NAME: "gen_ai.prompt.name",
  GEN_AI_OPERATION_NAME: "gen_ai.operation.name",
  JSONRPC_REQUEST_ID: "jsonrpc.request.id",
  RPC_RESPONSE_STATUS_CODE: "rpc.response.status_code",
  ERROR_TYPE: "error.type",
  SERVER_ADDRESS: "server.address",
  SERVER_PORT: "server.port",
  NETWORK_TRANSPORT: "network.transport",
  HTTP_RESPONSE_STATUS_CODE: "http.response.status_code",
  USER_ID: "user.id",
  USER_HASH: "user.hash",
  /** Which data path served it: `broker` (the gateway's own HTTP endpoint) or `envoy` (the router). */
  PATH: "mcp_gateway.path",
  /** The client's protocol era: `2025` or `2026`. */
  ERA: "mcp_gateway.era",
  /** The router's decision: `backend`, `broker`, `hairpin`, `follow-up` or `refused`. */
  ROUTE: "mcp_gateway.route",
  /** The configured server a request was routed to. */
  SERVER: "mcp_gateway.server",
  /** The name the client used (with the server's prefix), when the backend knows it by another. */
  SERVED_NAME: "mcp_gateway.served_name",
  /** How the gateway reaches the backend for this client: `session` (2025) or `stateless` (2026). */
  WIRE: "mcp_gateway.wire",
  /** The era bridge this call needs: `ask-client` (2025 client, 2026 backend) or `hold-call` (the reverse). */
  CROSSING: "mcp_gateway.crossing",
  /** How a backend session was opened: `session` (a 2025 client's), `held` (for 2026 callers), `hairpin`. */
  BACKEND_SESSION: "mcp_gateway.backend_session",
  /** The round of an `input_required` exchange (1 for the first). */
  INPUT_ROUND: "mcp_gateway.input.round",
  /** The interactive requests a round asks the client (`elicitation/create`, `sampling/createMessage`…). */
  INPUT_REQUESTS: "mcp_gateway.input.requests",
} as const;

/** `{mcp.method.name} {target}`, target the tool or prompt name when there is one (low cardinality). */
export function spanName(method: string, target?: string): string {
  return target ? `${method} ${target}` : method;
}

/** The tool or prompt a request names, for span names and `gen_ai.*` attributes. */
export function targetOf(
  method: string,
  params: Record<string, unknown> | undefined,
): { kind: "tool" | "prompt" | "resource"; name: string } | undefined {
  if (method === "tools/call" && typeof params?.name === "string") return { kind: "tool", name: params.name };
  if (method === "prompts/get" && typeof params?.name === "string") {
    return { kind: "prompt", name: params.name };
  }
  if (method.startsWith("resources/") && typeof params?.uri === "string") {
    return { kind: "resource", name: params.uri };
  }
  return undefined;
}

/**
 * `jsonrpc.request.id`: a string form of the id (a string id without its quotes); none for `null` (the
 * conventions' rule).
 */
export function requestIdAttribute(rawId: string | undefined): string | undefined {
  if (rawId === undefined || rawId === "null") return undefined;
  if (rawId.startsWith('"')) {
    try {
      return String(JSON.parse(rawId));
    } catch {
      return rawId;
    }
  }
  return rawId;
}
