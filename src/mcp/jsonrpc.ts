/**
 * JSON-RPC message parsing for both data paths. The body is parsed once for meaning, and scanned for the
 * raw text spans of `id` and `params.name`: ids are echoed and names rewritten by splicing text, so ids of
 * any type (including integers beyond 2^53) and every other byte of a forwarded body survive untouched.
 */
import { GatewayError } from "./errors.ts";

export type JsonRpcMessage =
  | {
    kind: "request";
    rawId: string;
    id: unknown;
    method: string;
    params: Record<string, unknown> | undefined;
  }
  | { kind: "notification"; method: string; params: Record<string, unknown> | undefined }
  | { kind: "response"; rawId: string; id: unknown; result?: unknown; error?: unknown };

/** A parsed body with its text, so spans can be spliced later. */
export interface ParsedBody {
  text: string;
  message: JsonRpcMessage;
}

/**
 * Classifies a JSON-RPC body. Batches are refused: the 2025-06-18 spec removed them and a gateway cannot
 * route one array to several backends atomically.
 */
export function parseJsonRpc(text: string): ParsedBody {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new GatewayError("parse", `Parse error: ${(e as Error).message}`);
  }
  if (nestingDepth(text) > MAX_NESTING) {
    throw new GatewayError(
      "invalid-request",
      `Invalid Request: JSON nested deeper than ${MAX_NESTING} levels`,
    );
  }
  if (Array.isArray(value)) {
    throw new GatewayError("batch", "Invalid Request: batch requests are not supported");
  }
  if (!value || typeof value !== "object") {
    throw new GatewayError("invalid-request", "Invalid Request: the body must be a JSON-RPC object");
  }
  const obj = value as Record<string, unknown>;
  const spans = memberSpans(text);
  const idSpan = spans.get("id");
  const rawId = idSpan ? text.slice(idSpan[0], idSpan[1]) : "null";
  const fail = (why: string) => {
    throw new GatewayError("invalid-request", `Invalid Request: ${why}`, validId(obj.id) ? rawId : "null");
  };
  if (obj.jsonrpc !== "2.0") fail(`"jsonrpc" must be "2.0"`);
  const hasId = "id" in obj;
  if ("method" in obj) {
    if (hasId && !validId(obj.id)) fail(`"id" must be a string or a number`);
    if (typeof obj.method !== "string" || obj.method === "") fail(`"method" must be a non-empty string`);
    const params = obj.params;
    if (params !== undefined && (params === null || typeof params !== "object" || Array.isArray(params))) {
      fail(`"params" must be an object`);
    }
    const p = params as Record<string, unknown> | undefined;
    const method = obj.method as string;
    return {
      text,
      message: hasId
        ? { kind: "request", rawId, id: obj.id, method, params: p }
        : { kind: "notification", method, params: p },
    };
  }
  // A response's id may be null: an error answering a request whose id could not be read (JSON-RPC 2.0 §5).
  if (hasId && (validId(obj.id) || obj.id === null) && ("result" in obj || "error" in obj)) {
    return { text, message: { kind: "response", rawId, id: obj.id, result: obj.result, error: obj.error } };
  }
  return fail(`a message needs "method" (request or notification) or "result"/"error" (response)`);
}

/**
 * Deepest nesting accepted in a message. MCP messages are shallow; thousands of levels only exhaust the
 * stacks of code that walks them (signers, validators, backends' schema checks), so they are refused here.
 */
export const MAX_NESTING = 128;

/** A JSON object's text as an object; anything else (another JSON value, or no JSON at all) undefined. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The deepest `{`/`[` nesting of valid JSON text, found in one pass over it (strings skipped). */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) i = skipString(text, i) - 1; // '"'
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth); // '{' '['
    else if (c === 0x7d || c === 0x5d) depth--; // '}' ']'
  }
  return max;
}

function validId(id: unknown): boolean {
  return typeof id === "string" || (typeof id === "number" && Number.isFinite(id));
}

/** Returns `text` with `params.name` replaced, every other byte kept. */
export function replaceParamsName(text: string, name: string): string {
  return replaceAt(text, ["params", "name"], JSON.stringify(name));
}

/** Returns `text` with the value at `path` (object keys) replaced by `json`, every other byte kept. */
export function replaceAt(text: string, path: readonly string[], json: string): string {
  let start = 0;
  let span: [number, number] | undefined;
  for (const key of path) {
    span = memberSpans(text, start).get(key);
    if (!span) throw new Error(`no ${path.join(".")}`);
    start = span[0];
  }
  return text.slice(0, span![0]) + json + text.slice(span![1]);
}

/**
 * Returns `text` with `members` (name → JSON text) added at the end of the object at `path`, every other byte
 * kept. Added last, they win over members of the same name already there (as `JSON.parse` reads duplicates).
 */
export function withMembers(text: string, path: readonly string[], members: Record<string, string>): string {
  let span: [number, number] = [skipSpace(text, 0), text.length];
  for (const key of path) {
    const found = memberSpans(text, span[0]).get(key);
    if (!found) throw new Error(`no ${path.join(".")}`);
    span = found;
  }
  const close = text.lastIndexOf("}", span[1] - 1);
  if (text[span[0]] !== "{" || close < span[0]) {
    throw new Error(`${path.join(".") || "the body"} is no object`);
  }
  const empty = memberSpans(text, span[0]).size === 0;
  const added = Object.entries(members).map(([name, json]) => `${JSON.stringify(name)}:${json}`).join(",");
  if (!added) return text;
  return text.slice(0, close) + (empty ? "" : ",") + added + text.slice(close);
}

/** Returns `text` with the top-level `id` replaced by `rawId` (JSON text). */
export function replaceId(text: string, rawId: string): string {
  const span = memberSpans(text).get("id");
  if (!span) throw new Error("no id");
  return text.slice(0, span[0]) + rawId + text.slice(span[1]);
}

/**
 * A backend's response `text` (parsed: `message`) answering the client's request `rawId` instead: its id
 * spliced (every other byte kept), or given one when the backend's had none.
 */
export function answerFor(text: string, message: Record<string, unknown>, rawId: string): string {
  if (memberSpans(text).has("id")) return replaceId(text, rawId);
  return replaceId(JSON.stringify({ jsonrpc: "2.0", id: null, ...message }), rawId);
}

/**
 * Spans `[start, end)` of the values of one object's members, starting at the object's `{` (or the first
 * non-space from `from`). The text is already known to be valid JSON. Duplicate keys: the last wins, as in
 * `JSON.parse`.
 */
export function memberSpans(text: string, from = 0): Map<string, [number, number]> {
  const spans = new Map<string, [number, number]>();
  let i = skipSpace(text, from);
  if (text[i] !== "{") return spans;
  i = skipSpace(text, i + 1);
  while (i < text.length && text[i] !== "}") {
    const keyEnd = skipString(text, i);
    const rawKey = text.slice(i, keyEnd);
    const key = rawKey.includes("\\") ? JSON.parse(rawKey) as string : rawKey.slice(1, -1);
    i = skipSpace(text, keyEnd);
    i = skipSpace(text, i + 1); // ':'
    const end = skipValue(text, i);
    spans.set(key, [i, end]);
    i = skipSpace(text, end);
    if (text[i] === ",") i = skipSpace(text, i + 1);
  }
  return spans;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

function skipString(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") i++;
    else if (c === '"') return i + 1;
  }
  return i;
}

function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === "{" || c === "[") {
    let depth = 0;
    for (; i < text.length; i++) {
      const d = text[i];
      if (d === '"') i = skipString(text, i) - 1;
      else if (d === "{" || d === "[") depth++;
      else if (d === "}" || d === "]") {
        if (--depth === 0) return i + 1;
      }
    }
    return i;
  }
  while (i < text.length && !",}] \n\r\t".includes(text[i])) i++;
  return i;
}

/** A JSON-RPC success response as text, with the request id spliced raw. */
export function resultText(rawId: string, resultJson: string): string {
  return `{"jsonrpc":"2.0","id":${rawId},"result":${resultJson}}`;
}

/**
 * What a JSON-RPC message is, read from its top-level member names without building its values:
 * - `response`: a `result` (or `error`) member and no `method`; `error` tells which;
 * - `request` / `notification`: a string `method`, with or without an `id`;
 * - `other`: anything else (not an object, no telling members, a value cut short).
 *
 * For relays that pass most messages on untouched: a response's result is skipped over, never parsed.
 * The text is trusted to be JSON as far as it goes: a text cut short inside a member before the answer's
 * is `other`, and so is an answer that does not end with the message's closing brace.
 */
export type MessageShape =
  | { kind: "response"; error: boolean }
  | { kind: "request" | "notification"; method: string }
  | { kind: "other" };

export function messageShape(text: string): MessageShape {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== 0x7b) return { kind: "other" }; // '{'
  // Without "method" anywhere, the first "result"/"error" member decides: its value (the bulk of an
  // answer) need not be walked. Otherwise every member is read, as JSON.parse would.
  const mayHaveMethod = text.includes('"method"');
  let method: string | undefined;
  let hasId = false;
  let result = false;
  let error = false;
  i = skipSpace(text, i + 1);
  while (i < text.length && text.charCodeAt(i) !== 0x7d) { // '}'
    if (text.charCodeAt(i) !== 0x22) return { kind: "other" }; // '"'
    const keyEnd = skipString(text, i);
    const rawKey = text.slice(i, keyEnd);
    const key = rawKey.includes("\\") ? safeParse(rawKey) : rawKey.slice(1, -1);
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== 0x3a) return { kind: "other" }; // ':'
    i = skipSpace(text, i + 1);
    if ((key === "result" || key === "error") && !mayHaveMethod) {
      // The value must at least close where the message does (a stream cut mid-message is not an answer).
      if (text.charCodeAt(lastNonSpace(text)) !== 0x7d) return { kind: "other" };
      return { kind: "response", error: key === "error" };
    }
    const end = skipValue(text, i);
    if (end <= i || end > text.length) return { kind: "other" };
    if (key === "method") {
      const value = text.charCodeAt(i) === 0x22 ? safeParse(text.slice(i, end)) : undefined;
      method = typeof value === "string" ? value : undefined;
      if (method === undefined) return { kind: "other" };
    } else if (key === "id") hasId = true;
    else if (key === "result") result = true;
    else if (key === "error") error = true;
    i = skipSpace(text, end);
    if (text.charCodeAt(i) === 0x2c) i = skipSpace(text, i + 1); // ','
  }
  if (i >= text.length) return { kind: "other" };
  if (method !== undefined) return { kind: hasId ? "request" : "notification", method };
  if (result || error) return { kind: "response", error };
  return { kind: "other" };
}

function safeParse(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

function lastNonSpace(text: string): number {
  let i = text.length - 1;
  while (i >= 0) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i--;
  }
  return i;
}
