/**
 * Answers framed for the era of the client that gets them.
 *
 * 2026-07-28 results carry `resultType` (`complete`, `input_required`, or the tasks extension's `task`),
 * identify the server in `_meta["io.modelcontextprotocol/serverInfo"]` (the gateway: clients talk to it,
 * not to the backends behind it), and cacheable ones (lists, `server/discover`, `resources/read`) carry
 * `ttlMs` and `cacheScope` (SEP-2549). 2025-era results carry none of these.
 */
import { type Era, GATEWAY_INFO } from "../mcp/protocol.ts";
import { SERVER_INFO_META_KEY } from "./envelope.ts";

/** A cache hint (SEP-2549): how long the answer stays fresh, and whether others may be served it. */
export interface CacheHint {
  ttlMs: number;
  cacheScope: "public" | "private";
}

/** What the SDK stamps when a server configured nothing, and what an unhinted answer gets here. */
export const NO_CACHE: CacheHint = { ttlMs: 0, cacheScope: "private" };

/** Methods whose complete results must carry a cache hint. */
const CACHEABLE = new Set([
  "server/discover",
  "tools/list",
  "prompts/list",
  "resources/list",
  "resources/templates/list",
  "resources/read",
]);

export const GATEWAY_SERVER_INFO = { name: GATEWAY_INFO.name, version: GATEWAY_INFO.version } as const;
const SERVER_INFO_JSON = JSON.stringify({ [SERVER_INFO_META_KEY]: GATEWAY_SERVER_INFO });

/**
 * The members a complete 2026 result gets besides its own, as JSON text to append inside the result
 * object (lists are pre-rendered text, so they are framed without parsing).
 */
export function modernResultMembers(hint?: CacheHint): string {
  const cache = hint ? `,"ttlMs":${hint.ttlMs},"cacheScope":${JSON.stringify(hint.cacheScope)}` : "";
  return `"resultType":"complete"${cache},"_meta":${SERVER_INFO_JSON}`;
}

/**
 * A list result as JSON text, for the client's era: `{"<field>":<items>}`, and for 2026 also its
 * `resultType`, cache hint and `_meta` (the items are pre-rendered text, so nothing is parsed).
 */
export function listResultText(era: Era, field: string, itemsJson: string, hint: CacheHint): string {
  const members = era === "2026" ? `,${modernResultMembers(hint)}` : "";
  return `{${JSON.stringify(field)}:${itemsJson}${members}}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

/**
 * A result for a 2026 client: `resultType` defaults to `complete` (a 2025 backend's results have none),
 * `_meta` names the gateway, and a complete result of a cacheable method keeps the backend's cache hint
 * (or gets `hint`, then {@link NO_CACHE}); `cacheScope` becomes `private` when `privateToCaller`.
 * `input_required` and task results carry no cache hint; their `requestState` and the rest pass as sent.
 */
export function frameModernResult(
  method: string,
  result: Record<string, unknown>,
  options: { hint?: CacheHint; privateToCaller?: boolean } = {},
): Record<string, unknown> {
  const resultType = typeof result.resultType === "string" ? result.resultType : "complete";
  const meta = isObject(result._meta) ? result._meta : {};
  const framed: Record<string, unknown> = {
    ...result,
    resultType,
    _meta: { ...meta, [SERVER_INFO_META_KEY]: GATEWAY_SERVER_INFO },
  };
  if (resultType === "complete" && CACHEABLE.has(method)) {
    const given =
      typeof result.ttlMs === "number" && (result.cacheScope === "public" || result.cacheScope === "private")
        ? { ttlMs: result.ttlMs, cacheScope: result.cacheScope }
        : options.hint ?? NO_CACHE;
    framed.ttlMs = given.ttlMs;
    framed.cacheScope = options.privateToCaller ? "private" : given.cacheScope;
  }
  return framed;
}

/**
 * A result for a 2025 client from a 2026 backend: what the 2025 schema does not know goes (`resultType`
 * when complete, cache hints, the backend's identity in `_meta`). Other results are not for a 2025 client:
 * `input_required` is asked of it by the era bridge (`broker/bridge/`), a task is an error.
 */
export function frameLegacyResult(result: Record<string, unknown>): Record<string, unknown> {
  const { resultType: _type, ttlMs: _ttl, cacheScope: _scope, ...rest } = result;
  if (isObject(rest._meta) && SERVER_INFO_META_KEY in rest._meta) {
    const { [SERVER_INFO_META_KEY]: _info, ...meta } = rest._meta;
    if (Object.keys(meta).length) rest._meta = meta;
    else delete rest._meta;
  }
  return rest;
}

/** The result type a backend's result reports (`complete` when it says none, as 2025 results do). */
export function resultTypeOf(result: Record<string, unknown>): string {
  return typeof result.resultType === "string" ? result.resultType : "complete";
}
