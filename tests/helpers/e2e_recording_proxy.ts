/**
 * A transparent HTTP proxy on loopback that records what the gateway sends a backend: every request's
 * method, `Mcp-Session-Id` and `Authorization`, and the JSON-RPC messages of every POST. Real backends
 * (server-everything) ignore credentials and look alike, so end-to-end tests put one of these in front of
 * each backend to see what actually reached which. Response bodies (including SSE streams) pass through
 * unbuffered.
 *
 * @example
 * ```ts
 * await using proxy = startRecordingProxy(backend.url);
 * // point the gateway at proxy.url, then:
 * proxy.authorizations(); // ["Bearer ...", ...]
 * proxy.messages().filter((m) => m.method === "tools/call");
 * proxy.requests().filter((r) => r.method === "DELETE");
 * ```
 * Disposing it ends the streams still open through it, so it may be disposed before the backend.
 */
import { RelayedStreams } from "./relayed_streams.ts";

/** One JSON-RPC message a client POSTed (a request, notification or response). */
export interface RecordedMessage {
  id?: string | number | null;
  method?: string;
  params?: any;
  result?: any;
  error?: any;
}

/** One HTTP request the proxy forwarded. */
export interface RecordedRequest {
  method: string;
  /** `Mcp-Session-Id` (undefined when absent). */
  session?: string;
  /** Every request header, lower-case names. */
  headers: Record<string, string>;
  /** The JSON-RPC messages of a POST (batches flattened). */
  messages: RecordedMessage[];
}

export interface RecordingProxy {
  /** `http://127.0.0.1:PORT/mcp` (same path as the target). */
  url: string;
  port: number;
  /** Authorization header values seen so far, oldest first (`""` when absent). */
  authorizations(): string[];
  /** JSON-RPC messages POSTed so far, oldest first (batches flattened). */
  messages(): RecordedMessage[];
  /** HTTP requests so far, oldest first. */
  requests(): RecordedRequest[];
  /** Names of the `tools/call` requests so far. */
  toolCalls(): string[];
  [Symbol.asyncDispose](): Promise<void>;
}

export interface RecordingProxyOptions {
  /** Holds each `initialize` this long before forwarding it (to widen races around session setup). */
  delayInitializeMs?: number;
}

/** Starts a proxy forwarding every request to `target`'s origin. */
export function startRecordingProxy(target: string, options: RecordingProxyOptions = {}): RecordingProxy {
  const upstream = new URL(target);
  const seen: string[] = [];
  const messages: RecordedMessage[] = [];
  const requests: RecordedRequest[] = [];
  // Not `req.signal`: Deno aborts it once the handler returns, which would cut streamed bodies mid-flight.
  const closing = new AbortController();
  /** Ends each response body still streaming (an SSE stream would otherwise hold shutdown open). */
  const streams = new RelayedStreams();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    seen.push(req.headers.get("authorization") ?? "");
    const recorded: RecordedRequest = {
      method: req.method,
      session: req.headers.get("mcp-session-id") ?? undefined,
      headers: Object.fromEntries(req.headers),
      messages: [],
    };
    requests.push(recorded);
    let body: string | undefined;
    if (req.method === "POST") {
      body = await req.text();
      try {
        const parsed = JSON.parse(body);
        recorded.messages = Array.isArray(parsed) ? parsed : [parsed];
        messages.push(...recorded.messages);
        if (options.delayInitializeMs && recorded.messages.some((m) => m.method === "initialize")) {
          await new Promise((resolve) => setTimeout(resolve, options.delayInitializeMs));
        }
      } catch { /* not JSON: forwarded as is */ }
    }
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.set("host", upstream.host);
    try {
      const res = await fetch(`${upstream.origin}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body,
        signal: closing.signal,
        redirect: "manual",
      });
      return new Response(res.body && streams.relay(res.body), { status: res.status, headers: res.headers });
    } catch (e) {
      return new Response(`proxy: ${(e as Error).message}`, { status: 502 });
    }
  });
  const port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}${upstream.pathname}`,
    port,
    authorizations: () => [...seen],
    messages: () => [...messages],
    requests: () => [...requests],
    toolCalls: () => messages.filter((m) => m.method === "tools/call").map((m) => m.params?.name),
    [Symbol.asyncDispose]: () => {
      closing.abort();
      streams.endAll();
      return server.shutdown();
    },
  };
}
