/**
 * A minimal, fast MCP server with one tool, `echo {message}` → text `Echo: <message>`, written as plain
 * JSON-RPC over `Deno.serve` without the SDK server, so a benchmark sees the gateway's added cost rather
 * than the backend's. It is still valid Streamable HTTP: `initialize` mints an `Mcp-Session-Id`,
 * notifications and responses get 202, requests get a JSON body, GET opens an (idle) SSE stream, DELETE
 * ends the session, unknown sessions get 404.
 *
 * With `dual` (`--dual`) it also serves 2026-07-28 on the same endpoint, statelessly: a POST whose body
 * carries the `_meta` envelope's protocol-version claim is answered on its own (`server/discover`,
 * `tools/list`, `tools/call`), after the checks a 2026 server owes its standard headers
 * (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` must match the body: -32020 on HTTP 400), so a
 * benchmark through the gateway also proves the gateway wrote them right.
 *
 * Run: `deno run -A tests/servers/fast_echo.ts --port 0 [--dual]` → `listening on http://127.0.0.1:PORT/mcp`.
 */
import { parseServerArgs } from "./serve.ts";

const SUPPORTED_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
const MODERN_VERSION = "2026-07-28";
const PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion";
const SERVER_INFO = { name: "fast-echo", version: "1.0.0" };
const MODERN_META = { "io.modelcontextprotocol/serverInfo": SERVER_INFO };

const ECHO_TOOL = {
  name: "echo",
  description: "Echoes the message back",
  inputSchema: {
    type: "object",
    properties: { message: { type: "string", description: "Message to echo" } },
    required: ["message"],
  },
  annotations: { readOnlyHint: true, openWorldHint: false },
};

type JsonRpcMessage = { jsonrpc?: string; id?: string | number | null; method?: string; params?: any };

interface Session {
  /** Open GET streams, closed when the session ends. */
  streams: Set<ReadableStreamDefaultController<Uint8Array>>;
}

export interface FastEcho {
  url: string;
  port: number;
  sessionCount(): number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function error(id: JsonRpcMessage["id"], code: number, message: string) {
  return { jsonrpc: "2.0", id: id ?? null, error: { code, message } };
}

function httpError(status: number, code: number, message: string): Response {
  return Response.json(error(null, code, message), { status });
}

/** The echo tool's result (both eras), or the error for an unknown tool. */
function callEcho(msg: JsonRpcMessage): { result?: Record<string, unknown>; error?: unknown } {
  if (msg.params?.name !== "echo") {
    return { error: error(msg.id, -32602, `Unknown tool: ${msg.params?.name}`) };
  }
  const message = msg.params?.arguments?.message;
  if (typeof message !== "string") {
    return { result: { isError: true, content: [{ type: "text", text: "message must be a string" }] } };
  }
  return { result: { content: [{ type: "text", text: `Echo: ${message}` }] } };
}

/** A 2026-07-28 request: stateless, its standard headers checked against the body first. */
function answerModern(req: Request, msg: JsonRpcMessage): Response {
  if (msg.id === undefined) return new Response(null, { status: 202 });
  const claimed = msg.params?._meta?.[PROTOCOL_VERSION_META];
  const refuse = (status: number, code: number, message: string) =>
    Response.json(error(msg.id, code, message), { status });
  if (claimed !== MODERN_VERSION) return refuse(400, -32022, `Unsupported protocol version: ${claimed}`);
  if (req.headers.get("mcp-protocol-version") !== claimed) {
    return refuse(400, -32020, "MCP-Protocol-Version does not match the body");
  }
  if (req.headers.get("mcp-method") !== msg.method) return refuse(400, -32020, "Mcp-Method does not match");
  const result = (value: Record<string, unknown>) =>
    Response.json({
      jsonrpc: "2.0",
      id: msg.id,
      result: { ...value, resultType: "complete", _meta: MODERN_META },
    });
  switch (msg.method) {
    case "server/discover":
      return result({
        supportedVersions: [MODERN_VERSION],
        capabilities: { tools: {} },
        ttlMs: 0,
        cacheScope: "public",
      });
    case "tools/list":
      return result({ tools: [ECHO_TOOL], ttlMs: 0, cacheScope: "public" });
    case "tools/call": {
      if (req.headers.get("mcp-name") !== msg.params?.name) {
        return refuse(400, -32020, "Mcp-Name does not match");
      }
      const { result: value, error: failed } = callEcho(msg);
      return failed ? Response.json(failed) : result(value!);
    }
    default:
      return refuse(404, -32601, `Method not found: ${msg.method}`);
  }
}

/** Answers one request message; `undefined` for notifications and responses. */
function answer(msg: JsonRpcMessage, sessionId: string): { reply?: unknown; newSession?: string } {
  if (msg.id === undefined || msg.method === undefined) return {};
  const ok = (result: unknown) => ({ reply: { jsonrpc: "2.0", id: msg.id, result } });
  switch (msg.method) {
    case "initialize": {
      const asked = msg.params?.protocolVersion;
      return {
        ...ok({
          protocolVersion: SUPPORTED_VERSIONS.includes(asked) ? asked : SUPPORTED_VERSIONS[0],
          capabilities: { tools: {} },
          serverInfo: { name: "fast-echo", version: "1.0.0" },
        }),
        newSession: sessionId,
      };
    }
    case "ping":
      return ok({});
    case "tools/list":
      return ok({ tools: [ECHO_TOOL] });
    case "tools/call": {
      const { result, error: failed } = callEcho(msg);
      return failed ? { reply: failed } : ok(result);
    }
    default:
      return { reply: error(msg.id, -32601, `Method not found: ${msg.method}`) };
  }
}

/** Starts the server on 127.0.0.1 (`port` 0 picks a free one); `dual` adds 2026-07-28 (module comment). */
export async function startFastEcho(port = 0, options: { dual?: boolean } = {}): Promise<FastEcho> {
  const sessions = new Map<string, Session>();

  const endSession = (id: string) => {
    const session = sessions.get(id);
    sessions.delete(id);
    for (const stream of session?.streams ?? []) {
      try {
        stream.close();
      } catch { /* already closed */ }
    }
  };

  const post = async (req: Request, sessionId: string | null): Promise<Response> => {
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return httpError(400, -32700, "Parse error");
    }
    const batch = Array.isArray(body);
    if (
      options.dual && !batch && (body as JsonRpcMessage)?.params?._meta?.[PROTOCOL_VERSION_META] !== undefined
    ) {
      return answerModern(req, body as JsonRpcMessage);
    }
    const messages = (batch ? body : [body]) as JsonRpcMessage[];
    const initializing = messages.some((m) => m?.method === "initialize");
    if (initializing && sessionId) return httpError(400, -32600, "Session already initialized");
    if (!initializing) {
      if (!sessionId) return httpError(400, -32000, "Bad Request: No valid session ID provided");
      if (!sessions.has(sessionId)) return httpError(404, -32001, "Session not found");
    }
    const id = sessionId ?? crypto.randomUUID();
    const replies: unknown[] = [];
    let created: string | undefined;
    for (const msg of messages) {
      if (!msg || typeof msg !== "object" || msg.jsonrpc !== "2.0") {
        replies.push(error(null, -32600, "Invalid Request"));
        continue;
      }
      const { reply, newSession } = answer(msg, id);
      if (reply) replies.push(reply);
      created ??= newSession;
    }
    if (created) sessions.set(created, { streams: new Set() });
    const headers: Record<string, string> = created ? { "mcp-session-id": created } : {};
    if (replies.length === 0) return new Response(null, { status: 202, headers });
    return Response.json(batch ? replies : replies[0], { headers });
  };

  const get = (req: Request, sessionId: string | null): Response => {
    if (!req.headers.get("accept")?.includes("text/event-stream")) {
      return httpError(406, -32000, "Not Acceptable: Client must accept text/event-stream");
    }
    const session = sessionId ? sessions.get(sessionId) : undefined;
    if (!sessionId) return httpError(400, -32000, "Bad Request: No valid session ID provided");
    if (!session) return httpError(404, -32001, "Session not found");
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        session.streams.add(c);
      },
      cancel: () => {
        session.streams.delete(controller);
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        "mcp-session-id": sessionId,
      },
    });
  };

  const handler = async (req: Request): Promise<Response> => {
    if (new URL(req.url).pathname !== "/mcp") return new Response("not found", { status: 404 });
    const sessionId = req.headers.get("mcp-session-id");
    switch (req.method) {
      case "POST":
        return await post(req, sessionId);
      case "GET":
        return get(req, sessionId);
      case "DELETE":
        if (!sessionId) return httpError(400, -32000, "Bad Request: No valid session ID provided");
        if (!sessions.has(sessionId)) return httpError(404, -32001, "Session not found");
        endSession(sessionId);
        return new Response(null, { status: 200 });
      default:
        return new Response(null, { status: 405, headers: { allow: "GET, POST, DELETE" } });
    }
  };

  const listening = Promise.withResolvers<number>();
  const httpServer = Deno.serve(
    { hostname: "127.0.0.1", port, onListen: (addr) => listening.resolve(addr.port) },
    handler,
  );
  const actualPort = await listening.promise;
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      for (const id of [...sessions.keys()]) endSession(id);
      await httpServer.shutdown();
    })();
  return {
    url: `http://127.0.0.1:${actualPort}/mcp`,
    port: actualPort,
    sessionCount: () => sessions.size,
    close,
    [Symbol.asyncDispose]: close,
  };
}

if (import.meta.main) {
  const { port, flags } = parseServerArgs(Deno.args);
  const served = await startFastEcho(port, { dual: flags.has("dual") });
  console.log(`listening on ${served.url}`);
  const stop = async () => {
    await served.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
