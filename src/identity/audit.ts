/**
 * The audit log: one JSON line per routed request (a call, get or read; and, if the caller wants, lists),
 * from either data path, to stdout or to `--audit-log FILE`. Who (subject, client, a hash of the session),
 * what (method, served name, server), how it ended (outcome, latency) and how to find it elsewhere
 * (JSON-RPC id, trace id). Arguments only with `--audit-arguments`. Never a token: a line is built from an
 * {@link Identity} and named fields only, and {@link AuditLineSchema} is strict, so nothing else can
 * slip in.
 *
 * Fields (version 1), for log pipelines:
 * | field          | type                    | meaning |
 * | -------------- | ----------------------- | ------- |
 * | `type`         | `"audit"`               | tells audit lines from other JSON lines |
 * | `v`            | `1`                     | format version; a new field never changes the meaning of an old one |
 * | `time`         | ISO 8601 UTC            | when the request arrived |
 * | `path`         | `broker` \| `router`    | which data path handled it |
 * | `subject`      | string \| null          | token `sub` (or the trusted header's), null when anonymous |
 * | `clientId`     | string \| null          | OAuth client (`client_id` / `azp`) |
 * | `session`      | 16 hex \| null          | first 16 hex digits of SHA-256 of the session id (2025 era); null without a session |
 * | `method`       | string                  | JSON-RPC method (`tools/call`, `prompts/get`, `resources/read`, …) |
 * | `name`         | string \| null          | served name: tool or prompt name as clients see it, or resource URI |
 * | `server`       | string \| null          | the owning server's name (null when no server owns `name`) |
 * | `outcome`      | `ok` \| `error` \| `denied` \| `unavailable` | see {@link AuditOutcome} |
 * | `latencyMs`    | number                  | arrival to answer (for streams: to the end of the stream) |
 * | `rpcId`        | string \| number \| null | the request's JSON-RPC id |
 * | `traceId`      | 32 hex \| null          | W3C trace id from `traceparent` (header or `_meta`), else B3 |
 * | `requestId`    | string \| null          | `x-request-id` (Envoy sets one per request) |
 * | `virtualServer`| string (optional)       | the selected virtual server |
 * | `error`        | `{code, message}` (optional) | the JSON-RPC error the client got, for `error`/`denied`/`unavailable` |
 * | `arguments`    | any (optional)          | `params.arguments`, only with `--audit-arguments`, at most `maxArgumentBytes` |
 * | `argumentsBytes` | number (optional)     | size of arguments left out for being larger than that |
 *
 * ```ts
 * const audit = AuditLog.open({ file: flags.auditLog, includeArguments: flags.auditArguments });
 * audit.record({ path: "broker", identity, sessionId, method: "tools/call", name: "weather_get_forecast",
 *   server: "weather-service", outcome: "ok", startedAt, rpcId: 7, traceId: traceIdFrom(req.headers) });
 * ```
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { GatewayError } from "../mcp/errors.ts";
import type { Identity } from "./identity.ts";

/**
 * - `ok`: the backend answered with a result (a tool result with `isError: true` counts as `error`);
 * - `error`: the backend or the gateway answered with a JSON-RPC error, or a tool reported an error;
 * - `denied`: refused by authorization (capabilities, virtual server, scope);
 * - `unavailable`: no backend could answer (unreachable, down, timed out).
 */
export const AUDIT_OUTCOMES = ["ok", "error", "denied", "unavailable"] as const;
export type AuditOutcome = typeof AUDIT_OUTCOMES[number];

/** The outcome of a request the gateway answered with an error of its own (refused, or no backend answered). */
export function outcomeOfError(error: GatewayError): AuditOutcome {
  return error.details.denied ? "denied" : error.kind === "upstream-unavailable" ? "unavailable" : "error";
}

export const AuditLineSchema = z.object({
  type: z.literal("audit"),
  v: z.literal(1),
  time: z.iso.datetime(),
  path: z.enum(["broker", "router"]),
  subject: z.string().nullable(),
  clientId: z.string().nullable(),
  session: z.string().regex(/^[0-9a-f]{16}$/).nullable(),
  method: z.string().min(1),
  name: z.string().nullable(),
  server: z.string().nullable(),
  outcome: z.enum(AUDIT_OUTCOMES),
  latencyMs: z.number().nonnegative(),
  rpcId: z.union([z.string(), z.number(), z.null()]),
  traceId: z.string().regex(/^[0-9a-f]{16,32}$/).nullable(),
  requestId: z.string().nullable(),
  virtualServer: z.string().optional(),
  error: z.object({ code: z.number().int(), message: z.string() }).strict().optional(),
  arguments: z.unknown().optional(),
  argumentsBytes: z.number().int().nonnegative().optional(),
}).strict();
export type AuditLine = z.infer<typeof AuditLineSchema>;

/** What a data path knows about a finished request. */
export interface AuditRecord {
  path: "broker" | "router";
  identity?: Identity;
  /** The gateway session id (never logged: only its hash is). */
  sessionId?: string | null;
  method: string;
  name?: string | null;
  server?: string | null;
  outcome: AuditOutcome;
  /** `performance.now()` at arrival; `latencyMs` is computed from it unless given. */
  startedAt?: number;
  latencyMs?: number;
  /** Arrival time, epoch ms (default: now − latency). */
  time?: number;
  /** The JSON-RPC id: the value, or the raw JSON text the gateway keeps (see {@link rpcIdFromRaw}). */
  rpcId?: string | number | null;
  traceId?: string | null;
  requestId?: string | null;
  error?: { code: number; message: string };
  /** `params.arguments`; written only when the log was opened with `includeArguments`. */
  arguments?: unknown;
}

export interface AuditLogOptions {
  /** Append to this file; absent or `-`: stdout. */
  file?: string;
  /** `--audit-arguments`. */
  includeArguments?: boolean;
  /** Arguments larger than this (as JSON) are left out and only their size is written. */
  maxArgumentBytes?: number;
  /** Where lines go instead of the file or stdout (tests, or another sink). */
  write?: (line: string) => void;
}

/** First 16 hex digits of SHA-256: joins a session's lines without putting a usable session id in logs. */
export function hashSession(sessionId: string): string {
  let hash = sessionHashes.get(sessionId);
  if (hash === undefined) {
    hash = createHash("sha256").update(sessionId).digest("hex").slice(0, 16);
    // A session makes many calls: its hash is remembered (bounded; forgetting only costs a hash again).
    if (sessionHashes.size >= MAX_SESSION_HASHES) sessionHashes.clear();
    sessionHashes.set(sessionId, hash);
  }
  return hash;
}

const MAX_SESSION_HASHES = 4096;
const sessionHashes = new Map<string, string>();

/** The gateway keeps ids as raw JSON text (so their type and digits survive); the log wants the value. */
export function rpcIdFromRaw(rawId: string): string | number | null {
  try {
    const value = JSON.parse(rawId);
    if (typeof value === "string") return value;
    if (typeof value === "number") {
      return Number.isSafeInteger(value) || !Number.isInteger(value) ? value : rawId;
    }
    return null;
  } catch {
    return null;
  }
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;
const B3_TRACE_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;

/**
 * The W3C trace id from a `traceparent` (the header, or `_meta.traceparent` in 2026-era requests), else
 * the B3 `x-b3-traceid` header Envoy and Istio propagate; null when none is well formed.
 */
export function traceIdFrom(
  headers: { get(name: string): string | null | undefined },
  metaTraceparent?: unknown,
): string | null {
  for (const candidate of [metaTraceparent, headers.get("traceparent")]) {
    if (typeof candidate !== "string") continue;
    const match = TRACEPARENT.exec(candidate.trim().toLowerCase());
    if (match && !/^0+$/.test(match[1])) return match[1];
  }
  const b3 = headers.get("x-b3-traceid")?.trim().toLowerCase();
  return b3 && B3_TRACE_ID.test(b3) ? b3 : null;
}

/** `x-request-id`, when it looks like an id (it is client-settable, so nothing else is copied). */
export function requestIdFrom(headers: { get(name: string): string | null | undefined }): string | null {
  const id = headers.get("x-request-id")?.trim();
  return id && REQUEST_ID.test(id) ? id : null;
}

/**
 * The audit fields a request brings, known on arrival and built the same way on both data paths; the
 * decision (served name, server) and the outcome are added once known.
 */
export function auditedRequest(request: {
  path: AuditRecord["path"];
  identity?: Identity;
  sessionId?: string | null;
  method: string;
  params: Record<string, unknown> | undefined;
  rawId: string;
  headers: { get(name: string): string | null | undefined };
  /** The request's trace, when tracing is on (else read from its headers or `_meta`). */
  traceId?: string;
}): Omit<AuditRecord, "outcome"> {
  const { params, headers } = request;
  return {
    path: request.path,
    identity: request.identity,
    sessionId: request.sessionId,
    method: request.method,
    name: typeof params?.name === "string" ? params.name : null,
    startedAt: performance.now(),
    rpcId: rpcIdFromRaw(request.rawId),
    traceId: request.traceId ??
      traceIdFrom(headers, (params?._meta as Record<string, unknown> | undefined)?.traceparent),
    requestId: requestIdFrom(headers),
    arguments: params?.arguments,
  };
}

export class AuditLog {
  private constructor(
    private readonly sink: (line: string) => void,
    private readonly closeSink: () => void,
    private readonly includeArguments: boolean,
    private readonly maxArgumentBytes: number,
  ) {}

  static open(options: AuditLogOptions = {}): AuditLog {
    const includeArguments = options.includeArguments ?? false;
    const max = options.maxArgumentBytes ?? 16 * 1024;
    if (options.write) return new AuditLog(options.write, () => {}, includeArguments, max);
    if (!options.file || options.file === "-") {
      const out = new BatchedLines(Deno.stdout);
      return new AuditLog((line) => out.push(line), () => out.close(), includeArguments, max);
    }
    // O_APPEND: each batch lands whole at the end even if logrotate truncates the file (copytruncate).
    const file = Deno.openSync(options.file, { append: true, create: true });
    const out = new BatchedLines(file);
    return new AuditLog(
      (line) => out.push(line),
      () => {
        out.close();
        file.close();
      },
      includeArguments,
      max,
    );
  }

  /** Builds the line (validated against {@link AuditLineSchema} in tests, not per request) and writes it. */
  record(record: AuditRecord): AuditLine {
    const line = this.line(record);
    this.sink(JSON.stringify(line));
    return line;
  }

  line(record: AuditRecord): AuditLine {
    const latency = record.latencyMs ??
      (record.startedAt !== undefined ? performance.now() - record.startedAt : 0);
    const latencyMs = Math.max(0, Math.round(latency * 1000) / 1000);
    const identity = record.identity;
    const line: AuditLine = {
      type: "audit",
      v: 1,
      time: new Date(record.time ?? Date.now() - latency).toISOString(),
      path: record.path,
      subject: identity?.subject ?? null,
      clientId: identity?.clientId ?? null,
      session: record.sessionId ? hashSession(record.sessionId) : null,
      method: record.method,
      name: record.name ?? null,
      server: record.server ?? null,
      outcome: record.outcome,
      latencyMs,
      rpcId: record.rpcId ?? null,
      traceId: record.traceId ?? null,
      requestId: record.requestId ?? null,
    };
    if (identity?.virtualServer) line.virtualServer = identity.virtualServer;
    if (record.error) line.error = { code: record.error.code, message: record.error.message };
    if (this.includeArguments && record.arguments !== undefined) {
      const json = JSON.stringify(record.arguments);
      if (json !== undefined && json.length <= this.maxArgumentBytes) line.arguments = record.arguments;
      else if (json !== undefined) line.argumentsBytes = new TextEncoder().encode(json).length;
    }
    return line;
  }

  close(): void {
    this.closeSink();
  }
}

function writeAll(out: { writeSync(p: Uint8Array): number }, bytes: Uint8Array) {
  for (let done = 0; done < bytes.length;) done += out.writeSync(bytes.subarray(done));
}

/** How long a line may wait for others to share its write. */
export const AUDIT_FLUSH_MS = 10;
/** A batch this large is written at once. */
const AUDIT_BATCH_BYTES = 64 * 1024;

/**
 * Lines written in batches: a write per line cost a system call per request (≈45 µs of CPU per call, the
 * largest single item in a routed call's profile). A line waits at most {@link AUDIT_FLUSH_MS}; the rest
 * are written on close and when the process exits.
 */
class BatchedLines {
  #lines: string[] = [];
  #bytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #encoder = new TextEncoder();
  #onUnload = () => this.flush();
  #closed = false;

  constructor(private readonly out: { writeSync(p: Uint8Array): number }) {
    globalThis.addEventListener("unload", this.#onUnload);
  }

  push(line: string) {
    this.#lines.push(line);
    this.#bytes += line.length + 1;
    if (this.#closed || this.#bytes >= AUDIT_BATCH_BYTES) return this.flush();
    if (this.#timer === undefined) {
      const timer = setTimeout(() => this.flush(), AUDIT_FLUSH_MS);
      // Waiting lines never keep a process alive: exit flushes them.
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  flush() {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#lines.length) return;
    const text = this.#lines.join("\n") + "\n";
    this.#lines = [];
    this.#bytes = 0;
    writeAll(this.out, this.#encoder.encode(text));
  }

  /** Writes what waits; lines after this are written as they come. */
  close() {
    this.flush();
    globalThis.removeEventListener("unload", this.#onUnload);
    this.#closed = true;
  }
}
