/**
 * A small host that serves an MCP SDK server over Streamable HTTP on loopback with `Deno.serve`, so our
 * fixture servers (weather, calendar, conformance) behave like real deployed MCP servers: stateful sessions
 * with `Mcp-Session-Id`, a GET SSE stream, DELETE, and optional resumability and DNS-rebinding checks.
 *
 * In-process:
 * ```ts
 * await using served = await serveMcp(() => createWeatherServer());
 * console.log(served.url); // http://127.0.0.1:PORT/mcp
 * ```
 * As a process: `deno run -A tests/servers/weather.ts --port 0` prints `listening on http://127.0.0.1:PORT/mcp`.
 */
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
// @ts-types="@modelcontextprotocol/sdk/server/index"
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import {
  type EventStore,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";

/** Either SDK server flavour: both connect to a transport and close. */
export type McpServerLike = Pick<McpServer, "connect" | "close"> | Pick<Server, "connect" | "close">;

export interface ServeOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  hostname?: string;
  /** A fresh server and transport per request, no session ids (GET and DELETE answer 405). */
  stateless?: boolean;
  /** Reject non-loopback `Host`/`Origin` with 403, as the MCP spec asks of local servers (DNS rebinding). */
  dnsRebindingProtection?: boolean;
  /** An event store per session makes POST streams resumable (priming events, `Last-Event-ID` replay). */
  eventStore?: () => EventStore;
  /** `retry:` hint (ms) written in priming events. */
  retryInterval?: number;
}

export interface ServedMcp {
  /** `http://127.0.0.1:PORT/mcp` */
  url: string;
  port: number;
  /** Number of live sessions (stateful mode). */
  sessionCount(): number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** True when a `Host` value (`name[:port]`) names the loopback interface. */
function isLoopbackHost(host: string): boolean {
  try {
    return LOOPBACK_HOSTS.has(new URL(`http://${host}`).hostname.toLowerCase());
  } catch {
    return false;
  }
}

function isLoopbackOrigin(origin: string): boolean {
  try {
    return LOOPBACK_HOSTS.has(new URL(origin).hostname.toLowerCase());
  } catch {
    return false;
  }
}

function jsonRpcError(status: number, code: number, message: string, headers: HeadersInit = {}): Response {
  return Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, {
    status,
    headers,
  });
}

/** Validates Host and Origin for DNS-rebinding protection; undefined when the request may proceed. */
function rejectRebinding(req: Request): Response | undefined {
  const host = req.headers.get("host");
  if (!host || !isLoopbackHost(host)) return jsonRpcError(403, -32000, `Invalid Host header: ${host}`);
  const origin = req.headers.get("origin");
  if (origin && !isLoopbackOrigin(origin)) {
    return jsonRpcError(403, -32000, `Invalid Origin header: ${origin}`);
  }
  return undefined;
}

/** Serves servers made by `factory` (one per session) at `/mcp`; resolves once listening. */
export async function serveMcp(factory: () => McpServerLike, opts: ServeOptions = {}): Promise<ServedMcp> {
  const hostname = opts.hostname ?? "127.0.0.1";
  const sessions = new Map<
    string,
    { transport: WebStandardStreamableHTTPServerTransport; server: McpServerLike }
  >();

  const handleStateful = async (req: Request): Promise<Response> => {
    const sessionId = req.headers.get("mcp-session-id");
    if (sessionId) {
      const session = sessions.get(sessionId);
      if (!session) return jsonRpcError(404, -32001, "Session not found");
      return await session.transport.handleRequest(req);
    }
    if (req.method !== "POST") return jsonRpcError(400, -32000, "Bad Request: No valid session ID provided");
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return jsonRpcError(400, -32700, "Parse error");
    }
    const messages = Array.isArray(body) ? body : [body];
    if (!messages.some((m) => isInitializeRequest(m))) {
      return jsonRpcError(400, -32000, "Bad Request: No valid session ID provided");
    }
    const server = factory();
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      eventStore: opts.eventStore?.(),
      retryInterval: opts.retryInterval,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server });
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    return await transport.handleRequest(req, { parsedBody: body });
  };

  const handleStateless = async (req: Request): Promise<Response> => {
    if (req.method !== "POST") {
      return jsonRpcError(405, -32000, "Method not allowed (stateless server)", { allow: "POST" });
    }
    const server = factory();
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    await server.connect(transport);
    const res = await transport.handleRequest(req);
    // One request, one server: release it once the response body is done (or abandoned).
    const release = () => void server.close().catch(() => {});
    if (!res.body) {
      release();
      return res;
    }
    const body = res.body.pipeThrough(new TransformStream({ flush: release, cancel: release }));
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };

  const handler = async (req: Request): Promise<Response> => {
    if (new URL(req.url).pathname !== "/mcp") return new Response("not found", { status: 404 });
    if (opts.dnsRebindingProtection) {
      const rejected = rejectRebinding(req);
      if (rejected) return rejected;
    }
    try {
      return opts.stateless ? await handleStateless(req) : await handleStateful(req);
    } catch (e) {
      return jsonRpcError(500, -32603, `Internal error: ${e instanceof Error ? e.message : e}`);
    }
  };

  const listening = Promise.withResolvers<number>();
  const httpServer = Deno.serve({
    hostname,
    port: opts.port ?? 0,
    // Our own readiness line goes to stdout instead of Deno's default banner.
    onListen: (addr) => listening.resolve(addr.port),
  }, handler);
  const port = await listening.promise;

  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      const live = [...sessions.values()];
      sessions.clear();
      await Promise.allSettled(live.map(async ({ transport, server }) => {
        await transport.close();
        await server.close();
      }));
      await httpServer.shutdown();
    })();

  return {
    url: `http://${hostname}:${port}/mcp`,
    port,
    sessionCount: () => sessions.size,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Command-line flags shared by every fixture server. */
export interface ServerArgs {
  port: number;
  stateless: boolean;
  flags: Set<string>;
}

/** Parses `--port N` (or `--port=N`), `--stateless` and any other `--flag` from `args`. */
export function parseServerArgs(args: string[]): ServerArgs {
  let port = 0;
  const flags = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--port") port = Number(args[++i]);
    else if (arg.startsWith("--port=")) port = Number(arg.slice("--port=".length));
    else if (arg.startsWith("--")) flags.add(arg.slice(2));
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${port}`);
  return { port, stateless: flags.has("stateless"), flags };
}

/** The line a process prints once ready; spawners match it with {@link LISTENING_LINE}. */
export const LISTENING_LINE = /^listening on (http:\/\/\S+\/mcp)$/;

/**
 * Entry point for a fixture server process: serve, print exactly one `listening on URL` line to stdout,
 * and shut down cleanly on SIGINT/SIGTERM.
 */
export async function runServerMain(
  factory: () => McpServerLike,
  opts: Omit<ServeOptions, "port" | "stateless"> = {},
  args: string[] = Deno.args,
): Promise<ServedMcp> {
  const parsed = parseServerArgs(args);
  let served: ServedMcp;
  try {
    served = await serveMcp(factory, { ...opts, port: parsed.port, stateless: parsed.stateless });
  } catch (e) {
    // A busy port is an everyday situation: one line, not a stack trace.
    if (!(e instanceof Deno.errors.AddrInUse)) throw e;
    console.error(
      `error: cannot listen on ${opts.hostname ?? "127.0.0.1"}:${parsed.port}: the address is in use`,
    );
    Deno.exit(1);
  }
  console.log(`listening on ${served.url}`);
  const stop = async () => {
    await served.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  return served;
}

/** A fixture server running as a child process. */
export interface SpawnedServer {
  url: string;
  port: number;
  child: Deno.ChildProcess;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Spawns `deno run -A <script> --port N ...args` and waits for its `listening on URL` line. A separate
 * process is what a gateway sees in production and lets a test kill it like a crash.
 */
export async function spawnServer(
  script: string | URL,
  args: string[] = [],
  port = 0,
  readyTimeoutMs = 20_000,
): Promise<SpawnedServer> {
  const path = script instanceof URL ? script.pathname : script;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path, "--port", String(port), ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let url: string | undefined;
  // A child that never says it listens is killed: its stdout then ends and the wait below fails.
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, readyTimeoutMs);
  try {
    while (!url) {
      const { value, done } = await lines.read();
      if (done) {
        throw new Error(
          `${path} ${hung ? `did not listen within ${readyTimeoutMs} ms` : "exited before listening"}`,
        );
      }
      buffered += value;
      for (const line of buffered.split("\n").slice(0, -1)) url ??= LISTENING_LINE.exec(line.trim())?.[1];
      buffered = buffered.slice(buffered.lastIndexOf("\n") + 1);
    }
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    throw e;
  } finally {
    clearTimeout(timer);
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  (async () => {
    try {
      while (!(await lines.read()).done) { /* discard */ }
    } catch { /* closed */ }
  })();
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      // A child that does not stop cleanly is killed: it must not outlive its test.
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 5_000);
      await child.status;
      clearTimeout(timer);
    })();
  return { url, port: Number(new URL(url).port), child, close, [Symbol.asyncDispose]: close };
}
