/**
 * The broker's HTTP surface as one `Request → Response` function (web standards; `Deno.serve` is only the
 * adapter), so tests can call it directly and the route table reads in one place.
 */
import { BackendBinder } from "../session/backend_binder.ts";
import { openDirect } from "./backend_transport.ts";
import { BackendStreams } from "./backend_streams.ts";
import type { ForwardDeps } from "./forward.ts";
import type { BrokerContext } from "./context.ts";
import { handleConsole } from "./console.ts";
import { handleDebug } from "./debug.ts";
import { EventStreams } from "./event_stream.ts";
import { handleExplain } from "./explain_route.ts";
import { handleOverview } from "./overview.ts";
import { createMcpEndpoint } from "./mcp_endpoint.ts";
import { NotificationHub } from "./notifications.ts";
import { handleProtectedResource } from "./oauth.ts";
import { Relay } from "./relay.ts";
import { handleStatus } from "./status.ts";
import { LOCAL_BUS, type SessionBus } from "../session/bus.ts";
import { Bridge, Mailboxes } from "./bridge/mod.ts";
import { StatelessCalls } from "./stateless_calls.ts";
import { Subscriptions } from "./subscriptions.ts";

export interface Broker {
  /** `info` is what `Deno.serve` passes; without it the request is treated as remote. */
  handler: (req: Request, info?: { remoteAddr: Deno.Addr }) => Promise<Response>;
  /** `/console` and `/debug/*` for any client: what `--console-address` serves. */
  operatorHandler: (req: Request) => Promise<Response>;
  hub: NotificationHub;
  binder: BackendBinder;
  /** Ends every session whose token has expired (their backend sessions too). */
  sweepExpired(now?: number): void;
  /** The first step of a graceful shutdown: `/readyz` answers 503 from now on, so no new work is sent here. */
  stopReadiness(): void;
  /** Ends every client's GET stream cleanly, so its connection can close (shutdown, once new work stopped). */
  endStreams(): void;
  /** DELETEs the backend sessions of every open gateway session but `keep` (the last step of a shutdown). */
  closeBackendSessions(keep?: ReadonlySet<string>): Promise<void>;
  close(): void;
}

export function createBroker(ctx: BrokerContext): Broker {
  const hub = new NotificationHub(ctx.log, () => ctx.routing.state.view.catalog, {
    perSession: ctx.options.maxStreamsPerSession,
    total: ctx.options.maxStreams,
    keepAliveMs: ctx.options.keepAliveMs,
  }, ctx.bus);
  const binder = new BackendBinder(ctx.log, ctx.sessions, ctx.store, openDirect);
  const streams = new BackendStreams(ctx.log, hub, ctx.logger, ctx.bus);
  const subscriptions = new Subscriptions({
    log: ctx.log,
    hub,
    watcher: ctx.resources,
    upstreams: () => ctx.upstreams.state,
    routing: () => ctx.routing.state.view,
    keepAliveMs: ctx.options.keepAliveMs,
    maxStreams: ctx.options.maxStreams,
  });
  const bus = ctx.bus ?? LOCAL_BUS;
  const bridge = new Bridge({
    store: ctx.store,
    tokens: ctx.tokens,
    bus,
    mailboxes: new Mailboxes(bus),
    logger: ctx.logger,
    inputTimeoutMs: ctx.options.inputTimeoutMs,
    server: (name) => ctx.upstreams.state.servers.get(name)?.config,
  });
  const deps: ForwardDeps = {
    binder,
    streams,
    store: ctx.store,
    subscriptions,
    statelessCalls: new StatelessCalls(),
    bridge,
  };
  const mcp = createMcpEndpoint(ctx, hub, deps, subscriptions);
  // A client that can answer requests (roots, sampling, elicitation) must also hear those a backend sends
  // outside any call: they come on the backend session's GET stream. Backend sessions bound by either data
  // path (the broker's own, or the router's hairpin) get one, relayed to the client's stream here.
  const unsubscribe = ctx.log.subscribe((event) => {
    if (event.type !== "BackendSessionBound" || !event.backendSession) return;
    if (!ctx.sessions.state.open.get(event.session)?.answersRequests) return;
    const server = ctx.upstreams.state.servers.get(event.server)?.config;
    if (!server) return;
    const binding = { id: event.backendSession, protocolVersion: event.protocolVersion };
    streams.ensure(
      event.session,
      server,
      binding,
      new Relay(ctx.store, ctx.logger, event.session, server, binding),
    );
  });
  let draining = false;

  const eventStreams = new EventStreams(ctx.log, ctx.redactor);
  /** The operator's pages: the console and the `/debug` endpoints it reads. */
  const operator = async (req: Request, url: URL): Promise<Response> => {
    const path = url.pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return Response.json({ error: "Method not allowed. Supported methods: GET" }, { status: 405 });
    }
    if (path === "/console" || path.startsWith("/console/")) return await handleConsole(path);
    if (path === "/debug/explain") return handleExplain(ctx, url);
    if (path === "/debug/events/stream") return eventStreams.handle(req, url);
    if (path === "/debug/overview") return await handleOverview(ctx, url);
    return handleDebug(ctx.log, path, url);
  };
  const isOperatorPath = (path: string) =>
    path.startsWith("/debug/") || path === "/console" || path.startsWith("/console/");

  // Replicas: a backend stream's holder may be gone. Whoever holds the client's stream opens it again.
  const stopTakeover = ctx.bus?.shared ? takeOverBackendStreams(ctx, hub, streams, ctx.bus) : () => {};

  const handler = async (req: Request, info?: { remoteAddr: Deno.Addr }): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/mcp" || path === "/mcp/") return mcp.handle(req);
    if (
      path === "/.well-known/oauth-protected-resource" ||
      path.startsWith("/.well-known/oauth-protected-resource/")
    ) {
      return handleProtectedResource(req, ctx.env);
    }
    if (path === "/status" || path === "/status/") return handleStatus(ctx, req, undefined);
    if (path.startsWith("/status/")) {
      return handleStatus(ctx, req, path.slice("/status/".length));
    }
    if (path === "/healthz") return new Response("ok\n");
    if (path === "/readyz") {
      return draining ? new Response("shutting down\n", { status: 503 }) : readiness(ctx);
    }
    if (path === "/metrics") return await ctx.metrics.render();
    // The log names sessions and backend sessions: for operators on the host (or a port-forward), not the
    // public route Envoy sends every other path to.
    if (isOperatorPath(path)) {
      return isLoopback(info?.remoteAddr)
        ? await operator(req, url)
        : new Response("Not found. /debug and /console are served to loopback clients only.\n", {
          status: 404,
        });
    }
    if (path === "/") return new Response("MCP Gateway. The MCP endpoint is /mcp; status at /status.\n");
    return new Response("Not found. The MCP endpoint is /mcp.\n", { status: 404 });
  };

  return {
    handler,
    operatorHandler: async (req) => {
      const url = new URL(req.url);
      if (isOperatorPath(url.pathname)) return await operator(req, url);
      return new Response("Not found. This address serves /console and /debug only.\n", { status: 404 });
    },
    hub,
    binder,
    sweepExpired(now = Date.now()) {
      const { open, closed } = ctx.sessions.state;
      for (const [id, session] of [...open]) {
        if (session.expiresAt > now) continue;
        binder.closeAll(id, ctx.upstreams.state.servers).catch(() => {});
        ctx.log.append({
          type: "SessionClosed",
          session: id,
          reason: "expired",
          expiresAt: session.expiresAt,
        });
        ctx.store.dropSession(id).catch(() => {});
      }
      for (const [id, expiresAt] of [...closed]) {
        if (expiresAt <= now) {
          ctx.log.append({ type: "SessionClosed", session: id, reason: "expired", expiresAt });
        }
      }
    },
    stopReadiness() {
      draining = true;
    },
    endStreams() {
      unsubscribe();
      bridge.close();
      subscriptions.close();
      streams.close();
      hub.close();
    },
    async closeBackendSessions(keep = new Set<string>()) {
      // Replicas share backend sessions: the others still serve these clients.
      if (ctx.bus?.shared) return;
      const servers = ctx.upstreams.state.servers;
      await Promise.all(
        [...ctx.sessions.state.open.keys()].map((id) => binder.closeAll(id, servers, keep)),
      );
    },
    close() {
      eventStreams.close();
      stopTakeover();
      unsubscribe();
      bridge.close();
      subscriptions.close();
      streams.close();
      hub.close();
    },
  };
}

/**
 * Re-opens, for sessions whose GET stream is here, the backend streams nobody alive holds: when such a
 * stream opens (a client reconnecting after its replica died) and when a replica is gone. Backend streams
 * are wanted by sessions that answer backend requests, and by resource subscriptions.
 */
function takeOverBackendStreams(
  ctx: BrokerContext,
  hub: NotificationHub,
  streams: BackendStreams,
  bus: SessionBus,
): () => void {
  const ensure = async (session: string) => {
    const open = ctx.sessions.state.open.get(session);
    if (!open?.backends?.size) return;
    const subscribed = open.answersRequests ? undefined : new Set(await ctx.store.subscribedServers(session));
    for (const [name, binding] of open.backends) {
      const server = ctx.upstreams.state.servers.get(name)?.config;
      if (!server || (subscribed && !subscribed.has(name))) continue;
      streams.ensure(session, server, binding, new Relay(ctx.store, ctx.logger, session, server, binding));
    }
  };
  hub.onFirstStream = (session) => void ensure(session).catch(() => {});
  return bus.onPeerLost(() => {
    for (const session of hub.sessions()) ensure(session).catch(() => {});
  });
}

/**
 * Ready once a config is loaded and, if it names enabled servers, at least one of them serves; with a shared
 * session store, once this replica has loaded the shared state (afterwards a lost store only degrades: the
 * replica keeps serving from its own state, and says so).
 */
function readiness(ctx: BrokerContext): Response {
  const state = ctx.upstreams.state;
  if (!state.configSource) return new Response("no configuration loaded\n", { status: 503 });
  const enabled = [...state.servers.values()].filter((s) => s.config.enabled);
  if (enabled.length && !enabled.some((s) => s.status === "ready")) {
    return new Response("no upstream MCP server is ready\n", { status: 503 });
  }
  const store = ctx.storeStatus?.();
  if (store?.state === "syncing") {
    return new Response("loading the shared session state from the session store\n", { status: 503 });
  }
  if (store?.state === "degraded") {
    return new Response(
      "ready (degraded: the session store is unreachable; sessions are served from this replica's own state)\n",
    );
  }
  return new Response("ready\n");
}

function isLoopback(addr: Deno.Addr | undefined): boolean {
  if (!addr || addr.transport !== "tcp") return false;
  const host = addr.hostname;
  return host.startsWith("127.") || host === "::1" || host === "::ffff:127.0.0.1";
}
