/**
 * Connections to the shared store (`--session-store redis://[user:pass@]host:port/db`, `rediss://` for TLS):
 * any Redis ≥ 6.2 or Valkey. The client is ioredis (measured against node-redis under Deno: the same ≈22 µs
 * per command on loopback, but only ioredis's per-command timeout also ends a command already sent to a
 * server that stopped answering, which is what turns a hung store into degraded mode instead of hung calls).
 *
 * Every connection fails fast while the store is away (no offline queue, no retries per command): a call
 * must never wait for the store to come back; the gateway serves from its own state meanwhile.
 */
import { Redis, type RedisOptions } from "ioredis";

/** The parts of a store URL, checked. */
export interface StoreUrl {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username?: string;
  password?: string;
  /** The URL without its credentials, for logs and `/status`. */
  redacted: string;
}

/** Parses `redis://[user:pass@]host[:port][/db]` or `rediss://…`; throws a message naming the problem. */
export function parseStoreUrl(text: string): StoreUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`--session-store ${redact(text)} is not a URL (expected redis://host:port/db)`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new Error(`--session-store must be memory, redis://… or rediss://…, got ${url.protocol}//…`);
  }
  const path = url.pathname.replace(/^\//, "");
  const db = path === "" ? 0 : Number(path);
  if (!Number.isInteger(db) || db < 0) {
    throw new Error(`--session-store: the database must be a number (redis://host:port/0), got /${path}`);
  }
  const safe = new URL(url.href);
  safe.username = safe.username ? "***" : "";
  safe.password = safe.password ? "***" : "";
  return {
    host: url.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: url.port ? Number(url.port) : 6379,
    db,
    tls: url.protocol === "rediss:",
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    redacted: safe.href,
  };
}

function redact(text: string): string {
  return text.replace(/\/\/[^@/]*@/, "//***@");
}

/** What a connection is for: commands time out; a blocking reader must not. */
export type ConnectionRole = "commands" | "reader" | "subscriber";

/** How long a command may take before the store counts as unreachable. */
export const COMMAND_TIMEOUT_MS = 1_000;

/** Opens one connection (it connects in the background and reconnects by itself, with backoff). */
export function openConnection(url: StoreUrl, role: ConnectionRole, name: string): Redis {
  const options: RedisOptions = {
    host: url.host,
    port: url.port,
    db: url.db,
    username: url.username,
    password: url.password,
    tls: url.tls ? {} : undefined,
    connectionName: `mcp-gateway:${name}:${role}`,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    // Reconnect soon after a restart, then at most every 2 s, with jitter so replicas do not move in step.
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2_000) * (0.75 + Math.random() / 2),
    // Resubscribing is the subscriber's own job (its channels are re-sent after every resync).
    autoResubscribe: false,
    enableAutoPipelining: role === "commands",
    commandTimeout: role === "commands" ? COMMAND_TIMEOUT_MS : undefined,
  };
  const client = new Redis(options);
  // Errors surface where commands fail; the connection's own error events would only repeat them.
  client.on("error", () => {});
  return client;
}
