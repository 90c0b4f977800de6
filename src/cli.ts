/**
 * Command-line flags and environment: the seed's flags with their defaults, the reference binary's
 * spellings, and the gateway's own additions. Parsing is strict: an unknown flag is an error, not a typo
 * that silently changes nothing.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import type { LogFormat, LogLevel } from "./observe/log.ts";
import { isSessionStoreUrl, SESSION_STORE_URL_RULE } from "./config/schema.ts";

export const HELP =
  `MCP Gateway — many MCP servers behind one /mcp endpoint (broker, Envoy ext_proc router, controller)

Usage: mcp-broker-router [flags]

  --mcp-broker-address ADDR        HTTP broker address (default 0.0.0.0:8080)
                                   (alias: --mcp-broker-public-address)
  --mcp-router-address ADDR        gRPC ext_proc address (default 0.0.0.0:50051); "off" disables the router
  --mcp-gateway-config FILE        config file path (default ./config/mcp-system/config.yaml); hot-reloaded
  --controller                     run the Kubernetes controller instead of broker and router
  --mcp-gateway-public-host HOST   :authority the router pins every request to (default mcp.127-0-0-1.sslip.io:8888)
  --mcp-gateway-private-host HOST  where the router sends hairpin initialize requests
                                   (default mcp-gateway-istio.gateway-system.svc.cluster.local:8080)
  --session-signing-key KEY        HS256 key for gateway sessions (alias --gateway-signing-key). Prefer the env
                                   JWT_SESSION_SIGNING_KEY (or GATEWAY_SIGNING_KEY): a flag shows the key to \`ps\`
                                   and \`deno task\` echoes it. Unset: a random key per process
  --session-length MINUTES         gateway session lifetime (default 1440)
  --mcp-check-interval SECONDS     upstream health check and re-list period (default 60)
  --max-request-body-size BYTES    largest accepted request body (default 5242880)
  --max-streams-per-session N      GET streams one session may hold open (default 8); more get 429
  --max-streams N                  GET streams the broker holds open in all (default 10000); more get 429
  --http-header-timeout SECONDS    a new connection must send its request head within this (default 10; 0 off)
  --http-body-timeout SECONDS      a request body must arrive within this, else 408 (default 60; 0 off)
  --http-idle-timeout SECONDS      close a connection idle this long between requests (default 120; 0 off)
  --input-required-timeout SECONDS how long a call between protocol eras waits for the client's input (a 2025
                                   client's answers, a 2026 client's retry after input_required) before it ends
                                   with an error and the backend call is cancelled (default 300)
  --shutdown-delay SECONDS         on SIGTERM/SIGINT, keep serving this long with /readyz answering 503, so load
                                   balancers stop sending new work before the listener closes (default 0)
  --shutdown-grace SECONDS         then how long calls and streams in flight may take to finish (default 30)
  --allowed-origins LIST           browser Origins allowed on /mcp besides loopback ones and the public host,
                                   comma-separated, or "*" (env MCP_ALLOWED_ORIGINS; default none)
  --allowed-hosts LIST             Host header values accepted on /mcp, comma-separated, or "*" (env
                                   MCP_ALLOWED_HOSTS; default: loopback and the public host when the broker
                                   listens on loopback, any otherwise)
Identity (see docs/auth.md):
  --oauth-validate-tokens          validate bearer tokens on /mcp (env OAUTH_VALIDATE_TOKENS=true): issuers from
                                   OAUTH_AUTHORIZATION_SERVERS, audience OAUTH_RESOURCE, scopes OAUTH_REQUIRED_SCOPES
  --token-capabilities CLAIM       read per-user capabilities from the validated token's CLAIM (Keycloak:
                                   resource_access, roles tool:<name> / prompt:<name>) (env TOKEN_CAPABILITIES_CLAIM)
  --token-capabilities-format F    roles|capabilities (default roles; capabilities = Kuadrant's JSON)
  --trusted-header-public-key PEM  verify Kuadrant's x-mcp-authorized header with this ES256 public key, PEM text or
                                   a file holding it (env TRUSTED_HEADER_PUBLIC_KEY)
  --enforce-capability-filtering   without a trusted header, allow nothing (env ENFORCE_CAPABILITY_FILTERING=true)
  --audit-log FILE                 one JSON line per routed request; "-" is stdout (default), "off" disables
  --audit-arguments                include tool arguments in audit lines (off by default)

Observability (see docs/observability.md):
  --event-log-file FILE            append every event to FILE as a JSON line (secrets redacted), for
                                   \`deno task replay FILE\`
  --console-address ADDR           also serve /console and /debug/* on ADDR to any client (default off: they are
                                   served on the broker address to loopback clients only)
  --trace-subject MODE             off|id|hash: put the caller's subject on trace spans as user.id, or a hash of it
                                   as user.hash (env MCP_TRACE_SUBJECT; default off). Traces are exported when
                                   OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; the
                                   other OTEL_* variables apply (docs/observability.md#traces)

Scale (see docs/scaling.md):
  --session-store URL              where replicas share sessions: memory (default: this process only), or
                                   redis://[user:pass@]host:port/db (rediss:// for TLS) (env SESSION_STORE_URL;
                                   unset: the config's sessionStore). With --controller: written into the config
                                   (via the credentials Secret) for every broker
  --workers N                      gateway processes on this machine sharing the ports and the store; "auto" = one
                                   per core (default 1; more than 1 needs a shared session store)

  --log-level LEVEL                debug|info|warn|error, or the reference's numbers -4|0|4|8 (default info)
  --log-format FORMAT              text|json (default text)
  --help                           show this help

Controller mode (--controller):
  --kubeconfig FILE                kubeconfig (default: in-cluster, $KUBECONFIG, ~/.kube/config)
  --namespace NS                   namespace of the written ConfigMap/Secret (env NAMESPACE, default mcp-system)
  --health-probe-address ADDR      /healthz and /readyz (default 0.0.0.0:8081)
  --metrics-address ADDR           Prometheus metrics (default 0.0.0.0:8082)
  --mcp-broker-status-url URL      broker /status to fold into MCPServer status (env MCP_BROKER_STATUS_URL)

Environment: OAUTH_RESOURCE_NAME, OAUTH_RESOURCE, OAUTH_AUTHORIZATION_SERVERS, OAUTH_BEARER_METHODS_SUPPORTED,
OAUTH_SCOPES_SUPPORTED configure /.well-known/oauth-protected-resource.
`;

const LOG_LEVELS: Record<string, LogLevel> = {
  debug: "debug",
  info: "info",
  warn: "warn",
  warning: "warn",
  error: "error",
  "-4": "debug",
  "0": "info",
  "4": "warn",
  "8": "error",
};

const positiveNumber = (flag: string) =>
  z.coerce.number({ error: `${flag} must be a number` }).positive(`${flag} must be greater than 0`);
const seconds = (flag: string) =>
  z.coerce.number({ error: `${flag} must be a number of seconds` }).nonnegative(`${flag} must be 0 or more`);

const OptionsSchema = z.object({
  brokerAddress: z.string(),
  routerAddress: z.string(),
  configPath: z.string().min(1),
  controller: z.boolean(),
  publicHost: z.string().min(1),
  privateHost: z.string().min(1),
  signingKey: z.string().optional(),
  /** The key came from a flag (visible in `ps`, echoed by `deno task`), not the environment. */
  signingKeyOnCommandLine: z.boolean(),
  sessionMinutes: positiveNumber("--session-length"),
  checkIntervalSeconds: positiveNumber("--mcp-check-interval"),
  maxBodyBytes: positiveNumber("--max-request-body-size").int(),
  maxStreamsPerSession: positiveNumber("--max-streams-per-session").int(),
  maxStreams: positiveNumber("--max-streams").int(),
  httpHeaderTimeoutSeconds: seconds("--http-header-timeout"),
  httpBodyTimeoutSeconds: seconds("--http-body-timeout"),
  httpIdleTimeoutSeconds: seconds("--http-idle-timeout"),
  inputRequiredTimeoutSeconds: positiveNumber("--input-required-timeout"),
  shutdownDelaySeconds: seconds("--shutdown-delay"),
  shutdownGraceSeconds: seconds("--shutdown-grace"),
  logLevel: z.string().transform((v, ctx) => {
    const level = LOG_LEVELS[v.toLowerCase()];
    if (!level) {
      ctx.addIssue({ code: "custom", message: `--log-level must be debug, info, warn or error, got ${v}` });
    }
    return level as LogLevel;
  }),
  logFormat: z.string().transform((v, ctx) => {
    const format = v === "txt" ? "text" : v;
    if (format !== "text" && format !== "json") {
      ctx.addIssue({ code: "custom", message: `--log-format must be text or json, got ${v}` });
    }
    return format as LogFormat;
  }),
  kubeconfig: z.string().optional(),
  namespace: z.string().min(1),
  healthAddress: z.string(),
  metricsAddress: z.string(),
  brokerStatusUrl: z.string().optional(),
  allowedOrigins: z.string().optional(),
  allowedHosts: z.string().optional(),
  oauthValidateTokens: z.boolean().optional(),
  tokenCapabilitiesClaim: z.string().min(1).optional(),
  tokenCapabilitiesFormat: z.enum(["roles", "capabilities"], {
    error: "--token-capabilities-format must be roles or capabilities",
  }),
  trustedHeaderPublicKey: z.string().min(1).optional(),
  enforceCapabilityFiltering: z.boolean(),
  auditLog: z.string().min(1),
  auditArguments: z.boolean(),
  eventLogFile: z.string().min(1, "--event-log-file must name a file").optional(),
  consoleAddress: z.string().optional(),
  traceSubject: z.enum(["off", "id", "hash"], { error: "--trace-subject must be off, id or hash" }),

  /** Unset: the config's `sessionStore`, else the embedded store. */
  sessionStore: z.string().refine(isSessionStoreUrl, { message: `--session-store ${SESSION_STORE_URL_RULE}` })
    .optional(),
  workers: z.string().transform((v, ctx) => {
    const n = v === "auto" ? navigator.hardwareConcurrency : Number(v);
    if (!Number.isInteger(n) || n < 1) {
      ctx.addIssue({
        code: "custom",
        message: `--workers must be a whole number of at least 1, or auto, got ${v}`,
      });
    }
    return n;
  }),
  /** Set by `--workers` in each worker process: its number, and that the ports are shared. */
  worker: z.string().optional(),
});

export type GatewayOptions = z.infer<typeof OptionsSchema>;

export type CliResult = { ok: true; options: GatewayOptions } | { ok: false; help: true } | {
  ok: false;
  help?: false;
  error: string;
};

/** Parses argv and env into options, or an error message naming the flag. */
export function parseCli(args: string[], env: (name: string) => string | undefined): CliResult {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        "mcp-broker-address": { type: "string" },
        "mcp-broker-public-address": { type: "string" },
        "mcp-router-address": { type: "string" },
        "mcp-gateway-config": { type: "string" },
        "controller": { type: "boolean" },
        "mcp-gateway-public-host": { type: "string" },
        "mcp-gateway-private-host": { type: "string" },
        "session-signing-key": { type: "string" },
        "gateway-signing-key": { type: "string" },
        "session-length": { type: "string" },
        "mcp-check-interval": { type: "string" },
        "max-request-body-size": { type: "string" },
        "max-streams-per-session": { type: "string" },
        "max-streams": { type: "string" },
        "http-header-timeout": { type: "string" },
        "http-body-timeout": { type: "string" },
        "http-idle-timeout": { type: "string" },
        "input-required-timeout": { type: "string" },
        "shutdown-delay": { type: "string" },
        "shutdown-grace": { type: "string" },
        "log-level": { type: "string" },
        "log-format": { type: "string" },
        "kubeconfig": { type: "string" },
        "namespace": { type: "string" },
        "health-probe-address": { type: "string" },
        "metrics-address": { type: "string" },
        "mcp-broker-status-url": { type: "string" },
        "allowed-origins": { type: "string" },
        "allowed-hosts": { type: "string" },
        "oauth-validate-tokens": { type: "boolean" },
        "token-capabilities": { type: "string" },
        "token-capabilities-format": { type: "string" },
        "trusted-header-public-key": { type: "string" },
        "enforce-capability-filtering": { type: "boolean" },
        "audit-log": { type: "string" },
        "audit-arguments": { type: "boolean" },
        "event-log-file": { type: "string" },
        "console-address": { type: "string" },
        "trace-subject": { type: "string" },

        "session-store": { type: "string" },
        "workers": { type: "string" },
        "help": { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    return { ok: false, error: `${(e as Error).message}. Run with --help for the list of flags.` };
  }
  if (values.help) return { ok: false, help: true };
  const parsed = OptionsSchema.safeParse({
    brokerAddress: values["mcp-broker-address"] ?? values["mcp-broker-public-address"] ?? "0.0.0.0:8080",
    routerAddress: values["mcp-router-address"] ?? "0.0.0.0:50051",
    configPath: values["mcp-gateway-config"] ?? "./config/mcp-system/config.yaml",
    controller: values.controller ?? false,
    publicHost: values["mcp-gateway-public-host"] ?? "mcp.127-0-0-1.sslip.io:8888",
    privateHost: values["mcp-gateway-private-host"] ??
      "mcp-gateway-istio.gateway-system.svc.cluster.local:8080",
    signingKey: values["session-signing-key"] ?? values["gateway-signing-key"] ??
      env("GATEWAY_SIGNING_KEY") ??
      env("JWT_SESSION_SIGNING_KEY"),
    signingKeyOnCommandLine: (values["session-signing-key"] ?? values["gateway-signing-key"]) !== undefined,
    sessionMinutes: values["session-length"] ?? "1440",
    checkIntervalSeconds: values["mcp-check-interval"] ?? "60",
    maxBodyBytes: values["max-request-body-size"] ?? String(5 * 1024 * 1024),
    maxStreamsPerSession: values["max-streams-per-session"] ?? "8",
    maxStreams: values["max-streams"] ?? "10000",
    httpHeaderTimeoutSeconds: values["http-header-timeout"] ?? "10",
    httpBodyTimeoutSeconds: values["http-body-timeout"] ?? "60",
    httpIdleTimeoutSeconds: values["http-idle-timeout"] ?? "120",
    inputRequiredTimeoutSeconds: values["input-required-timeout"] ?? "300",
    shutdownDelaySeconds: values["shutdown-delay"] ?? "0",
    shutdownGraceSeconds: values["shutdown-grace"] ?? "30",
    logLevel: values["log-level"] ?? "info",
    logFormat: values["log-format"] ?? "text",
    kubeconfig: values.kubeconfig,
    namespace: values.namespace ?? env("NAMESPACE") ?? "mcp-system",
    healthAddress: values["health-probe-address"] ?? "0.0.0.0:8081",
    metricsAddress: values["metrics-address"] ?? "0.0.0.0:8082",
    brokerStatusUrl: values["mcp-broker-status-url"] ?? env("MCP_BROKER_STATUS_URL"),
    allowedOrigins: values["allowed-origins"] ?? env("MCP_ALLOWED_ORIGINS"),
    allowedHosts: values["allowed-hosts"] ?? env("MCP_ALLOWED_HOSTS"),
    oauthValidateTokens: values["oauth-validate-tokens"] as boolean | undefined,
    tokenCapabilitiesClaim: values["token-capabilities"] ?? env("TOKEN_CAPABILITIES_CLAIM"),
    tokenCapabilitiesFormat: values["token-capabilities-format"] ?? "roles",
    trustedHeaderPublicKey: values["trusted-header-public-key"] ?? env("TRUSTED_HEADER_PUBLIC_KEY"),
    enforceCapabilityFiltering: values["enforce-capability-filtering"] ??
      /^(true|1|yes|on)$/i.test(env("ENFORCE_CAPABILITY_FILTERING") ?? ""),
    auditLog: values["audit-log"] ?? "-",
    auditArguments: values["audit-arguments"] ?? false,
    eventLogFile: values["event-log-file"],
    consoleAddress: values["console-address"],
    traceSubject: values["trace-subject"] ?? env("MCP_TRACE_SUBJECT") ?? "off",

    sessionStore: values["session-store"] ?? env("SESSION_STORE_URL"),
    workers: values.workers ?? "1",
    worker: env("MCP_GATEWAY_WORKER"),
  });
  if (!parsed.success) return { ok: false, error: parsed.error.issues.map((i) => i.message).join("; ") };
  // Unset, the config may still name a store: main checks that before it starts the workers.
  if (parsed.data.workers > 1 && parsed.data.sessionStore === "memory" && !parsed.data.controller) {
    return { ok: false, error: workersNeedStore(parsed.data.workers) };
  }
  return { ok: true, options: parsed.data };
}

/** Why `--workers N` refuses to start without a shared session store. */
export function workersNeedStore(workers: number): string {
  return `--workers ${workers} needs a shared session store (--session-store redis://host:port/db, or ` +
    "sessionStore in the config): each worker is a process of its own, and a client whose requests reach " +
    "different workers would otherwise get a backend session from each of them";
}

/** Splits `host:port`, `:port` or `[v6]:port`; an empty host means every interface. */
export function parseAddress(address: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address.trim());
  if (!match) throw new Error(`address ${JSON.stringify(address)} must look like host:port`);
  return { hostname: match[1] ?? (match[2] || "0.0.0.0"), port: Number(match[3]) };
}

/** A comma-separated list flag: "*" means any, empty entries are dropped. */
export function listOption(value: string | undefined): string[] | "*" | undefined {
  if (value === undefined) return undefined;
  const items = value.split(",").map((v) => v.trim()).filter((v) => v !== "");
  return items.includes("*") ? "*" : items;
}
