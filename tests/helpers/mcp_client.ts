/**
 * MCP clients for tests: a real SDK client over Streamable HTTP that counts the notifications tests wait
 * for, and raw JSON-RPC over HTTP for what a well-behaved client never sends.
 *
 * @example
 * ```ts
 * await using mcp = await connectClient(url, { capabilities: { roots: {} } });
 * await mcp.notificationStream(); // the GET stream is open: notifications from now on reach this client
 * const { tools } = await mcp.client.listTools();
 * ```
 */
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  type ClientCapabilities,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { waitFor } from "./ports.ts";

export interface ConnectOptions {
  /** Sent with every request (e.g. `x-mcp-virtualserver`, `authorization`). */
  headers?: Record<string, string>;
  /** What the client declares in `initialize` (roots, sampling, elicitation…). */
  capabilities?: ClientCapabilities;
  /** `clientInfo.name`. */
  name?: string;
}

/** The lists whose `notifications/<kind>/list_changed` a test client counts. */
export type ListKind = "tools" | "prompts" | "resources";

export interface TestClient {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** How many `notifications/<kind>/list_changed` (default tools) arrived so far. */
  listChanged(kind?: ListKind): number;
  /**
   * Resolves once the server accepted the client's GET stream (the SDK opens it after `initialize`, in the
   * background): only from then on can server-initiated messages reach this client.
   */
  notificationStream(): Promise<void>;
  /** Ends the session (DELETE) and closes the client; safe to call twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Connects and initializes an SDK client against `url`. */
export async function connectClient(url: string, options: ConnectOptions = {}): Promise<TestClient> {
  let streams = 0;
  // The transport's own fetch, observed: a 200 to its GET is the server holding the notification stream.
  const observed: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if ((init?.method ?? "GET") === "GET" && res.ok) streams++;
    return res;
  };
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: options.headers ?? {} },
    fetch: observed,
  });
  const client = new Client(
    { name: options.name ?? "mcp-gateway-tests", version: "1.0.0" },
    { capabilities: options.capabilities ?? {} },
  );
  const changes: Record<ListKind, number> = { tools: 0, prompts: 0, resources: 0 };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes.tools++);
  client.setNotificationHandler(PromptListChangedNotificationSchema, () => void changes.prompts++);
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => void changes.resources++);
  await client.connect(transport);
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    })();
  return {
    client,
    transport,
    listChanged: (kind = "tools") => changes[kind],
    notificationStream: async () => {
      await waitFor(() => streams > 0, `the GET notification stream of ${url}`);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Names of the tools a client currently sees, sorted. */
export async function toolNames(client: Client): Promise<string[]> {
  return (await client.listTools()).tools.map((t: { name: string }) => t.name).sort();
}

/** What a raw request got back: the body as text and, when it parses, as JSON. */
export interface RawResponse {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

/** How long a raw request may take, answer included: a hung server fails the test instead of holding it. */
const RAW_TIMEOUT_MS = 30_000;

/**
 * POSTs a raw body to an MCP endpoint (JSON content type, MCP's Accept) and reads the whole answer (an SSE
 * answer until the server ends it).
 */
export async function rawPost(
  url: string,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body,
    signal: AbortSignal.timeout(RAW_TIMEOUT_MS),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: parseJson(text), text };
}

/** The first JSON-RPC message of a JSON or SSE body; undefined when there is none. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch { /* maybe SSE */ }
  for (const line of text.split("\n")) {
    if (!line.startsWith("data:")) continue;
    try {
      return JSON.parse(line.slice(5));
    } catch { /* not JSON */ }
  }
  return undefined;
}

/** A JSON-RPC `initialize` request body. */
export function initializeBody(protocolVersion = "2025-11-25", capabilities: Record<string, unknown> = {}) {
  return JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion, capabilities, clientInfo: { name: "raw", version: "1" } },
  });
}

/** The gateway session id (`jti`) a session token carries: what the gateway's events and projections name. */
export function sessionIdOf(token: string): string {
  const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(payload)).jti;
}

/** Opens a session with a raw initialize and returns its id. */
export async function rawInitialize(url: string, protocolVersion = "2025-11-25"): Promise<string> {
  const res = await rawPost(url, initializeBody(protocolVersion));
  const session = res.headers.get("mcp-session-id");
  if (res.status !== 200 || !session) throw new Error(`initialize failed: ${res.status} ${res.text}`);
  return session;
}

/** A `tools/call` request body. */
export function toolCallBody(id: string | number, name: string, args: Record<string, unknown> = {}): string {
  return JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });
}

/**
 * POSTs `body` with a chosen `Host` header (`fetch` always sends the URL's own) over a plain HTTP/1.1
 * connection, as a DNS-rebinding page's browser or a virtual-host client would, and reads the whole answer.
 */
export async function postWithHost(
  url: string,
  host: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const { hostname, port, pathname, search } = new URL(url);
  const enc = new TextEncoder();
  const bytes = enc.encode(body);
  const lines = Object.entries({
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    ...headers,
    "content-length": String(bytes.length),
    connection: "close",
  }).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const chunks: Uint8Array[] = [];
  // Closing the connection ends the read loop below: a server that never answers cannot hold the test.
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* already closed */ }
  }, RAW_TIMEOUT_MS);
  try {
    await conn.write(enc.encode(`POST ${pathname}${search} HTTP/1.1\r\nhost: ${host}\r\n${lines}\r\n`));
    await conn.write(bytes);
    // `connection: close`: the server ends the stream after its answer, and the loop ends with it.
    for await (const chunk of conn.readable) chunks.push(chunk);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed with its stream */ }
  }
  const raw = concat(chunks);
  const end = indexOf(raw, enc.encode("\r\n\r\n"));
  const dec = new TextDecoder();
  const head = dec.decode(end < 0 ? raw : raw.subarray(0, end)).split("\r\n");
  const status = /^HTTP\/1\.1 (\d{3})/.exec(head[0])?.[1];
  if (!status) throw new Error(`no HTTP status line: ${JSON.stringify(head[0])}`);
  const responseHeaders = new Headers();
  for (const line of head.slice(1)) {
    const at = line.indexOf(":");
    if (at > 0) responseHeaders.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  let payload = raw.subarray(end + 4);
  if (responseHeaders.get("transfer-encoding")?.includes("chunked")) payload = unchunk(payload);
  const text = dec.decode(payload);
  return { status: Number(status), headers: responseHeaders, json: parseJson(text), text };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Decodes an HTTP/1.1 chunked body: `<hex size>\r\n<bytes>\r\n`, ending with a zero-size chunk. */
function unchunk(body: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const crlf = new Uint8Array([13, 10]);
  let at = 0;
  while (at < body.length) {
    const eol = indexOf(body, crlf, at);
    if (eol < 0) break;
    const size = parseInt(new TextDecoder().decode(body.subarray(at, eol)), 16);
    if (!size) break;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return concat(parts);
}

/** The same URL by the name `localhost`, as the conformance suite expects a local server to be called. */
export function asLocalhost(url: string): string {
  return url.replace("//127.0.0.1:", "//localhost:");
}
