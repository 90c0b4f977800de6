/**
 * Generates a plain Envoy bootstrap (standalone mode, no Istio) from the gateway config: a listener with
 * the ext_proc filter configured as the router expects, a virtual host per server hostname, the broker as
 * the default route — with, before it, the one route Envoy can take by itself from 2026-07-28 headers
 * ({@link brokerByHeaderRoute}) — and clusters for router, broker and each server. With
 * {@link JwtAuthnOptions}, a `jwt_authn` filter validates the client's OAuth token before anything else runs.
 */
import type { GatewayConfig } from "../config/schema.ts";
import { MODERN_PROTOCOL_VERSION } from "../mcp/protocol.ts";
import { protectedResourceMetadataUrl } from "../identity/bearer.ts";
import { HAIRPIN_TOKEN_HEADER } from "../mcp/backend_headers.ts";
import { METADATA_NAMESPACE } from "./replies.ts";

export interface HostPort {
  host: string;
  port: number;
}

export interface EnvoyConfigOptions {
  /** Where Envoy listens (the public and the private/hairpin host both point here). */
  listen: HostPort;
  /** The router's gRPC address (`--mcp-router-address`). */
  router: HostPort;
  /** The broker's HTTP address (`--mcp-broker-address`). */
  broker: HostPort;
  /** `message_timeout`, seconds; above the router's 8 s hairpin timeout. */
  messageTimeoutSeconds?: number;
  /** Per-connection buffer limit: must exceed the router's body limit so its 413 answers first. */
  bufferLimitBytes?: number;
  /** Admin interface port on 127.0.0.1; 0 leaves it out. */
  adminPort?: number;
  /** Validate the client's bearer token in Envoy (`--jwt-issuer`, `--jwt-jwks-uri`, `--jwt-audience`). */
  jwt?: JwtAuthnOptions;
  /** Leave out {@link brokerByHeaderRoute} (`--no-header-routes`): every request then asks the router. */
  noHeaderRoutes?: boolean;
}

/**
 * Envoy's `jwt_authn` as the plain-Envoy stand-in for a Kuadrant AuthPolicy: every request but the
 * OAuth metadata under `/.well-known/` needs a JWT from `issuer`, signed by a key at `jwksUri`, whose
 * `aud` names one of `audiences` (the MCP resource URL, RFC 8707). Scopes and per-user capabilities are
 * not Envoy's job here: the broker checks them (`--oauth-validate-tokens`), so the token is forwarded.
 */
export interface JwtAuthnOptions {
  issuer: string;
  jwksUri: string;
  audiences: string[];
  /** The 401 challenge's `resource_metadata` (RFC 9728); default derived from the first audience. */
  resourceMetadataUrl?: string;
  /** How long fetched keys are cached, seconds (default 600; an unknown `kid` does not refetch sooner). */
  jwksCacheSeconds?: number;
}

/** The provider name in the generated `jwt_authn` config (also the dynamic metadata key of the payload). */
export const JWT_PROVIDER = "mcp_oauth";
/** Cluster the JWKS is fetched through. */
export const JWKS_CLUSTER = "oauth_jwks";

/** The per-route ext_proc setting that takes a route's requests past the processor. */
export const EXT_PROC_DISABLED = {
  "envoy.filters.http.ext_proc": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute",
    disabled: true,
  },
};

/** 2026 methods the router routes to a backend: everything else 2026 is the broker's, whatever the body. */
const ROUTED_2026_METHODS = "tools/call|prompts/get";

/**
 * The route Envoy takes alone, from headers (SEP-2243), in the default virtual host before the broker's
 * catch-all: a 2026-07-28 POST whose `Mcp-Method` is not `tools/call` or `prompts/get` (lists,
 * `server/discover`, `subscriptions/listen`, `resources/read`, completions, tasks, notifications, unknown
 * methods) goes to the broker with the ext_proc filter off for it — no gRPC message at all. The broker reads
 * the body and checks it against these headers (a body naming another method is refused, -32020), so
 * nothing reaches a backend this way. Envoy cannot take the calls alone: which backend serves a name is
 * in the router's routing table, a prefixed name must be rewritten in the body, the body must be checked
 * against the headers before a backend sees it, and a call crossing eras needs the broker.
 */
export function brokerByHeaderRoute(): Record<string, unknown> {
  return {
    name: "mcp_2026_broker_by_header",
    match: {
      prefix: "/",
      headers: [
        { name: ":method", string_match: { exact: "POST" } },
        { name: "mcp-protocol-version", string_match: { exact: MODERN_PROTOCOL_VERSION } },
        // An absent Mcp-Method fails this matcher too (invert_match ignores a missing header).
        {
          name: "mcp-method",
          string_match: { safe_regex: { regex: ROUTED_2026_METHODS } },
          invert_match: true,
        },
      ],
    },
    route: { cluster: "mcp_broker", timeout: "0s" },
    typed_per_filter_config: EXT_PROC_DISABLED,
  };
}

/** The ext_proc processing mode the router is written for (the reference gateway's). */
export const PROCESSING_MODE = {
  request_header_mode: "SEND",
  response_header_mode: "SEND",
  request_body_mode: "BUFFERED",
  response_body_mode: "NONE",
  request_trailer_mode: "SKIP",
  response_trailer_mode: "SKIP",
} as const;

/** Cluster name for a server: Envoy names allow anything, but stats read better without slashes. */
export function serverClusterName(server: string): string {
  return `server_${server.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
}

/** Parses "host:port" for a cluster target; an empty or wildcard host means "this machine". */
export function hostPort(value: string, fallbackPort = 80): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(value);
  if (!match) throw new Error(`not host:port: ${value}`);
  const host = match[1] ?? match[2];
  return {
    host: host === "" || host === "0.0.0.0" ? "127.0.0.1" : host,
    port: match[3] ? Number(match[3]) : fallbackPort,
  };
}

const isIp = (host: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");

function cluster(name: string, target: HostPort, extra: Record<string, unknown> = {}) {
  return {
    name,
    type: isIp(target.host) ? "STATIC" : "STRICT_DNS",
    connect_timeout: "2s",
    load_assignment: {
      cluster_name: name,
      endpoints: [{
        lb_endpoints: [{
          endpoint: { address: { socket_address: { address: target.host, port_value: target.port } } },
        }],
      }],
    },
    ...extra,
  };
}

function urlTarget(url: URL): HostPort {
  return {
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port) || (url.protocol === "https:" ? 443 : 80),
  };
}

function tlsSocket(sni: string) {
  return {
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        sni,
      },
    },
  };
}

/** The `jwt_authn` HTTP filter, the cluster its JWKS comes through, and the challenge for its 401s. */
export function jwtAuthnPieces(jwt: JwtAuthnOptions) {
  if (jwt.audiences.length === 0) {
    throw new Error("jwt_authn needs at least one audience (the MCP resource URL)");
  }
  const jwks = new URL(jwt.jwksUri);
  const filter = {
    name: "envoy.filters.http.jwt_authn",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
      providers: {
        [JWT_PROVIDER]: {
          issuer: jwt.issuer,
          audiences: jwt.audiences,
          remote_jwks: {
            http_uri: { uri: jwt.jwksUri, cluster: JWKS_CLUSTER, timeout: "5s" },
            cache_duration: `${jwt.jwksCacheSeconds ?? 600}s`,
            // Fetch at startup and refresh in the background, so no request waits on the issuer.
            async_fetch: {},
            retry_policy: { num_retries: 3 },
          },
          // The broker is the second line (scopes, capabilities, session binding); it needs the token.
          // It never goes further: the gateway strips Authorization before any backend.
          forward: true,
          payload_in_metadata: "jwt_payload",
          clock_skew_seconds: 30,
        },
      },
      rules: [
        // Protected resource metadata must be readable without a token: it tells clients how to get one.
        { match: { prefix: "/.well-known/" } },
        // The router's own hairpin initialize carries no user token (a backend never sees the client's);
        // the router verifies its signed, host-bound token itself and lets only a handshake ride on it.
        { match: { prefix: "/", headers: [{ name: HAIRPIN_TOKEN_HEADER, present_match: true }] } },
        { match: { prefix: "/" }, requires: { provider_name: JWT_PROVIDER } },
      ],
      bypass_cors_preflight: true,
    },
  };
  const challenge = `Bearer resource_metadata="${
    jwt.resourceMetadataUrl ?? protectedResourceMetadataUrl(jwt.audiences[0])
  }"`;
  // jwt_authn answers 401 with `Bearer realm=…`; MCP clients look for `resource_metadata` (RFC 9728 §5.1).
  // Local-reply mappers run after the filter's own headers, so this value is the one sent.
  const localReply = {
    mappers: [{
      filter: {
        status_code_filter: {
          comparison: {
            op: "EQ",
            value: { default_value: 401, runtime_key: "mcp.jwt_authn.challenge_status" },
          },
        },
      },
      headers_to_add: [{
        header: { key: "www-authenticate", value: challenge },
        append_action: "OVERWRITE_IF_EXISTS_OR_ADD",
      }],
    }],
  };
  const clusterConfig = cluster(
    JWKS_CLUSTER,
    urlTarget(jwks),
    jwks.protocol === "https:" ? tlsSocket(jwks.hostname) : {},
  );
  return { filter, localReply, cluster: clusterConfig };
}

export interface EnvoyBootstrap {
  config: Record<string, unknown>;
  /** Servers left out, and why (disabled, or a hostname another server already claims). */
  skipped: { server: string; reason: string }[];
}

export function buildEnvoyConfig(gateway: GatewayConfig, o: EnvoyConfigOptions): EnvoyBootstrap {
  const skipped: EnvoyBootstrap["skipped"] = [];
  const virtualHosts: Record<string, unknown>[] = [];
  const clusters: Record<string, unknown>[] = [
    cluster("mcp_router", o.router, {
      // gRPC needs HTTP/2 to the processor.
      typed_extension_protocol_options: {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
          "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
    }),
    cluster("mcp_broker", o.broker),
  ];
  const claimed = new Map<string, string>();
  for (const server of gateway.servers) {
    if (!server.enabled) {
      skipped.push({ server: server.name, reason: "disabled" });
      continue;
    }
    const domain = server.hostname.toLowerCase();
    const owner = claimed.get(domain);
    if (owner) {
      skipped.push({ server: server.name, reason: `hostname ${server.hostname} already routes to ${owner}` });
      continue;
    }
    claimed.set(domain, server.name);
    const url = new URL(server.url);
    const name = serverClusterName(server.name);
    virtualHosts.push({
      name,
      domains: [server.hostname],
      routes: [{
        match: { prefix: "/" },
        // timeout 0s: tool results may stream (SSE) for longer than Envoy's 15 s default.
        route: { cluster: name, timeout: "0s", host_rewrite_literal: url.host },
      }],
    });
    clusters.push(cluster(name, urlTarget(url), url.protocol === "https:" ? tlsSocket(url.hostname) : {}));
  }
  // Everything else, the public host included, is the broker's (the router pins :authority to it).
  virtualHosts.push({
    name: "mcp_gateway",
    domains: ["*"],
    routes: [
      ...(o.noHeaderRoutes ? [] : [brokerByHeaderRoute()]),
      { match: { prefix: "/" }, route: { cluster: "mcp_broker", timeout: "0s" } },
    ],
  });

  const jwt = o.jwt ? jwtAuthnPieces(o.jwt) : undefined;
  if (jwt) clusters.push(jwt.cluster);

  const config: Record<string, unknown> = {
    static_resources: {
      listeners: [{
        name: "mcp_listener",
        address: { socket_address: { address: o.listen.host, port_value: o.listen.port } },
        per_connection_buffer_limit_bytes: o.bufferLimitBytes ?? 8 * 1024 * 1024,
        filter_chains: [{
          filters: [{
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type":
                "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: "mcp",
              codec_type: "AUTO",
              // SSE listeners (GET /mcp) are idle between events; the broker sends keep-alives.
              stream_idle_timeout: "3600s",
              route_config: { name: "mcp_routes", virtual_hosts: virtualHosts },
              ...(jwt ? { local_reply_config: jwt.localReply } : {}),
              http_filters: [
                // Authentication first: nothing unauthenticated reaches the router or a backend.
                ...(jwt ? [jwt.filter] : []),
                {
                  name: "envoy.filters.http.ext_proc",
                  typed_config: {
                    "@type":
                      "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
                    grpc_service: { envoy_grpc: { cluster_name: "mcp_router" } },
                    // Router down ⇒ requests fail: nothing may reach a backend without a decision.
                    failure_mode_allow: false,
                    mutation_rules: { allow_all_routing: true },
                    message_timeout: `${o.messageTimeoutSeconds ?? 10}s`,
                    processing_mode: PROCESSING_MODE,
                    // The router asks per request for only the messages it needs (`mode_override` in its
                    // request-headers reply); without this Envoy ignores those requests.
                    allow_mode_override: true,
                    metadata_options: { receiving_namespaces: { untyped: [METADATA_NAMESPACE] } },
                  },
                },
                {
                  name: "envoy.filters.http.router",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                  },
                },
              ],
            },
          }],
        }],
      }],
      clusters,
    },
  };
  if (o.adminPort) {
    config.admin = { address: { socket_address: { address: "127.0.0.1", port_value: o.adminPort } } };
  }
  return { config, skipped };
}
