/**
 * `/status` and `/status/<name>`: per-server health in the reference gateway's JSON shape (so its
 * dashboards and the controller keep working), plus why a server is not ready and any tool conflicts.
 */
import { redactUrl, redactUrlsIn } from "../observe/redact.ts";
import type { UpstreamState } from "../routing/upstreams.ts";
import type { BrokerContext } from "./context.ts";

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, OPTIONS",
  "access-control-allow-headers": "Content-Type",
};

function describe(s: UpstreamState): string {
  switch (s.status) {
    case "disabled":
      return "server is disabled in the configuration";
    case "connecting":
      return s.lastError
        ? `reconnecting after ${s.lastError.stage} failure: ${s.lastError.reason}`
        : "connecting";
    case "failed":
      return `${s.lastError?.stage ?? "connect"} failed: ${s.lastError?.reason ?? "unknown error"}`;
    case "ready":
      return `server ready: ${s.tools.length} tools`;
  }
}

function serverStatus(ctx: BrokerContext, s: UpstreamState) {
  const conflicts = ctx.routing.state.view.view.conflicts.filter((c) =>
    c.winner === s.config.name || c.shadowed.includes(s.config.name)
  );
  return {
    id: `${s.config.name}:${s.config.toolPrefix}:${s.config.hostname}`,
    name: s.config.name,
    url: redactUrl(s.config.url),
    hostname: s.config.hostname,
    toolPrefix: s.config.toolPrefix,
    enabled: s.config.enabled,
    status: s.status,
    ready: s.status === "ready",
    message: redactUrlsIn(describe(s)),
    lastValidated: new Date(s.lastChange || Date.now()).toISOString(),
    totalTools: s.tools.length,
    totalPrompts: s.prompts.length,
    totalResources: s.resources.length,
    totalResourceTemplates: s.templates.length,
    // The era the gateway speaks with the server, and every era it serves (a dual-era server: both).
    era: s.era,
    eras: s.era === "2026" && s.legacyProtocolVersion ? ["2026", "2025"] : s.era ? [s.era] : [],
    protocolVersion: s.protocolVersion,
    legacyProtocolVersion: s.legacyProtocolVersion,
    serverInfo: s.serverInfo,
    lastError: s.lastError
      ? {
        stage: s.lastError.stage,
        reason: redactUrlsIn(s.lastError.reason),
        at: new Date(s.lastError.at).toISOString(),
      }
      : undefined,
    consecutiveFailures: s.consecutiveFailures,
    toolConflicts: conflicts,
  };
}

/** `encodedName` is the path segment after `/status/`, still percent-encoded. */
export function handleStatus(ctx: BrokerContext, req: Request, encodedName: string | undefined): Response {
  if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS });
  const headers = { ...CORS, "content-type": "application/json" };
  if (req.method !== "GET" && req.method !== "HEAD") {
    return Response.json({ error: "Method not allowed. Supported methods: GET" }, { status: 405, headers });
  }
  const name = decodeSegment(encodedName);
  if (name === null) {
    return Response.json(
      { error: "Bad request: the server name in the path is not valid percent-encoding" },
      { status: 400, headers },
    );
  }
  const state = ctx.upstreams.state;
  if (name) {
    const server = state.servers.get(name);
    if (!server) {
      return Response.json(
        { error: `Server '${name}' not found. Check available servers at /status` },
        { status: 404, headers },
      );
    }
    return Response.json(serverStatus(ctx, server), { headers });
  }
  const servers = [...state.servers.values()].map((s) => serverStatus(ctx, s));
  const enabled = servers.filter((s) => s.enabled);
  const healthy = enabled.filter((s) => s.ready).length;
  const conflicts = ctx.routing.state.view.view.conflicts;
  return Response.json({
    servers,
    overallValid: healthy === enabled.length && conflicts.length === 0,
    totalServers: servers.length,
    healthyServers: healthy,
    unHealthyServers: enabled.length - healthy,
    totalTools: ctx.routing.state.view.view.size,
    toolConflicts: conflicts.length,
    conflicts,
    config: {
      source: state.configSource,
      digest: state.configDigest,
      lastRejection: state.lastRejection
        ? {
          ...state.lastRejection,
          reason: redactUrlsIn(state.lastRejection.reason),
          at: new Date(state.lastRejection.at).toISOString(),
        }
        : undefined,
    },
    openSessions: ctx.sessions.state.open.size,
    sessionStore: ctx.storeStatus?.() ?? { kind: "memory", state: "ok" },
    timestamp: new Date().toISOString(),
  }, { headers });
}

/** A path segment decoded, or null when it is not valid percent-encoding (`%`, `%ZZ`, a broken UTF-8 byte). */
function decodeSegment(segment: string | undefined): string | undefined | null {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}
