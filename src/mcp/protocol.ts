/** MCP protocol facts the gateway negotiates with: versions and the JSON-RPC error codes it answers with. */

/** 2025-era versions the gateway speaks, newest first (MCP spec revisions with `initialize` and sessions). */
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

/**
 * The two protocol eras: `2025` is every revision with `initialize` and sessions (2024-11-05 … 2025-11-25);
 * `2026` is the stateless revision 2026-07-28 (per-request `_meta`, `server/discover`, no sessions).
 */
export type Era = "2025" | "2026";

/** 2026-era (stateless) revisions the gateway speaks: every request carries its `_meta` envelope. */
export const MODERN_PROTOCOL_VERSIONS = ["2026-07-28"] as const;
export const MODERN_PROTOCOL_VERSION = MODERN_PROTOCOL_VERSIONS[0];

/** Every version the gateway speaks, both eras, newest first (`server/discover`'s `supportedVersions`). */
export const ALL_PROTOCOL_VERSIONS: readonly string[] = [
  ...MODERN_PROTOCOL_VERSIONS,
  ...SUPPORTED_PROTOCOL_VERSIONS,
];

/** The era a version belongs to; any version from 2026-07-28 on is 2026-era (as the SDK compares them). */
export function eraOfVersion(version: string): Era {
  return version >= MODERN_PROTOCOL_VERSION ? "2026" : "2025";
}

/**
 * The tasks extension (SEP-2663): a 2026 client that declares it in its envelope's capabilities may be
 * answered a task instead of a result, to poll with `tasks/*` at the backend that created it.
 */
export const TASKS_EXTENSION = "io.modelcontextprotocol/tasks";

/** JSON-RPC 2.0 and MCP error codes. */
export const RpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** MCP SDKs: the request timed out (the other side never answered). */
  RequestTimeout: -32001,
  /** MCP: resource not found. */
  ResourceNotFound: -32002,
  /** MCP 2026-07-28 (SEP-2243): the standard headers disagree with the body, or one is missing. */
  HeaderMismatch: -32020,
  /** MCP 2026-07-28: the request needs a client capability its envelope does not declare. */
  MissingRequiredClientCapability: -32021,
  /** MCP 2026-07-28: the protocol version the request names is not served. */
  UnsupportedProtocolVersion: -32022,
} as const;

/**
 * Prefix of the ids the broker gives requests it relays from a backend to a client, so the answer can be
 * told apart from one to a request that went through Envoy untouched.
 */
export const RELAYED_REQUEST_ID_PREFIX = "gw-";

export const GATEWAY_INFO = { name: "mcp-gateway", title: "MCP Gateway", version: "0.1.0" } as const;
