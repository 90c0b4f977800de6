/**
 * Opens a backend MCP session on behalf of one gateway session: `initialize` then
 * `notifications/initialized`, over plain HTTP. Used by the broker's own data path (straight to the
 * server) and by the router's hairpin (back through Envoy, so gateway policies apply to it).
 */
import { GATEWAY_INFO, isSupportedProtocolVersion } from "./protocol.ts";
import { parseSse } from "./sse.ts";
import { redactUrlsIn } from "../observe/redact.ts";

export interface BackendInitOptions {
  /** Where to POST: the server's URL, or the gateway's private host plus the server's path. */
  url: string;
  /** Extra request headers (credential, hairpin token, the client's own headers…). */
  headers?: Record<string, string>;
  /** The version the client negotiated with the gateway: the backend session speaks the same one if it can. */
  protocolVersion: string;
  /** Only what the client itself declared: never promise a backend what the client cannot do. */
  capabilities?: Record<string, unknown>;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface BackendSession {
  /** `mcp-session-id` the backend issued; undefined for a stateless server. */
  sessionId: string | undefined;
  protocolVersion: string;
}

/**
 * Why a backend session could not be opened; `status` is the backend's HTTP status when it answered. The
 * message reaches clients (502 bodies), so URLs in it are redacted.
 */
export class BackendInitError extends Error {
  constructor(message: string, readonly status?: number) {
    super(redactUrlsIn(message));
  }
}

/** Reads the JSON-RPC response with `id` from a JSON or SSE body. */
export async function readRpcResponse(res: Response, id: string | number): Promise<Record<string, unknown>> {
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("text/event-stream")) {
    if (!res.body) throw new BackendInitError("empty event stream");
    for await (const event of parseSse(res.body)) {
      if (!event.data) continue;
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(event.data);
      } catch {
        continue;
      }
      if (message.id === id && ("result" in message || "error" in message)) {
        await res.body.cancel().catch(() => {});
        return message;
      }
    }
    throw new BackendInitError("event stream ended without a response");
  }
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new BackendInitError(`response is not JSON: ${text.slice(0, 200)}`);
  }
}

export async function initializeBackendSession(options: BackendInitOptions): Promise<BackendSession> {
  const doFetch = options.fetch ?? fetch;
  const signal = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  const base = {
    ...options.headers,
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
  };
  let res: Response;
  try {
    res = await doFetch(options.url, {
      method: "POST",
      headers: base,
      signal,
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: {
          protocolVersion: options.protocolVersion,
          capabilities: options.capabilities ?? {},
          clientInfo: GATEWAY_INFO,
        },
      }),
    });
  } catch (e) {
    throw new BackendInitError(`cannot reach ${options.url}: ${(e as Error).message}`);
  }
  if (!res.ok) {
    const text = await res.text().catch(() => "");
    throw new BackendInitError(`initialize answered HTTP ${res.status}: ${text.slice(0, 200)}`, res.status);
  }
  const sessionId = res.headers.get("mcp-session-id") ?? undefined;
  const message = await readRpcResponse(res, 0);
  if (message.error) throw new BackendInitError(`initialize failed: ${JSON.stringify(message.error)}`);
  const version = (message.result as { protocolVersion?: unknown } | undefined)?.protocolVersion;
  if (typeof version !== "string" || !isSupportedProtocolVersion(version)) {
    throw new BackendInitError(`backend answered unsupported protocol version ${JSON.stringify(version)}`);
  }
  const headers: Record<string, string> = { ...base, "mcp-protocol-version": version };
  if (sessionId) headers["mcp-session-id"] = sessionId;
  const ack = await doFetch(options.url, {
    method: "POST",
    headers,
    signal,
    body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
  }).catch((e) => {
    throw new BackendInitError(`cannot reach ${options.url}: ${(e as Error).message}`);
  });
  await ack.body?.cancel();
  if (!ack.ok) {
    throw new BackendInitError(`notifications/initialized answered HTTP ${ack.status}`, ack.status);
  }
  return { sessionId, protocolVersion: version };
}

/** Ends a backend session (DELETE, as the Streamable HTTP transport specifies); best effort. */
export async function closeBackendSession(
  url: string,
  sessionId: string,
  headers: Record<string, string> = {},
  doFetch: typeof fetch = fetch,
): Promise<void> {
  try {
    const res = await doFetch(url, {
      method: "DELETE",
      headers: { ...headers, "mcp-session-id": sessionId },
      signal: AbortSignal.timeout(5_000),
    });
    await res.body?.cancel();
  } catch {
    // The backend may already be gone; its session dies with it.
  }
}

/** Posts one message on a backend session and discards the answer: its HTTP status, or 502 if unreachable. */
export async function postToBackend(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs = 10_000,
  doFetch: typeof fetch = fetch,
): Promise<number> {
  try {
    const res = await doFetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 502;
  }
}
