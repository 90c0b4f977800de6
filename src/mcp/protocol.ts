/** MCP protocol facts the gateway negotiates with: versions and the JSON-RPC error codes it answers with. */

/** Versions the gateway speaks, newest first (MCP spec revisions). */
export const SUPPORTED_PROTOCOL_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"] as const;
export const LATEST_PROTOCOL_VERSION = SUPPORTED_PROTOCOL_VERSIONS[0];
/** What a request without `MCP-Protocol-Version` is assumed to speak (spec, 2025-06-18 "Protocol Version Header"). */
export const DEFAULT_PROTOCOL_VERSION = "2025-03-26";

/**
 * Version negotiation as the spec's lifecycle section says: answer with the client's version when we
 * support it, otherwise with our latest and let the client decide whether to disconnect.
 */
export function negotiateProtocolVersion(requested: unknown): string {
  return typeof requested === "string" &&
      (SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(requested)
    ? requested
    : LATEST_PROTOCOL_VERSION;
}

export function isSupportedProtocolVersion(version: string): boolean {
  return (SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(version);
}

/** JSON-RPC 2.0 and MCP error codes. */
export const RpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** MCP: resource not found. */
  ResourceNotFound: -32002,
} as const;

/**
 * Prefix of the ids the broker gives requests it relays from a backend to a client, so the answer can be
 * told apart from one to a request that went through Envoy untouched.
 */
export const RELAYED_REQUEST_ID_PREFIX = "gw-";

export const GATEWAY_INFO = { name: "mcp-gateway", title: "MCP Gateway", version: "0.1.0" } as const;
