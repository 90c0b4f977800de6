/**
 * Serves an MCP SDK v2 server factory on loopback with `Deno.serve`, in one of three protocol-era modes,
 * so our fixtures behave like the servers a gateway meets in the field:
 *
 * - `modern`: 2026-07-28 only. `createMcpHandler(factory, { legacy: 'reject' })`; a 2025 `initialize`
 *   gets -32022 with the supported versions, GET/DELETE get 405.
 * - `dual` (default): both eras on one endpoint. Every request is classified with the SDK's own
 *   `isLegacyRequest` (the body-primary rule of `classifyInboundRequest`); 2026 traffic goes to the
 *   handler above, 2025 traffic to a sessionful Streamable HTTP transport (one server per
 *   `Mcp-Session-Id`, GET stream, DELETE, optional resumability). Sessionful rather than the SDK's stateless
 *   fallback because 2025 server-to-client requests (sampling, elicitation) need a session to answer on.
 * - `legacy`: 2025 only: the sessionful leg for everything, as a pre-2026 server is.
 *
 * The factory is the same for both eras (the SDK turns `inputRequired(...)` results into real 2025
 * server-to-client requests on a legacy session). It gets the SDK's request context plus {@link EraHost},
 * through which a tool publishes list changes and resource updates to both eras' listeners.
 *
 * ```ts
 * await using served = await serveEras((ctx) => createServer(ctx), { mode: "dual" });
 * served.url; // http://127.0.0.1:PORT/mcp
 * ```
 * As a process: `deno run -A tests/servers/modern.ts --port 0 [--modern-only|--legacy-only]` prints
 * `listening on http://127.0.0.1:PORT/mcp` (the line `spawnServer` in serve.ts waits for).
 */
import {
  createMcpHandler,
  type EventStore,
  hostHeaderValidationResponse,
  isInitializeRequest,
  isLegacyRequest,
  localhostAllowedHostnames,
  localhostAllowedOrigins,
  type McpHttpHandler,
  type McpRequestContext,
  type McpServer,
  originValidationResponse,
  type Server,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import { parseServerArgs } from "./serve.ts";

/** Which protocol eras a served endpoint speaks. */
export type EraMode = "modern" | "dual" | "legacy";

/** Publishes change events to every listener of both eras. */
export interface EraHost {
  /** `modern` (2026 listen streams) and/or `legacy` (2025 sessions) are served. */
  readonly mode: EraMode;
  toolsChanged(): void;
  promptsChanged(): void;
  resourcesChanged(): void;
  /** 2026: listen streams that asked for `uri`; 2025: sessions that `resources/subscribe`d to it. */
  resourceUpdated(uri: string): void;
  /** URIs the 2025 session `sessionId` subscribed to (empty for 2026 requests, which have no session). */
  subscriptions(sessionId: string | undefined): ReadonlySet<string>;
}

/** What a factory is called with: the SDK's per-instance context plus the host. */
export type EraServerContext = McpRequestContext & { host: EraHost };

export type EraServerFactory = (ctx: EraServerContext) => McpServer | Promise<McpServer>;

export interface ServeErasOptions {
  mode?: EraMode;
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** Reject a non-loopback `Host` or `Origin` with 403 (MCP's DNS-rebinding rule for local servers). */
  dnsRebindingProtection?: boolean;
  /** 2025 leg: an event store per session makes POST streams resumable (`Last-Event-ID`). */
  eventStore?: () => EventStore;
  /** 2025 leg: `retry:` hint (ms) in priming events. */
  retryInterval?: number;
  /** 2026 leg: response shaping (default `auto`: JSON unless the handler streams first). */
  responseMode?: "auto" | "sse" | "json";
  /** Reporting hook for requests the SDK rejected (it never changes a response). */
  onerror?: (error: Error) => void;
  /** Sees every request to `/mcp` (a clone) before it is served, e.g. to record what reached the backend. */
  observe?: (req: Request) => void;
}

export interface ServedEras {
  /** `http://127.0.0.1:PORT/mcp` */
  url: string;
  port: number;
  mode: EraMode;
  host: EraHost;
  /** Live 2025 sessions. */
  sessionCount(): number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface LegacySession {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
  subscriptions: Set<string>;
}

function jsonRpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, { status });
}

const NO_SUBSCRIPTIONS: ReadonlySet<string> = new Set();

/** Serves `factory` at `/mcp` in `opts.mode`; resolves once listening. */
export async function serveEras(factory: EraServerFactory, opts: ServeErasOptions = {}): Promise<ServedEras> {
  const mode = opts.mode ?? "dual";
  const sessions = new Map<string, LegacySession>();
  let modern: McpHttpHandler | undefined;

  const forEachSession = (fn: (session: LegacySession) => unknown) => {
    for (const session of sessions.values()) {
      try {
        const sent = fn(session);
        if (sent instanceof Promise) sent.catch(() => {});
      } catch { /* a session closing under us */ }
    }
  };
  const host: EraHost = {
    mode,
    toolsChanged() {
      modern?.notify.toolsChanged();
      forEachSession((s) => s.server.sendToolListChanged());
    },
    promptsChanged() {
      modern?.notify.promptsChanged();
      forEachSession((s) => s.server.sendPromptListChanged());
    },
    resourcesChanged() {
      modern?.notify.resourcesChanged();
      forEachSession((s) => s.server.sendResourceListChanged());
    },
    resourceUpdated(uri) {
      modern?.notify.resourceUpdated(uri);
      forEachSession((s) => s.subscriptions.has(uri) && s.server.server.sendResourceUpdated({ uri }));
    },
    subscriptions: (sessionId) =>
      (sessionId ? sessions.get(sessionId)?.subscriptions : undefined) ?? NO_SUBSCRIPTIONS,
  };

  if (mode !== "legacy") {
    modern = createMcpHandler((ctx) => factory({ ...ctx, host }), {
      legacy: "reject",
      responseMode: opts.responseMode,
      onerror: opts.onerror,
    });
  }

  /** A new 2025 session: the factory's server, with `resources/subscribe` bookkeeping, on its own transport. */
  const openLegacySession = async (req: Request, body: unknown): Promise<Response> => {
    const subscriptions = new Set<string>();
    const server = await factory({ era: "legacy", requestInfo: req, host });
    installSubscriptionHandlers(server.server, subscriptions);
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      eventStore: opts.eventStore?.(),
      retryInterval: opts.retryInterval,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server, subscriptions });
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

  const handleLegacy = async (req: Request): Promise<Response> => {
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
    return await openLegacySession(req, body);
  };

  const handler = async (req: Request): Promise<Response> => {
    if (new URL(req.url).pathname !== "/mcp") return new Response("not found", { status: 404 });
    opts.observe?.(req.clone());
    if (opts.dnsRebindingProtection) {
      const rejected = hostHeaderValidationResponse(req, localhostAllowedHostnames()) ??
        originValidationResponse(req, localhostAllowedOrigins());
      if (rejected) return rejected;
    }
    try {
      if (!modern) return await handleLegacy(req);
      if (mode === "dual" && await isLegacyRequest(req)) return await handleLegacy(req);
      return await modern.fetch(req);
    } catch (e) {
      return jsonRpcError(500, -32603, `Internal error: ${e instanceof Error ? e.message : e}`);
    }
  };

  const listening = Promise.withResolvers<number>();
  const httpServer = Deno.serve({
    hostname: "127.0.0.1",
    port: opts.port ?? 0,
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
      await modern?.close();
      await httpServer.shutdown();
    })();

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    mode,
    host,
    sessionCount: () => sessions.size,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** 2025 `resources/subscribe`/`unsubscribe` for one session (the 2026 era has neither; it has listen). */
function installSubscriptionHandlers(server: Server, subscriptions: Set<string>): void {
  if (!server.getCapabilities().resources?.subscribe) return;
  server.setRequestHandler("resources/subscribe", (req) => {
    subscriptions.add(req.params.uri);
    return {};
  });
  server.setRequestHandler("resources/unsubscribe", (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });
}

/**
 * A process-wide switch for an optional tool or prompt. 2026 instances live for one request and register
 * the item only while the switch is on; a 2025 session's instance outlives a flip, so its registration is
 * tracked and its `enabled` follows the switch (silently: the caller announces the change through
 * {@link EraHost}, once per listener).
 */
export class SharedToggle {
  on = false;
  /** Weak, so a closed session's server can be collected; dead entries are dropped on the next flip. */
  #legacy = new Set<WeakRef<{ enabled: boolean }>>();

  /** Keeps a 2025 session's registration in step with the switch. */
  track(registration: { enabled: boolean }): void {
    registration.enabled = this.on;
    this.#legacy.add(new WeakRef(registration));
  }

  flip(): boolean {
    this.on = !this.on;
    for (const ref of this.#legacy) {
      const registration = ref.deref();
      if (registration) registration.enabled = this.on;
      else this.#legacy.delete(ref);
    }
    return this.on;
  }
}

/** `--modern-only` → `modern`, `--legacy-only` → `legacy`, otherwise `dual`. */
export function eraModeFromFlags(flags: ReadonlySet<string>): EraMode {
  if (flags.has("modern-only") && flags.has("legacy-only")) {
    throw new Error("--modern-only and --legacy-only exclude each other");
  }
  return flags.has("modern-only") ? "modern" : flags.has("legacy-only") ? "legacy" : "dual";
}

/**
 * Entry point for a fixture process: parse `--port N` and the era flags, serve, print exactly one
 * `listening on URL` line to stdout, and shut down cleanly on SIGINT/SIGTERM.
 */
export async function runErasMain(
  factory: EraServerFactory,
  opts: Omit<ServeErasOptions, "port" | "mode"> = {},
  args: string[] = Deno.args,
): Promise<ServedEras> {
  const parsed = parseServerArgs(args);
  const served = await serveEras(factory, {
    ...opts,
    port: parsed.port,
    mode: eraModeFromFlags(parsed.flags),
  });
  console.log(`listening on ${served.url}`);
  const stop = async () => {
    await served.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  return served;
}
