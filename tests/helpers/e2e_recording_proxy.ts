/**
 * A transparent HTTP proxy on loopback that records what the gateway sends a backend: the `Authorization`
 * header of every request and the JSON-RPC messages of every POST. Real backends (server-everything) ignore
 * credentials and look alike, so end-to-end tests put one of these in front of each backend to see what
 * actually reached which. Response bodies (including SSE streams) pass through unbuffered.
 *
 * @example
 * ```ts
 * await using proxy = startRecordingProxy(backend.url);
 * // point the gateway at proxy.url, then:
 * proxy.authorizations(); // ["Bearer ...", ...]
 * proxy.messages().filter((m) => m.method === "tools/call");
 * ```
 */

/** One JSON-RPC message a client POSTed (a request, notification or response). */
export interface RecordedMessage {
  id?: string | number | null;
  method?: string;
  params?: any;
  result?: any;
  error?: any;
}

/** One HTTP request as the backend received it. */
export interface RecordedRequest {
  method: string;
  /** Request headers, lower-case names. */
  headers: Record<string, string>;
  /** The JSON-RPC message of a POST, when it parsed as one. */
  message?: RecordedMessage;
}

export interface RecordingProxy {
  /** `http://127.0.0.1:PORT/mcp` (same path as the target). */
  url: string;
  port: number;
  /** Authorization header values seen so far, oldest first (`""` when absent). */
  authorizations(): string[];
  /** JSON-RPC messages POSTed so far, oldest first (batches flattened). */
  messages(): RecordedMessage[];
  /** Names of the `tools/call` requests so far. */
  toolCalls(): string[];
  /** Every request so far, oldest first, with its headers. */
  requests(): RecordedRequest[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a proxy forwarding every request to `target`'s origin. */
export function startRecordingProxy(target: string): RecordingProxy {
  const upstream = new URL(target);
  const seen: string[] = [];
  const messages: RecordedMessage[] = [];
  const requests: RecordedRequest[] = [];
  // Not `req.signal`: Deno aborts it once the handler returns, which would cut streamed bodies mid-flight.
  const closing = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    seen.push(req.headers.get("authorization") ?? "");
    const recorded: RecordedRequest = { method: req.method, headers: Object.fromEntries(req.headers) };
    requests.push(recorded);
    let body: string | undefined;
    if (req.method === "POST") {
      body = await req.text();
      try {
        const parsed = JSON.parse(body);
        messages.push(...(Array.isArray(parsed) ? parsed : [parsed]));
        if (!Array.isArray(parsed)) recorded.message = parsed;
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
      if (!res.body) return new Response(null, { status: res.status, headers: res.headers });
      // Piped, so closing the proxy ends streams still open (SSE) instead of waiting on them forever.
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      res.body.pipeTo(writable, { signal: closing.signal }).catch(() => {});
      return new Response(readable, { status: res.status, headers: res.headers });
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
    toolCalls: () => messages.filter((m) => m.method === "tools/call").map((m) => m.params?.name),
    requests: () => [...requests],
    [Symbol.asyncDispose]: () => {
      closing.abort();
      return server.shutdown();
    },
  };
}
