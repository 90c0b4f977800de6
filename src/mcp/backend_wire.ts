/**
 * How the gateway talks to one backend on behalf of one client — decided here, from the era the backend's
 * manager recorded (`UpstreamConnected`) and the client's era, and nowhere else:
 *
 * | client \ backend | 2025-only               | dual (2026 + 2025)       | 2026-only                |
 * | ---------------- | ----------------------- | ------------------------ | ------------------------ |
 * | 2025             | session (its own)       | session (its own)        | stateless, envelope made |
 * | 2026             | session (held for it)   | stateless, as sent       | stateless, as sent       |
 *
 * - **session**: a 2025 backend session. A 2025 client's gateway session owns it; for a 2026 client the
 *   gateway holds one per caller and declared capabilities. A 2026 request loses its envelope on the way.
 * - **stateless**: 2026-07-28. No backend session ever: every request carries the `_meta` envelope (a 2026
 *   client's own; for a 2025 client one built from its session) and the standard headers, unprefixed:
 *   `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*` (a 2026 client's passed through; for a
 *   2025 client computed from the tool's `x-mcp-header` declarations).
 */
import type { ServerConfig } from "../config/schema.ts";
import { type ClientEnvelope, withEnvelope, withoutEnvelope } from "../era/envelope.ts";
import {
  encodeHeaderValue,
  MCP_METHOD_HEADER,
  MCP_NAME_HEADER,
  nameSource,
  paramHeaders,
  PROTOCOL_VERSION_HEADER,
} from "../era/headers.ts";
import { gatewayRequestHeaders, type HeaderLookup } from "./backend_headers.ts";
import { type Era, GATEWAY_INFO, MODERN_PROTOCOL_VERSION } from "./protocol.ts";

/** What the gateway knows of a backend's eras (from `UpstreamConnected`). */
export interface BackendEras {
  /** The era its manager connected in; unset before the first connection (taken as 2025). */
  era?: Era;
  /** Set when a 2026 backend also opens 2025 sessions. */
  legacyProtocolVersion?: string;
}

export type BackendWire = "session" | "stateless";

/** The wire for a client of `client` era to this backend (see the module table). */
export function backendWire(backend: BackendEras, client: Era): BackendWire {
  if (backend.era !== "2026") return "session";
  return client === "2025" && backend.legacyProtocolVersion ? "session" : "stateless";
}

/** The era a wire speaks. */
export function wireEra(wire: BackendWire): Era {
  return wire === "session" ? "2025" : "2026";
}

/** A request on its way to a backend, after routing. */
export interface Outbound {
  method: string;
  /** The body to send: the client's, with the routed name or URI rewritten. */
  body: string;
  /** What `Mcp-Name` names on the backend (the unprefixed tool or prompt, the backend's URI, a task id). */
  name?: string;
  /**
   * `tools/call`: the tool's input schema (looked up only when needed) and the call's arguments, for the
   * `Mcp-Param-*` headers of a 2025 client's call.
   */
  tool?: { inputSchema: () => unknown; arguments: unknown };
}

/** The client a request is sent for. */
export interface OutboundClient {
  era: Era;
  envelope: ClientEnvelope;
  /** Its request headers (trace context; opted-in token). */
  header: HeaderLookup;
  /** A 2026 client's `Mcp-Param-*` headers, by lower-case name: passed through as sent. */
  paramHeaders?: Record<string, string>;
  /** A 2025 client's session log level (`logging/setLevel`): the envelope carries it to a 2026 backend. */
  logLevel?: string;
}

/**
 * A request for a 2026 backend: headers and body. A 2026 client's body goes as sent (its envelope is
 * already there); a 2025 client's gets an envelope from its session.
 */
export function statelessRequest(
  server: Pick<ServerConfig, "credential" | "forwardClientToken">,
  out: Outbound,
  client: OutboundClient,
): { headers: Record<string, string>; body: string } {
  const headers = gatewayRequestHeaders(server, client.header);
  headers["content-type"] = "application/json";
  headers["accept"] = "application/json, text/event-stream";
  headers[PROTOCOL_VERSION_HEADER] = MODERN_PROTOCOL_VERSION;
  headers[MCP_METHOD_HEADER] = out.method;
  if (out.name !== undefined && nameSource(out.method) !== undefined) {
    headers[MCP_NAME_HEADER] = encodeHeaderValue(out.name);
  }
  if (client.era === "2026") {
    Object.assign(headers, client.paramHeaders);
    return { headers, body: out.body };
  }
  if (out.tool) Object.assign(headers, paramHeaders(out.tool.inputSchema(), out.tool.arguments));
  const envelope: ClientEnvelope = {
    protocolVersion: MODERN_PROTOCOL_VERSION,
    capabilities: client.envelope.capabilities,
    // The gateway is the backend's client, as in the 2025 `initialize` it sends on a client's behalf.
    clientInfo: { name: GATEWAY_INFO.name, version: GATEWAY_INFO.version },
    ...(client.logLevel ? { logLevel: client.logLevel } : {}),
  };
  return { headers, body: withEnvelope(out.body, envelope) };
}

/** A body for a 2025 backend session: a 2026 request's envelope stays behind (the session stands for it). */
export function sessionBody(body: string, client: Era): string {
  return client === "2026" ? withoutEnvelope(body) : body;
}
