/**
 * The 2026-07-28 standard request headers (SEP-2243): `Mcp-Method`, `Mcp-Name` and the `Mcp-Param-*`
 * mirrors of tool arguments a tool marks with `x-mcp-header`. They let Envoy, rate limiters and WAFs act on
 * a request without reading its body, so the gateway checks them against the body on the way in and writes
 * them correctly (unprefixed) on the way out.
 *
 * A value is sent as is when it is visible ASCII without leading or trailing whitespace; anything else (and
 * anything that looks like the sentinel itself) travels as `=?base64?<canonical base64 of UTF-8>?=`.
 *
 * ```ts
 * encodeHeaderValue("weather_get"); // "weather_get"
 * encodeHeaderValue("Zürich");      // "=?base64?WsO8cmljaA==?="
 * decodeHeaderValue("=?base64?WsO8cmljaA==?="); // "Zürich"
 * ```
 */

export const MCP_METHOD_HEADER = "mcp-method";
export const MCP_NAME_HEADER = "mcp-name";
export const MCP_PARAM_HEADER_PREFIX = "mcp-param-";
export const PROTOCOL_VERSION_HEADER = "mcp-protocol-version";

const SENTINEL_PREFIX = "=?base64?";
const SENTINEL_SUFFIX = "?=";
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Visible ASCII, inner spaces and tabs allowed, none at either end. */
const PLAIN = /^[\x21-\x7E](?:[\x20-\x7E\t]*[\x21-\x7E])?$/;

/**
 * Which body field `Mcp-Name` mirrors, per method (SEP-2243 "Required For"; SEP-2663 adds the task
 * methods, so intermediaries can send every request about a task to the backend holding it).
 */
const NAME_SOURCE: Record<string, string> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
  "tasks/get": "taskId",
  "tasks/update": "taskId",
  "tasks/cancel": "taskId",
};

/** The `params` field `Mcp-Name` mirrors for `method`, or undefined when the method has no `Mcp-Name`. */
export function nameSource(method: string): string | undefined {
  return Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method] : undefined;
}

/** A header value as it must travel. */
export function encodeHeaderValue(value: string): string {
  if (PLAIN.test(value) && !(value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX))) {
    return value;
  }
  const bytes = new TextEncoder().encode(value);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `${SENTINEL_PREFIX}${btoa(binary)}${SENTINEL_SUFFIX}`;
}

/** A received header value decoded; undefined when the sentinel's payload is not canonical base64 UTF-8. */
export function decodeHeaderValue(value: string): string | undefined {
  if (!(value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX))) return value;
  const payload = value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length);
  if (!CANONICAL_BASE64.test(payload)) return undefined;
  try {
    const binary = atob(payload);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** RFC 9110 optional whitespace (SP, HTAB) around a field value is not part of it. */
export function stripOws(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, "");
}

/** One `x-mcp-header` declaration of a tool's input schema: the header name and the argument's path. */
interface ParamDeclaration {
  header: string;
  path: string[];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PRIMITIVE_TYPES = new Set(["string", "integer", "boolean"]);

/**
 * The `x-mcp-header` declarations of a tool's input schema: reachable through `properties` chains only, on
 * primitive (string, integer, boolean) properties, with token-character names unique case-insensitively.
 * A tool whose declarations break these rules yields none (clients drop such tools).
 */
export function paramDeclarations(inputSchema: unknown): ParamDeclaration[] {
  const found: ParamDeclaration[] = [];
  const seen = new Set<string>();
  let valid = true;
  const visit = (schema: unknown, path: string[]) => {
    if (!schema || typeof schema !== "object" || Array.isArray(schema)) return;
    const node = schema as Record<string, unknown>;
    const header = node["x-mcp-header"];
    if (header !== undefined && path.length > 0) {
      const type = node.type;
      if (typeof header !== "string" || !TOKEN.test(header) || seen.has(header.toLowerCase())) valid = false;
      else if (typeof type !== "string" || !PRIMITIVE_TYPES.has(type)) valid = false;
      else {
        seen.add(header.toLowerCase());
        found.push({ header, path });
      }
    }
    const properties = node.properties;
    if (properties && typeof properties === "object" && !Array.isArray(properties)) {
      for (const [key, child] of Object.entries(properties)) visit(child, [...path, key]);
    }
  };
  visit(inputSchema, []);
  return valid ? found : [];
}

/**
 * The `Mcp-Param-*` headers a 2026 client would send for a call with `args` to a tool with `inputSchema`:
 * what the gateway sends on behalf of a 2025 client, whose calls carry no such headers.
 */
export function paramHeaders(inputSchema: unknown, args: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const { header, path } of paramDeclarations(inputSchema)) {
    let value: unknown = args;
    for (const key of path) {
      value = value && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
    }
    let text: string | undefined;
    if (typeof value === "string") text = value;
    else if (typeof value === "boolean") text = value ? "true" : "false";
    else if (typeof value === "number" && Number.isSafeInteger(value)) text = String(value);
    if (text !== undefined) {
      headers[`${MCP_PARAM_HEADER_PREFIX}${header.toLowerCase()}`] = encodeHeaderValue(text);
    }
  }
  return headers;
}
