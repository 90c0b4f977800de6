/**
 * The broker's HTTP surface as one `Request → Response` function (web standards; `Deno.serve` is only the
 * adapter), so tests can call it directly and the route table reads in one place.
 */
import { BackendBinder } from "../session/backend_binder.ts";
import { openDirect } from "./backend_transport.ts";
import { BackendStreams } from "./backend_streams.ts";
import type { ForwardDeps } from "./forward.ts";
import type { BrokerContext } from "./context.ts";
import { handleDebug } from "./debug.ts";
import { createMcpEndpoint } from "./mcp_endpoint.ts";
import { NotificationHub } from "./notifications.ts";
import { handleProtectedResource } from "./oauth.ts";
import { Relay } from "./relay.ts";
import { handleStatus } from "./status.ts";
import { StatelessCalls } from "./stateless_calls.ts";
import { Subscriptions } from "./subscriptions.ts";

export interface Broker {
  /** `info` is what `Deno.serve` passes; without it the request is treated as remote. */
  handler: (req: Request, info?: { remoteAddr: Deno.Addr }) => Promise<Response>;
  hub: NotificationHub;
  binder: BackendBinder;
  /** Ends every session whose token has expired (their backend sessions too). */
  sweepExpired(now?: number): void;
  close(): void;
}

export function createBroker(ctx: BrokerContext): Broker {
  const hub = new NotificationHub(ctx.log, () => ctx.routing.state.view.catalog, {
    perSession: ctx.options.maxStreamsPerSession,
    total: ctx.options.maxStreams,
    keepAliveMs: ctx.options.keepAliveMs,
  });
  const binder = new BackendBinder(ctx.log, ctx.sessions, ctx.store, openDirect);
  const streams = new BackendStreams(ctx.log, hub, ctx.logger);
  const subscriptions = new Subscriptions({
    log: ctx.log,
    hub,
    watcher: ctx.resources,
    upstreams: () => ctx.upstreams.state,
    routing: () => ctx.routing.state.view,
    keepAliveMs: ctx.options.keepAliveMs,
    maxStreams: ctx.options.maxStreams,
  });
  const deps: ForwardDeps = {
    binder,
    streams,
    store: ctx.store,
    subscriptions,
    statelessCalls: new StatelessCalls(),
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

  const handler = async (req: Request, info?: { remoteAddr: Deno.Addr }): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/mcp" || path === "/mcp/") return mcp.handle(req);
    if (
      path === "/.well-known/oauth-protected-resource" ||
      path.startsWith("/.well-known/oauth-protected-resource/")
    ) {
      return handleProtectedResource(req);
    }
    if (path === "/status" || path === "/status/") return handleStatus(ctx, req, undefined);
    if (path.startsWith("/status/")) {
      return handleStatus(ctx, req, decodeURIComponent(path.slice("/status/".length)));
    }
    if (path === "/healthz") return new Response("ok\n");
    if (path === "/readyz") return readiness(ctx);
    if (path === "/metrics") return await ctx.metrics.render();
    // The log names sessions and backend sessions: for operators on the host (or a port-forward), not the
    // public route Envoy sends every other path to.
    if (path.startsWith("/debug/")) {
      return isLoopback(info?.remoteAddr)
        ? handleDebug(ctx.log, path, url)
        : new Response("Not found. /debug is served to loopback clients only.\n", { status: 404 });
    }
    if (path === "/") return new Response("MCP Gateway. The MCP endpoint is /mcp; status at /status.\n");
    return new Response("Not found. The MCP endpoint is /mcp.\n", { status: 404 });
  };

  return {
    handler,
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
    close() {
      unsubscribe();
      subscriptions.close();
      streams.close();
      hub.close();
    },
  };
}

/** Ready once a config is loaded and, if it names enabled servers, at least one of them serves. */
function readiness(ctx: BrokerContext): Response {
  const state = ctx.upstreams.state;
  if (!state.configSource) return new Response("no configuration loaded\n", { status: 503 });
  const enabled = [...state.servers.values()].filter((s) => s.config.enabled);
  if (enabled.length && !enabled.some((s) => s.status === "ready")) {
    return new Response("no upstream MCP server is ready\n", { status: 503 });
  }
  return new Response("ready\n");
}

function isLoopback(addr: Deno.Addr | undefined): boolean {
  if (!addr || addr.transport !== "tcp") return false;
  const host = addr.hostname;
  return host.startsWith("127.") || host === "::1" || host === "::ffff:127.0.0.1";
}
