/**
 * What a backend sees of who is calling: one rule for both data paths.
 *
 * - The client's own credentials (`Authorization`, `Cookie`, `Proxy-Authorization`) never reach a backend.
 *   MCP's authorization rules forbid token passthrough: a token issued for the gateway must not be handed
 *   to, or accepted by, the servers behind it.
 * - The server's configured credential (`credential`, `credentialFile`, `credentialEnv`, or the controller's
 *   Secret) is sent as `Authorization` when set.
 * - A server may opt in with `forwardClientToken: true`, for deployments that put a token-exchange policy on
 *   the backend's route (e.g. a Kuadrant AuthPolicy). Only the Envoy path has such a route, so only there
 *   does the client's `Authorization` travel on; the policy must replace it before the backend sees it.
 * - Gateway-internal headers (identity and routing facts meant for the gateway) are removed.
 *
 * The broker builds requests from scratch ({@link gatewayRequestHeaders}); the router mutates the client's
 * request as Envoy carries it ({@link envoyBackendMutation}). Both derive from the lists below.
 */
import type { ServerConfig } from "../config/schema.ts";
import { GATEWAY_INFO } from "./protocol.ts";

/** Headers that carry the client's own credentials. */
export const CLIENT_CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"] as const;

/** The router's hairpin headers: a signed token and the host it is bound to. */
export const HAIRPIN_TOKEN_HEADER = "x-mcp-hairpin-token";
export const HAIRPIN_HOST_HEADER = "mcp-init-host";

/**
 * Headers addressed to the gateway itself: a policy's verdict on the caller (Kuadrant's trusted header and
 * its kagenti-era predecessor), the virtual-server selector, and the hairpin's token. Never forwarded.
 */
export const INTERNAL_HEADERS = [
  "x-mcp-authorized",
  "x-authorized-tools",
  "x-mcp-virtualserver",
  HAIRPIN_TOKEN_HEADER,
  HAIRPIN_HOST_HEADER,
] as const;

/** Client headers carried to the backend on requests the gateway makes itself: trace context. */
export const TRACE_HEADERS = ["traceparent", "tracestate", "baggage", "x-request-id"] as const;

/** Reads one request header by lower-case name (a `Headers`, a `Map`, …). */
export type HeaderLookup = (name: string) => string | null | undefined;

export type DataPath = "broker" | "envoy";

/** Whether the client's `Authorization` goes on to this server on this path (see the module comment). */
export function forwardsClientToken(
  server: Pick<ServerConfig, "forwardClientToken">,
  path: DataPath,
): boolean {
  return path === "envoy" && server.forwardClientToken === true;
}

/**
 * Headers for a request the gateway itself sends to a backend (the broker's forwards, backend session
 * setup, the router's hairpin): its own identity, the server's credential (or, opted in on the Envoy path,
 * the client's token), and the client's trace context.
 */
export function gatewayRequestHeaders(
  server: Pick<ServerConfig, "credential" | "forwardClientToken">,
  client: HeaderLookup = () => undefined,
  path: DataPath = "broker",
): Record<string, string> {
  const headers: Record<string, string> = { "user-agent": `${GATEWAY_INFO.name}/${GATEWAY_INFO.version}` };
  const authorization = forwardsClientToken(server, path) ? client("authorization") : server.credential;
  if (authorization) headers.authorization = authorization;
  for (const name of TRACE_HEADERS) {
    const value = client(name);
    if (value) headers[name] = value;
  }
  return headers;
}

/** Headers for a request on an open backend session (`binding.id` is "" for a stateless backend). */
export function backendSessionHeaders(
  server: Pick<ServerConfig, "credential" | "forwardClientToken">,
  binding: { id: string; protocolVersion: string },
  client?: HeaderLookup,
): Record<string, string> {
  const headers = gatewayRequestHeaders(server, client);
  headers["content-type"] = "application/json";
  headers["accept"] = "application/json, text/event-stream";
  headers["mcp-protocol-version"] = binding.protocolVersion;
  if (binding.id) headers["mcp-session-id"] = binding.id;
  return headers;
}

/**
 * Header mutations for a client request Envoy carries to a backend: credentials and internal headers out,
 * the server's credential in. `present` tells which headers the client sent (removals are listed only for
 * those, to keep the mutation small).
 */
export function envoyBackendMutation(
  server: Pick<ServerConfig, "credential" | "forwardClientToken">,
  present: (name: string) => boolean,
): { set: Record<string, string>; remove: string[] } {
  const set: Record<string, string> = {};
  const keepToken = forwardsClientToken(server, "envoy");
  const remove: string[] = [...INTERNAL_HEADERS, ...CLIENT_CREDENTIAL_HEADERS].filter((name) =>
    present(name) && !(keepToken && name === "authorization")
  );
  if (!keepToken && server.credential) {
    set.authorization = server.credential;
    return { set, remove: remove.filter((name) => name !== "authorization") };
  }
  return { set, remove };
}
