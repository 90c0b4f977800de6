/**
 * The router's way to open backend sessions: its lazy `initialize` goes back through Envoy ("hairpin") so
 * gateway policies on the backend's route apply to it, with a short-lived token bound to the target host
 * that the body phase accepts ({@link acceptHairpin}). What identity the backend sees follows the one rule
 * of `mcp/backend_headers.ts`: the server's credential, never the client's token (unless the server opted
 * in, for a token-exchange policy on its route).
 */
import { gatewayRequestHeaders, HAIRPIN_HOST_HEADER, HAIRPIN_TOKEN_HEADER } from "../mcp/backend_headers.ts";
import { initializeBackendSession } from "../mcp/backend_session.ts";
import { applyTraceHeaders } from "../mcp/trace_context.ts";
import { ATTR } from "../observe/tracing/attributes.ts";
import { addressOf } from "../routing/routing_table.ts";
import type { BackendOpener } from "../session/backend_binder.ts";
import type { TokenService } from "../session/tokens.ts";

export interface HairpinOptions {
  /** `host:port` of the Envoy listener the hairpin goes through. */
  privateHost: string;
  tokens: TokenService;
  /** Below Envoy's `message_timeout` (10 s in the shipped config), so the client gets our error, not a 504. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export function openThroughEnvoy(options: HairpinOptions): BackendOpener {
  return async (claims, server, client, span) => {
    const target = addressOf(server);
    const headers = gatewayRequestHeaders(server, client, "envoy");
    if (span) {
      span.set(ATTR.BACKEND_SESSION, "hairpin");
      applyTraceHeaders(headers, span.carrier());
    }
    headers[HAIRPIN_HOST_HEADER] = target.hostname;
    headers[HAIRPIN_TOKEN_HEADER] = await options.tokens.mintHairpin(target.hostname);
    const session = await initializeBackendSession({
      url: `http://${options.privateHost}${target.path}`,
      headers,
      protocolVersion: claims.protocolVersion,
      capabilities: claims.clientCapabilities,
      timeoutMs: options.timeoutMs ?? 8_000,
      fetch: options.fetch,
    });
    return { id: session.sessionId ?? "", protocolVersion: session.protocolVersion };
  };
}
