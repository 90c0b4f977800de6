/**
 * The broker's way to backend sessions: straight to the server's URL, with the headers the one rule in
 * `mcp/backend_headers.ts` allows (the server's credential, never the client's).
 */
import type { ServerConfig } from "../config/schema.ts";
import { backendSessionHeaders, gatewayRequestHeaders } from "../mcp/backend_headers.ts";
import { initializeBackendSession, postToBackend } from "../mcp/backend_session.ts";
import { applyTraceHeaders } from "../mcp/trace_context.ts";
import type { BackendOpener } from "../session/backend_binder.ts";
import type { BackendBinding } from "../session/session_map.ts";

/** Opens a backend session with the client's own declared capabilities, never more. */
export const openDirect: BackendOpener = async (claims, server, client, span) => {
  const headers = gatewayRequestHeaders(server, client);
  if (span) applyTraceHeaders(headers, span.carrier());
  const opened = await initializeBackendSession({
    url: server.url,
    headers,
    protocolVersion: claims.protocolVersion,
    capabilities: claims.clientCapabilities,
  });
  return { id: opened.sessionId ?? "", protocolVersion: opened.protocolVersion };
};

/** Posts one message on a backend session and discards the answer; the HTTP status, or 502 unreachable. */
export function postOnSession(server: ServerConfig, binding: BackendBinding, body: string): Promise<number> {
  return postToBackend(server.url, backendSessionHeaders(server, binding), body);
}
