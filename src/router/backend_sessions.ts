/**
 * Lazily opens the backend session for (gateway session, server) through the gateway itself, with the
 * client's own headers, and records it as a `BackendSessionBound` event. Concurrent first calls share one
 * initialize (single-flight), so a burst of calls on a fresh session creates exactly one backend session.
 */
import type { EventLog } from "../events/log.ts";
import type { Logger } from "../observe/log.ts";
import type { BackendBinding } from "../session/session_map.ts";
import type { SessionClaims, TokenService } from "../session/tokens.ts";
import { initializeBackendSession } from "../upstream/backend_session.ts";
import {
  type BackendSessionBinder,
  type BackendTarget,
  HAIRPIN_HOST_HEADER,
  HAIRPIN_TOKEN_HEADER,
  ROUTER_OWNED_HEADERS,
} from "./context.ts";

/** Client headers that describe the client's own request or connection, not who the client is. */
const NOT_PASSED = new Set<string>([
  "host",
  "content-length",
  "content-type",
  "accept",
  "accept-encoding",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "te",
  "upgrade",
  "mcp-session-id",
  "mcp-protocol-version",
  "last-event-id",
  "user-agent",
  "x-request-id",
  HAIRPIN_HOST_HEADER,
  HAIRPIN_TOKEN_HEADER,
  ...ROUTER_OWNED_HEADERS,
]);

/** The client's identity-bearing headers (Authorization, cookies, custom ones) for the hairpin. */
export function passThroughHeaders(client: ReadonlyMap<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of client) if (!k.startsWith(":") && !NOT_PASSED.has(k)) out[k] = v;
  return out;
}

export interface HairpinOptions {
  /** `host:port` of the Envoy listener the hairpin goes through. */
  privateHost: string;
  tokens: TokenService;
  log: EventLog;
  logger: Logger;
  /** Below Envoy's `message_timeout` (10 s in the shipped config), so the client gets our error, not a 504. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class HairpinBackendSessions implements BackendSessionBinder {
  #inflight = new Map<string, Promise<BackendBinding>>();
  constructor(private readonly options: HairpinOptions) {}

  bind(
    claims: SessionClaims,
    route: BackendTarget,
    clientHeaders: ReadonlyMap<string, string>,
  ): Promise<BackendBinding> {
    const key = `${claims.id}\n${route.server}`;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#open(claims, route, clientHeaders).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  async #open(
    claims: SessionClaims,
    route: BackendTarget,
    clientHeaders: ReadonlyMap<string, string>,
  ): Promise<BackendBinding> {
    const { privateHost, tokens, log, logger } = this.options;
    const headers = passThroughHeaders(clientHeaders);
    headers["user-agent"] = "mcp-router";
    headers[HAIRPIN_HOST_HEADER] = route.hostname;
    headers[HAIRPIN_TOKEN_HEADER] = await tokens.mintHairpin(route.hostname);
    const session = await initializeBackendSession({
      url: `http://${privateHost}${route.path}`,
      headers,
      protocolVersion: claims.protocolVersion,
      capabilities: claims.clientCapabilities,
      timeoutMs: this.options.timeoutMs ?? 8_000,
      fetch: this.options.fetch,
    });
    const binding = { id: session.sessionId ?? "", protocolVersion: session.protocolVersion };
    log.append({
      type: "BackendSessionBound",
      session: claims.id,
      server: route.server,
      backendSession: binding.id,
      protocolVersion: binding.protocolVersion,
    });
    logger.debug("backend session bound", { session: claims.id, server: route.server });
    return binding;
  }
}
