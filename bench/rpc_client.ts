/**
 * Minimal JSON-RPC MCP clients over `fetch`, for load generation: no SDK, no schema validation, so the
 * client's own cost is small and the same on every side of a comparison. Streamable HTTP in both eras
 * (2025: a session; 2026-07-28: stateless, every request with its `_meta` envelope and standard headers),
 * and the legacy HTTP+SSE transport (the only one mcp-hub serves downstream).
 */
import { encodeHeaderValue } from "../src/era/headers.ts";

export const PROTOCOL_VERSION = "2025-11-25";

/** A JSON-RPC error answer, or an HTTP failure, as a value the load generator counts. */
export class RpcError extends Error {
  constructor(message: string, readonly status?: number, readonly code?: number) {
    super(message);
  }
}

/** What a load generator needs from a client, whatever the transport. */
export interface RpcClient {
  initialize(): Promise<void>;
  request(method: string, params?: Record<string, unknown>): Promise<any>;
  close(): Promise<void>;
}

const INIT_PARAMS = {
  protocolVersion: PROTOCOL_VERSION,
  capabilities: {},
  clientInfo: { name: "mcp-gateway-bench", version: "1.0.0" },
};

/** Picks the JSON-RPC response with `id` out of an SSE-framed body. */
function fromSse(text: string, id: number): any {
  for (const line of text.split("\n")) {
    if (!line.startsWith("data:")) continue;
    // Servers may send a priming event with empty data (an event id for resumption) before the answer.
    const data = line.slice(5).trim();
    if (!data) continue;
    const msg = JSON.parse(data);
    if (msg?.id === id) return msg;
  }
  throw new RpcError(`no response for id ${id} in the event stream`);
}

function unwrap(msg: any): any {
  if (msg?.error) throw new RpcError(msg.error.message ?? "JSON-RPC error", undefined, msg.error.code);
  return msg?.result;
}

/** Streamable HTTP client: one session (`Mcp-Session-Id`), requests POSTed one per fetch. */
export class StreamableClient implements RpcClient {
  sessionId?: string;
  #nextId = 1;
  #headers: Record<string, string>;

  constructor(readonly url: string, extraHeaders: Record<string, string> = {}) {
    this.#headers = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...extraHeaders,
    };
  }

  async #post(body: unknown): Promise<Response> {
    const headers: Record<string, string> = { ...this.#headers };
    if (this.sessionId) {
      headers["mcp-session-id"] = this.sessionId;
      headers["mcp-protocol-version"] = PROTOCOL_VERSION;
    }
    return await fetch(this.url, { method: "POST", headers, body: JSON.stringify(body) });
  }

  async initialize(): Promise<void> {
    const id = this.#nextId++;
    const res = await this.#post({ jsonrpc: "2.0", id, method: "initialize", params: INIT_PARAMS });
    const text = await res.text();
    if (!res.ok) throw new RpcError(`initialize: HTTP ${res.status} ${text.slice(0, 200)}`, res.status);
    this.sessionId = res.headers.get("mcp-session-id") ?? undefined;
    const ct = res.headers.get("content-type") ?? "";
    unwrap(ct.includes("text/event-stream") ? fromSse(text, id) : JSON.parse(text));
    const note = await this.#post({ jsonrpc: "2.0", method: "notifications/initialized" });
    await note.body?.cancel();
  }

  async request(method: string, params?: Record<string, unknown>): Promise<any> {
    const id = this.#nextId++;
    const res = await this.#post({ jsonrpc: "2.0", id, method, params });
    const text = await res.text();
    if (!res.ok) throw new RpcError(`${method}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status);
    const ct = res.headers.get("content-type") ?? "";
    return unwrap(ct.includes("text/event-stream") ? fromSse(text, id) : JSON.parse(text));
  }

  async close(): Promise<void> {
    if (!this.sessionId) return;
    const res = await fetch(this.url, { method: "DELETE", headers: { "mcp-session-id": this.sessionId } })
      .catch(() => undefined);
    await res?.body?.cancel();
    this.sessionId = undefined;
  }
}

export const MODERN_PROTOCOL_VERSION = "2026-07-28";

/** The `params` field `Mcp-Name` mirrors, per method (SEP-2243). */
const NAME_FIELD: Record<string, string> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
};

/**
 * Streamable HTTP at 2026-07-28: no session and no handshake; every request carries the `_meta` envelope
 * and `MCP-Protocol-Version`, `Mcp-Method` and (call, get, read) `Mcp-Name`, as an SDK v2 client sends them.
 */
export class ModernClient implements RpcClient {
  #nextId = 1;
  #envelope = {
    "io.modelcontextprotocol/protocolVersion": MODERN_PROTOCOL_VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": { name: "mcp-gateway-bench", version: "1.0.0" },
  };

  constructor(readonly url: string) {}

  /** `server/discover`, as a 2026 client's first request (and a check the endpoint serves 2026). */
  async initialize(): Promise<void> {
    const result = await this.request("server/discover");
    if (!result?.supportedVersions?.includes(MODERN_PROTOCOL_VERSION)) {
      throw new RpcError(`server/discover: 2026-07-28 not served (${JSON.stringify(result).slice(0, 200)})`);
    }
  }

  async request(method: string, params: Record<string, unknown> = {}): Promise<any> {
    const id = this.#nextId++;
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN_PROTOCOL_VERSION,
      "mcp-method": method,
    };
    const named = params[NAME_FIELD[method]];
    if (typeof named === "string") headers["mcp-name"] = encodeHeaderValue(named);
    const body = { jsonrpc: "2.0", id, method, params: { ...params, _meta: this.#envelope } };
    const res = await fetch(this.url, { method: "POST", headers, body: JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new RpcError(`${method}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status);
    const ct = res.headers.get("content-type") ?? "";
    const result = unwrap(ct.includes("text/event-stream") ? fromSse(text, id) : JSON.parse(text));
    if (result?.resultType !== "complete") {
      throw new RpcError(`${method}: not a complete 2026 result: ${text.slice(0, 200)}`);
    }
    return result;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Legacy HTTP+SSE client (protocol 2024-11-05 transport): `GET` opens the event stream, whose first
 * `endpoint` event names the URL to POST messages to; every answer comes back on the stream.
 */
export class LegacySseClient implements RpcClient {
  #nextId = 1;
  #pending = new Map<number, { resolve(v: any): void; reject(e: Error): void }>();
  #endpoint?: string;
  #abort = new AbortController();
  #reading?: Promise<void>;

  constructor(readonly url: string) {}

  async #open(): Promise<void> {
    const res = await fetch(this.url, {
      headers: { accept: "text/event-stream" },
      signal: this.#abort.signal,
    });
    if (!res.ok || !res.body) throw new RpcError(`SSE GET: HTTP ${res.status}`, res.status);
    const endpoint = Promise.withResolvers<string>();
    this.#reading = (async () => {
      let buffer = "";
      let event = "message";
      let data = "";
      try {
        for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
          buffer += chunk;
          let nl: number;
          while ((nl = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, nl).replace(/\r$/, "");
            buffer = buffer.slice(nl + 1);
            if (line === "") {
              if (event === "endpoint") endpoint.resolve(data);
              else if (data) this.#deliver(data);
              event = "message";
              data = "";
            } else if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data += (data ? "\n" : "") + line.slice(5).trimStart();
          }
        }
      } catch { /* aborted on close */ }
      endpoint.reject(new RpcError("SSE stream ended before the endpoint event"));
      for (const p of this.#pending.values()) p.reject(new RpcError("SSE stream ended"));
      this.#pending.clear();
    })();
    this.#endpoint = new URL(await endpoint.promise, this.url).href;
  }

  #deliver(data: string) {
    let msg: any;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    const pending = typeof msg?.id === "number" ? this.#pending.get(msg.id) : undefined;
    if (!pending) return;
    this.#pending.delete(msg.id);
    if (msg.error) {
      pending.reject(new RpcError(msg.error.message ?? "JSON-RPC error", undefined, msg.error.code));
    } else pending.resolve(msg.result);
  }

  async #send(body: unknown): Promise<void> {
    const res = await fetch(this.#endpoint!, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new RpcError(`POST: HTTP ${res.status} ${text.slice(0, 200)}`, res.status);
  }

  async initialize(): Promise<void> {
    await this.#open();
    await this.request("initialize", { ...INIT_PARAMS, protocolVersion: "2024-11-05" });
    await this.#send({ jsonrpc: "2.0", method: "notifications/initialized" });
  }

  request(method: string, params?: Record<string, unknown>): Promise<any> {
    const id = this.#nextId++;
    const answer = new Promise<any>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#send({ jsonrpc: "2.0", id, method, params }).catch((e) => {
      this.#pending.get(id)?.reject(e);
      this.#pending.delete(id);
    });
    return answer;
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#reading;
  }
}

/**
 * The MCP TypeScript SDK's own client (v1, Streamable HTTP), for the latency a real application sees: it
 * validates every answer against the protocol's schemas and reads SSE answers through its own parser.
 * Slower per call than the raw clients above, the same on every path it is compared on.
 */
export class SdkClient implements RpcClient {
  #client?: import("@modelcontextprotocol/sdk/client/index.js").Client;

  constructor(readonly url: string) {}

  async initialize(): Promise<void> {
    // @ts-types="@modelcontextprotocol/sdk/client/index"
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    // @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
    const { StreamableHTTPClientTransport } = await import(
      "@modelcontextprotocol/sdk/client/streamableHttp.js"
    );
    const client = new Client({ name: "mcp-gateway-bench", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(this.url)));
    this.#client = client;
  }

  async request(method: string, params?: Record<string, unknown>): Promise<any> {
    if (method !== "tools/call") throw new RpcError(`SdkClient: ${method} is not measured`);
    const result = await this.#client!.callTool(
      params as { name: string; arguments?: Record<string, unknown> },
    );
    if (result.isError) throw new RpcError(`tools/call: ${JSON.stringify(result).slice(0, 200)}`);
    return result;
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    const transport = client.transport as { terminateSession?: () => Promise<void> } | undefined;
    await transport?.terminateSession?.().catch(() => {});
    await client.close().catch(() => {});
  }
}
