/**
 * An in-test load balancer without stickiness, as a Kubernetes Service in front of replicas is: each request
 * goes to the next replica in turn, whatever session it belongs to. It records where each request went, so a
 * test can tell which replica carried a call and which carried the client's answer.
 */

export interface Routed {
  /** Index of the replica that got the request. */
  replica: number;
  /** HTTP method. */
  http: string;
  /** JSON-RPC method of a POST, "(response)" for a client's answer, "(notification)"… */
  rpc?: string;
  /** `params.name` of a `tools/call`. */
  tool?: string;
  /** The JSON-RPC id, as JSON text. */
  id?: string;
  /** HTTP status the replica answered, or 502 when it could not be reached. */
  status?: number;
}

export interface RoundRobinFront {
  /** `http://127.0.0.1:PORT/mcp` */
  mcpUrl: string;
  /** Every request so far, in arrival order. */
  routed: Routed[];
  /** Stops sending to replica `index` (its endpoint removed, as Kubernetes does for a dead pod). */
  remove(index: number): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function describe(text: string): Pick<Routed, "rpc" | "tool" | "id"> {
  try {
    const message = JSON.parse(text);
    const id = message?.id === undefined ? undefined : JSON.stringify(message.id);
    if (typeof message?.method === "string") {
      const tool = typeof message.params?.name === "string" ? message.params.name : undefined;
      return { rpc: message.method, tool, id };
    }
    return { rpc: "(response)", id };
  } catch {
    return {};
  }
}

/** Starts the front on a loopback port; `baseUrls` are the replicas' `http://127.0.0.1:PORT`. */
export function startRoundRobin(baseUrls: string[]): RoundRobinFront {
  const live = baseUrls.map(() => true);
  const routed: Routed[] = [];
  let next = 0;
  const inFlight = new Set<AbortController>();
  const pick = () => {
    for (let tries = 0; tries < baseUrls.length; tries++) {
      const i = next++ % baseUrls.length;
      if (live[i]) return i;
    }
    throw new Error("no replica left");
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const body = req.method === "POST" ? await req.text() : undefined;
    // Picked and recorded at once: the record's order is the order replicas were chosen in.
    const replica = pick();
    const entry: Routed = { replica, http: req.method, ...(body ? describe(body) : {}) };
    routed.push(entry);
    const headers = new Headers(req.headers);
    headers.delete("host");
    const abort = new AbortController();
    inFlight.add(abort);
    try {
      const res = await fetch(`${baseUrls[replica]}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body,
        signal: abort.signal,
      });
      entry.status = res.status;
      return new Response(res.body, { status: res.status, headers: res.headers });
    } catch (e) {
      entry.status = 502;
      return new Response(`replica ${replica} unreachable: ${(e as Error).message}`, { status: 502 });
    } finally {
      // Streams outlive the handler: their fetch is aborted by the client leaving, or by close().
      if (req.method !== "GET") inFlight.delete(abort);
    }
  });
  const close = async () => {
    for (const abort of inFlight) abort.abort();
    await server.shutdown();
  };
  return {
    mcpUrl: `http://127.0.0.1:${server.addr.port}/mcp`,
    routed,
    remove: (index) => void (live[index] = false),
    close,
    [Symbol.asyncDispose]: close,
  };
}
