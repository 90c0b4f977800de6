/**
 * The 2026-07-28 per-request `_meta` envelope: what a request says of its client (protocol version,
 * capabilities, info, log level). Read from 2026 requests into one {@link ClientEnvelope}; written into the
 * requests the gateway sends a 2026 backend on behalf of a 2025 client (from its session), and taken out of
 * requests it sends a 2025 backend on behalf of a 2026 client. Bodies are spliced, never re-serialized, so
 * ids and arguments keep every byte.
 */
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  LOG_LEVEL_META_KEY,
  PROTOCOL_VERSION_META_KEY,
  SERVER_INFO_META_KEY,
  SUBSCRIPTION_ID_META_KEY,
} from "@modelcontextprotocol/server";
import { type ClientCapabilities, normalizeClientCapabilities } from "../mcp/client_capabilities.ts";
import { memberSpans } from "../mcp/jsonrpc.ts";

export {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  LOG_LEVEL_META_KEY,
  PROTOCOL_VERSION_META_KEY,
  SERVER_INFO_META_KEY,
  SUBSCRIPTION_ID_META_KEY,
};

/** The `_meta` keys an envelope consists of: a 2025 backend is never shown them. */
const ENVELOPE_KEYS = [
  PROTOCOL_VERSION_META_KEY,
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  LOG_LEVEL_META_KEY,
] as const;

/** What a client says of itself, whichever era: the 2026 envelope, or a 2025 session's claims. */
export interface ClientEnvelope {
  protocolVersion: string;
  /** Normalized (`mcp/client_capabilities.ts`): what backends may be told the client can do. */
  capabilities: ClientCapabilities;
  clientInfo?: { name: string; version: string; [key: string]: unknown };
  /** 2026: the least severe log level the client wants; without it no `notifications/message` is sent. */
  logLevel?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

/** The envelope of a request's `_meta`, already validated by the classifier. */
export function readEnvelope(meta: Record<string, unknown>): ClientEnvelope {
  const envelope: ClientEnvelope = {
    protocolVersion: String(meta[PROTOCOL_VERSION_META_KEY]),
    capabilities: normalizeClientCapabilities(meta[CLIENT_CAPABILITIES_META_KEY], { extensions: true }),
  };
  const info = meta[CLIENT_INFO_META_KEY];
  if (isObject(info) && typeof info.name === "string" && typeof info.version === "string") {
    envelope.clientInfo = info as ClientEnvelope["clientInfo"];
  }
  const level = meta[LOG_LEVEL_META_KEY];
  if (typeof level === "string") envelope.logLevel = level;
  return envelope;
}

/** The `_meta` members that carry `envelope` on a 2026 request. */
export function envelopeMeta(envelope: ClientEnvelope): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    [PROTOCOL_VERSION_META_KEY]: envelope.protocolVersion,
    [CLIENT_CAPABILITIES_META_KEY]: envelope.capabilities,
  };
  if (envelope.clientInfo) meta[CLIENT_INFO_META_KEY] = envelope.clientInfo;
  if (envelope.logLevel) meta[LOG_LEVEL_META_KEY] = envelope.logLevel;
  return meta;
}

/** `text` (a JSON-RPC request) with `envelope` in its `params._meta`; the rest of `_meta` is kept. */
export function withEnvelope(text: string, envelope: ClientEnvelope): string {
  return spliceMeta(text, (meta) => ({ ...meta, ...envelopeMeta(envelope) }));
}

/** `text` without the envelope's keys in `params._meta` (progress tokens, trace context and the rest stay). */
export function withoutEnvelope(text: string): string {
  return spliceMeta(text, (meta) => {
    if (!meta || !ENVELOPE_KEYS.some((key) => key in meta)) return meta;
    const rest = { ...meta };
    for (const key of ENVELOPE_KEYS) delete rest[key];
    return rest;
  });
}

/**
 * Rewrites `params._meta` of a JSON-RPC request text: `change` gets the current `_meta` (undefined when
 * absent) and returns the new one (the same object: nothing changes; undefined: stays absent).
 */
export function spliceMeta(
  text: string,
  change: (meta: Record<string, unknown> | undefined) => Record<string, unknown> | undefined,
): string {
  const params = memberSpans(text).get("params");
  if (!params) {
    const meta = change(undefined);
    return meta ? insertMember(text, firstBrace(text, 0), "params", JSON.stringify({ _meta: meta })) : text;
  }
  const span = memberSpans(text, params[0]).get("_meta");
  if (!span) {
    const meta = change(undefined);
    return meta ? insertMember(text, firstBrace(text, params[0]), "_meta", JSON.stringify(meta)) : text;
  }
  const current = JSON.parse(text.slice(span[0], span[1]));
  const meta = change(isObject(current) ? current : undefined);
  if (meta === current) return text;
  return text.slice(0, span[0]) + JSON.stringify(meta ?? {}) + text.slice(span[1]);
}

/**
 * `text` with `members` (object members as JSON text, `"a":1,"b":2`) put first in `params._meta`, without
 * reading `_meta` itself: for keys the caller knows are not there yet (cheaper than {@link spliceMeta}).
 */
export function prependMetaMembers(text: string, members: string): string {
  const params = memberSpans(text).get("params");
  if (!params) return insertMembers(text, firstBrace(text, 0), `"params":{"_meta":{${members}}}`);
  const span = memberSpans(text, params[0]).get("_meta");
  if (!span) return insertMembers(text, firstBrace(text, params[0]), `"_meta":{${members}}`);
  if (text[span[0]] !== "{") return text.slice(0, span[0]) + `{${members}}` + text.slice(span[1]);
  return insertMembers(text, span[0], members);
}

function firstBrace(text: string, from: number): number {
  return text.indexOf("{", from);
}

/** Inserts `"key":json` as the first member of the object whose `{` is at `brace`. */
function insertMember(text: string, brace: number, key: string, json: string): string {
  return insertMembers(text, brace, `${JSON.stringify(key)}:${json}`);
}

/** Inserts members (JSON text) first in the object whose `{` is at `brace`. */
function insertMembers(text: string, brace: number, members: string): string {
  const rest = text.slice(brace + 1);
  const empty = rest.trimStart().startsWith("}");
  return `${text.slice(0, brace + 1)}${members}${empty ? "" : ","}${rest}`;
}
