/**
 * What a server may ask a client during a request, in both eras' vocabulary: 2025 sends it as a JSON-RPC
 * request (`elicitation/create`, `sampling/createMessage`, `roots/list`) on the request's stream; 2026
 * embeds the same request in an `input_required` result (`inputRequests: { key: { method, params } }`,
 * SEP-2322) and gets the bare result back in the retry's `inputResponses`. The shapes are the same but for
 * elicitation's `mode` and URL mode's `elicitationId`; who may be asked what is decided by the client's
 * declared capabilities, in both eras.
 */
import type { ClientCapabilities } from "../../mcp/client_capabilities.ts";

/** Methods a server may ask a client, and the capability each needs. */
const CAPABILITY: Record<string, "elicitation" | "sampling" | "roots"> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};

/** One question for the client: a server-to-client request without its id. */
export interface InputRequest {
  method: string;
  params?: Record<string, unknown>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

/** Whether `method` is something a server may ask a client for. */
export function isInputMethod(method: string): boolean {
  return method in CAPABILITY;
}

/**
 * The capabilities a client lacks to be asked `request` (as MCP's -32021 `data.requiredCapabilities`
 * names them), or undefined when it declared what it takes. URL-mode elicitation needs `elicitation.url`;
 * a bare `elicitation: {}` means form mode only (spec 2025-11-25, "Elicitation").
 */
export function missingCapability(
  capabilities: ClientCapabilities,
  request: InputRequest,
): Record<string, unknown> | undefined {
  const needs = CAPABILITY[request.method];
  if (!needs) return undefined;
  const declared = capabilities[needs];
  if (!declared) return { [needs]: {} };
  if (needs === "elicitation" && request.params?.mode === "url" && !declared.url) {
    return { elicitation: { url: {} } };
  }
  return undefined;
}

/**
 * The `inputRequests` of an `input_required` result, checked: each entry a request a server may make. Throws
 * a description of the first bad entry.
 */
export function readInputRequests(value: unknown): Map<string, InputRequest> {
  const requests = new Map<string, InputRequest>();
  if (value === undefined) return requests;
  if (!isObject(value)) throw new Error("inputRequests is not an object");
  for (const [key, entry] of Object.entries(value)) {
    if (!isObject(entry) || typeof entry.method !== "string" || !isInputMethod(entry.method)) {
      throw new Error(`input request '${key}' is not an elicitation, sampling or roots request`);
    }
    if (entry.params !== undefined && !isObject(entry.params)) {
      throw new Error(`input request '${key}' has params that are not an object`);
    }
    requests.set(key, { method: entry.method, params: entry.params as Record<string, unknown> | undefined });
  }
  return requests;
}

/**
 * A 2026 input request as the params of a 2025 request: URL-mode elicitation gets the `elicitationId` the
 * 2025 shape requires (2026's in-band shape has none); `mode: "form"` is left out for clients older than
 * 2025-11-25, which know no modes.
 */
export function toLegacyParams(request: InputRequest, clientVersion: string): Record<string, unknown> {
  const params = { ...request.params };
  if (request.method === "elicitation/create") {
    if (params.mode === "url" && params.elicitationId === undefined) {
      params.elicitationId = crypto.randomUUID();
    }
    if (params.mode === "form" && clientVersion < "2025-11-25") delete params.mode;
  }
  return params;
}

/**
 * A 2025 server-to-client request as a 2026 input request: elicitation's mode made explicit, and without a
 * progress token (an embedded request has no stream of its own to report progress on).
 */
export function toInputRequest(method: string, params: unknown): InputRequest {
  const given = isObject(params) ? { ...params } : {};
  if (isObject(given._meta) && "progressToken" in given._meta) {
    const { progressToken: _token, ...meta } = given._meta;
    if (Object.keys(meta).length) given._meta = meta;
    else delete given._meta;
  }
  if (method === "elicitation/create") {
    given.mode ??= "form";
    if (given.mode === "url") delete given.elicitationId;
  }
  return { method, params: given };
}

/** A short, readable input key for a request (`elicitation-1`, `sampling-2`, `roots-3`). */
export function inputKey(method: string, n: number): string {
  return `${CAPABILITY[method] ?? "input"}-${n}`;
}
