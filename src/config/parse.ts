/**
 * Turns config text into a validated {@link GatewayConfig}, or a message that names the field and the
 * problem. Pure apart from resolving credentials, which the caller injects.
 */
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { createHash } from "node:crypto";
import {
  type GatewayConfig,
  GatewayConfigSchema,
  isSessionStoreUrl,
  type ServerConfig,
  ServerConfigSchema,
  SESSION_STORE_URL_RULE,
} from "./schema.ts";

export type ParseResult = { ok: true; config: GatewayConfig; digest: string } | { ok: false; reason: string };

/** Reads a credential from a file or env var; injected so parsing stays testable. */
export interface CredentialResolver {
  file(path: string): string;
  env(name: string): string | undefined;
}

const KNOWN_SERVER_KEYS = Object.keys(ServerConfigSchema.shape);
const KNOWN_TOP_KEYS = ["servers", "virtualServers", "sessionStore"];

/**
 * The reference gateway read config through viper, which matches keys case-insensitively (`toolprefix`
 * works). Keep files written for it working by folding known keys to their canonical spelling.
 */
function canonicalKeys(value: unknown, known: string[]): unknown {
  if (!value || typeof value !== "object" || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[known.find((k) => k.toLowerCase() === key.toLowerCase()) ?? key] = v;
  }
  return out;
}

function normalize(raw: unknown): unknown {
  const top = canonicalKeys(raw, KNOWN_TOP_KEYS) as Record<string, unknown>;
  if (top && Array.isArray(top.servers)) {
    top.servers = top.servers.map((s) => canonicalKeys(s, KNOWN_SERVER_KEYS));
  }
  return top;
}

/**
 * How a message names `servers[i]`: by its name when it has a unique one (`servers[weather]`), since that is
 * what the reader searches the file for; by its index otherwise.
 */
export function serverLabel(servers: unknown, i: number): string {
  const list = Array.isArray(servers) ? servers : [];
  const name = (list[i] as { name?: unknown } | undefined)?.name;
  if (typeof name !== "string" || !name.trim()) return `servers[${i}]`;
  const unique = list.filter((s) => (s as { name?: unknown })?.name === name).length === 1;
  if (!unique) return `servers[${i}]`;
  return /^[\w./-]+$/.test(name) ? `servers[${name}]` : `servers[${JSON.stringify(name)}]`;
}

/** Formats zod issues as `servers[weather].url: must be an http:// or https:// URL`. */
export function describeIssues(error: z.ZodError, input?: unknown): string {
  const servers = (input as { servers?: unknown } | undefined)?.servers;
  return error.issues.map((issue) => {
    const path = issue.path.reduce<string>((acc, part, i) => {
      if (typeof part !== "number") return acc ? `${acc}.${String(part)}` : String(part);
      return i === 1 && acc === "servers" ? serverLabel(servers, part) : `${acc}[${part}]`;
    }, "");
    return `${path || "(root)"}: ${issue.message}`;
  }).join("; ");
}

/**
 * A YAML syntax error in one line: where, what, and the line itself. The library's message ends in a colon
 * followed by a code frame on the next lines, so its first line alone reads as if cut off.
 */
function describeYamlError(e: unknown, text: string): string {
  const error = e as { message?: string; linePos?: { line: number; col: number }[] };
  const what = String(error.message ?? e).split("\n")[0].replace(/\s+at line \d+, column \d+:?\s*$/, "")
    .replace(/:\s*$/, "");
  const pos = error.linePos?.[0];
  if (!pos) return `not valid YAML: ${what}`;
  const line = text.split(/\r?\n/)[pos.line - 1]?.trim() ?? "";
  const shown = line
    ? ` (the line reads ${JSON.stringify(line.length > 80 ? `${line.slice(0, 77)}...` : line)})`
    : "";
  return `not valid YAML at line ${pos.line}, column ${pos.col}: ${what}${shown}`;
}

/** Stable digest of a config, so "did it change?" is a string compare. */
export function configDigest(config: GatewayConfig): string {
  return createHash("sha256").update(JSON.stringify(config)).digest("hex").slice(0, 16);
}

/**
 * An empty file is what an editor's truncate-then-write leaves for a moment, so it is never taken to mean
 * "no servers": serving nothing must be written explicitly.
 */
export const EMPTY_FILE_REASON =
  "the file is empty (only whitespace or comments); write `servers: []` to serve no servers";

/** Parses YAML (or JSON) config text. `baseDir` anchors relative credentialFile paths. */
export function parseConfig(text: string, resolver: CredentialResolver, baseDir = "."): ParseResult {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    return { ok: false, reason: describeYamlError(e, text) };
  }
  if (raw === null || raw === undefined) return { ok: false, reason: EMPTY_FILE_REASON };
  if (typeof raw !== "object" || Array.isArray(raw)) {
    return { ok: false, reason: "(root): must be a mapping with a 'servers' list" };
  }
  const input = normalize(raw);
  const parsed = GatewayConfigSchema.safeParse(input);
  if (!parsed.success) return { ok: false, reason: describeIssues(parsed.error, input) };
  const servers: ServerConfig[] = [];
  for (const [i, server] of parsed.data.servers.entries()) {
    let credential = server.credential;
    try {
      if (server.credentialFile) {
        credential = resolver.file(fromConfigDir(server.credentialFile, baseDir)).trim();
      } else if (server.credentialEnv) {
        credential = resolver.env(server.credentialEnv);
        if (credential === undefined) {
          return {
            ok: false,
            reason: `${
              serverLabel(parsed.data.servers, i)
            }.credentialEnv: environment variable ${server.credentialEnv} is not set`,
          };
        }
      }
    } catch (e) {
      return {
        ok: false,
        reason: `${serverLabel(parsed.data.servers, i)}.credentialFile: cannot read: ${(e as Error).message}`,
      };
    }
    servers.push({ ...server, credential, hostname: server.hostname ?? new URL(server.url).host });
  }
  const store = resolveSessionStore(parsed.data.sessionStore, resolver, baseDir);
  if (!store.ok) return store;
  const { sessionStore: _named, ...rest } = parsed.data;
  const config: GatewayConfig = { ...rest, servers, ...(store.value ? { sessionStore: store.value } : {}) };
  return { ok: true, config, digest: configDigest(config) };
}

/** The resolver used outside tests. */
export const denoCredentials: CredentialResolver = {
  file: (path) => Deno.readTextFileSync(path),
  env: (name) => Deno.env.get(name),
};

/** A path as the config names it: relative ones are from the config file's folder. */
function fromConfigDir(path: string, baseDir: string): string {
  return path.startsWith("/") ? path : `${baseDir}/${path}`;
}

/** The config's session store with its URL read (from `urlFile`, e.g. a mounted Secret), and checked. */
function resolveSessionStore(
  store: { url?: string; urlFile?: string } | undefined,
  resolver: CredentialResolver,
  baseDir: string,
): { ok: true; value?: { url: string } } | { ok: false; reason: string } {
  if (!store) return { ok: true };
  if (store.url !== undefined) return { ok: true, value: { url: store.url } };
  let url: string;
  try {
    url = resolver.file(fromConfigDir(store.urlFile!, baseDir)).trim();
  } catch (e) {
    return { ok: false, reason: `sessionStore.urlFile: cannot read: ${(e as Error).message}` };
  }
  // The URL may carry a password: the message names the file, never its content.
  if (!isSessionStoreUrl(url)) {
    return {
      ok: false,
      reason: `sessionStore.urlFile: the URL in ${store.urlFile} ${SESSION_STORE_URL_RULE}`,
    };
  }
  return { ok: true, value: { url } };
}
