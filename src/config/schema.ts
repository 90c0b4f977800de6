/**
 * The standalone configuration format (the seed's `config.yaml`), which the controller also writes. Validated
 * with zod so a bad file is rejected with the field and the problem named, never half-applied.
 */
import { z } from "zod";

const serverName = z.string().trim().min(1, "must not be empty").max(253);

/** Tool prefixes become part of tool names, which MCP limits to `[A-Za-z0-9_.-]` (SEP-986). */
const toolPrefix = z.string().regex(
  /^[A-Za-z0-9_.\-]*$/,
  "may only contain letters, digits, '_', '-' and '.'",
);

export const ServerConfigSchema = z.object({
  name: serverName,
  url: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }),
  /** The :authority Envoy routes tool calls by; defaults to the URL's host. */
  hostname: z.string().trim().min(1).optional(),
  /** A listed server serves unless disabled (the reference defaults to false; nobody lists a server to hide it). */
  enabled: z.boolean().default(true),
  toolPrefix: toolPrefix.default(""),
  /** Literal `Authorization` value the gateway sends to this server. Prefer credentialFile/credentialEnv. */
  credential: z.string().optional(),
  /** File holding the credential (e.g. a mounted Secret key); relative paths are from the config file. */
  credentialFile: z.string().min(1).optional(),
  /** Environment variable holding the credential. */
  credentialEnv: z.string().min(1).optional(),
  /**
   * Envoy path only: let the client's own `Authorization` travel on to this server's route, for a policy
   * there that exchanges it (e.g. a Kuadrant AuthPolicy doing token exchange). Off by default: MCP forbids
   * token passthrough, so without such a policy the backend would receive a token meant for the gateway.
   * Unset means false.
   */
  forwardClientToken: z.boolean().optional(),
}).strict();

export const VirtualServerSchema = z.object({
  name: serverName,
  tools: z.array(z.string()).default([]),
  /** Omitted: every prompt is visible. */
  prompts: z.array(z.string()).optional(),
}).strict();

/** Where replicas share sessions: `memory` (this process only), or a Redis/Valkey URL. */
export function isSessionStoreUrl(value: string): boolean {
  return value === "memory" || /^rediss?:\/\/./.test(value);
}

/** What {@link isSessionStoreUrl} accepts, for error messages. */
export const SESSION_STORE_URL_RULE = "must be memory, or a redis:// or rediss:// URL";

/**
 * The session store named in the config (the controller writes it from its own `--session-store`). Read at
 * startup, when neither `--session-store` nor `SESSION_STORE_URL` is given; a URL carrying a password
 * belongs in a file (a mounted Secret), not in the config itself.
 */
export const SessionStoreConfigSchema = z.object({
  url: z.string().refine(isSessionStoreUrl, SESSION_STORE_URL_RULE).optional(),
  /** File holding the URL; relative paths are from the config file. */
  urlFile: z.string().min(1).optional(),
}).strict().refine((store) => (store.url === undefined) !== (store.urlFile === undefined), {
  message: "set one of url, urlFile",
});

export const GatewayConfigSchema = z.object({
  servers: z.array(ServerConfigSchema).default([]),
  virtualServers: z.array(VirtualServerSchema).default([]),
  sessionStore: SessionStoreConfigSchema.optional(),
}).strict().superRefine((config, ctx) => {
  const seen = new Map<string, number>();
  config.servers.forEach((server, i) => {
    const first = seen.get(server.name);
    if (first !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["servers", i, "name"],
        message: `duplicate server name "${server.name}" (also servers[${first}])`,
      });
    } else seen.set(server.name, i);
    const sources = [server.credential, server.credentialFile, server.credentialEnv].filter((v) =>
      v !== undefined
    );
    if (sources.length > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["servers", i],
        message: "set at most one of credential, credentialFile, credentialEnv",
      });
    }
  });
});

/** A server as written in the file. */
export type ServerConfigInput = z.input<typeof ServerConfigSchema>;
/** A server after defaults; `credential` holds the resolved value whatever its source. */
export type ServerConfig = z.infer<typeof ServerConfigSchema> & { hostname: string };
export type VirtualServer = z.infer<typeof VirtualServerSchema>;
export type GatewayConfig = Omit<z.infer<typeof GatewayConfigSchema>, "servers" | "sessionStore"> & {
  servers: ServerConfig[];
  /** The store's URL, read from `urlFile` when the file names it that way. */
  sessionStore?: { url: string };
};

/** The config a gateway has before any file is read: serves nothing, rejects nothing. */
export const EMPTY_CONFIG: GatewayConfig = { servers: [], virtualServers: [] };
