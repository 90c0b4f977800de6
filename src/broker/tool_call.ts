/**
 * `tools/call` in the broker's own data path (no Envoy in front): the same routing decision the router
 * makes, from the same routing table, then the call is forwarded to the owning backend with only
 * `params.name` changed. The backend's answer — JSON, or an SSE stream of progress and the result — is
 * streamed back as it arrives.
 */
import { GatewayError } from "../mcp/errors.ts";
import { replaceParamsName } from "../mcp/jsonrpc.ts";
import type { ToolRoute } from "../routing/routing_table.ts";
import type { BackendBinding } from "../session/session_map.ts";
import { BackendInitError } from "../upstream/backend_session.ts";
import { type BackendSessions, gatewayHeaders } from "./backend_sessions.ts";
import type { BrokerContext } from "./context.ts";
import type { AuthenticatedSession } from "./session.ts";

/** Request headers worth carrying to the backend: tracing. The client's Authorization is never passed on
 * (MCP security best practices forbid token passthrough); the gateway uses the server's own credential. */
const FORWARDED = ["traceparent", "tracestate", "baggage", "x-request-id"];

/** Resolves a served tool name to its route, or the JSON-RPC error a client expects (-32602). */
export function routeTool(
  ctx: BrokerContext,
  params: Record<string, unknown> | undefined,
  rawId: string,
): ToolRoute {
  const name = params?.name;
  if (typeof name !== "string" || name === "") {
    throw new GatewayError("invalid-params", "Invalid params: tools/call requires params.name", rawId);
  }
  const route = ctx.routing.state.view.table.routes.get(name);
  if (!route) throw new GatewayError("unknown-tool", `Unknown tool: ${name}`, rawId);
  return route;
}

/**
 * Did the backend forget our session? The spec's answer is 404; some servers (server-everything among
 * them) say 400 "No valid session ID". Either way the request was not processed, so it may be re-sent.
 * Consumes the body only when it answers yes.
 */
async function lostSession(res: Response): Promise<boolean> {
  if (res.status === 404) {
    await res.body?.cancel();
    return true;
  }
  if (res.status !== 400) return false;
  const text = await res.clone().text().catch(() => "");
  if (!/session/i.test(text)) return false;
  await res.body?.cancel();
  return true;
}

export async function forwardToolCall(
  ctx: BrokerContext,
  backends: BackendSessions,
  req: Request,
  session: AuthenticatedSession,
  text: string,
  route: ToolRoute,
  rawId: string,
): Promise<Response> {
  const server = ctx.upstreams.state.servers.get(route.server)?.config;
  if (!server) throw new GatewayError("unknown-tool", `Unknown tool: ${route.servedName}`, rawId);
  const body = replaceParamsName(text, route.upstreamName);
  const started = performance.now();
  const metricLabels = { server: route.server, tool: route.servedName };

  // A backend that restarted answers 404 for our session: that call was never processed, so it is safe to
  // open a fresh session and send it once more.
  for (let attempt = 0; attempt < 2; attempt++) {
    let binding: BackendBinding;
    try {
      binding = await backends.acquire(session.claims, server);
    } catch (e) {
      ctx.metrics.toolCalls.inc({ ...metricLabels, outcome: "unavailable" });
      const reason = e instanceof BackendInitError ? e.message : String(e);
      throw new GatewayError(
        "upstream-unavailable",
        `Server ${route.server} is unavailable: ${reason}`,
        rawId,
      );
    }
    const headers: Record<string, string> = {
      ...gatewayHeaders(server),
      "content-type": "application/json",
      "accept": "application/json, text/event-stream",
      "mcp-protocol-version": binding.protocolVersion,
    };
    if (binding.id) headers["mcp-session-id"] = binding.id;
    for (const name of FORWARDED) {
      const value = req.headers.get(name);
      if (value) headers[name] = value;
    }
    let res: Response;
    try {
      res = await fetch(server.url, { method: "POST", headers, body });
    } catch (e) {
      ctx.metrics.toolCalls.inc({ ...metricLabels, outcome: "unavailable" });
      throw new GatewayError(
        "upstream-unavailable",
        `Server ${route.server} is unavailable: ${(e as Error).message}`,
        rawId,
      );
    }
    if (binding.id && attempt === 0 && await lostSession(res)) {
      backends.invalidate(session.claims, route.server, binding, `backend answered ${res.status}`);
      continue;
    }
    ctx.metrics.toolCallSeconds.observe({ server: route.server }, (performance.now() - started) / 1000);
    ctx.metrics.toolCalls.inc({ ...metricLabels, outcome: res.ok ? "ok" : "error" });
    const out = new Headers();
    for (const name of ["content-type", "cache-control"]) {
      const value = res.headers.get(name);
      if (value) out.set(name, value);
    }
    // The client only ever sees its gateway session, never the backend's.
    out.set("mcp-session-id", session.token);
    // A JSON error body is the backend's JSON-RPC answer: the client gets it as it was sent.
    if (!res.ok && !(res.headers.get("content-type") ?? "").includes("application/json")) {
      const detail = await res.text().catch(() => "");
      throw new GatewayError(
        "upstream-error",
        `Server ${route.server} answered HTTP ${res.status}${detail ? `: ${detail.slice(0, 200)}` : ""}`,
        rawId,
      );
    }
    return new Response(res.body, { status: res.status, headers: out });
  }
  throw new GatewayError(
    "upstream-unavailable",
    `Server ${route.server} keeps rejecting new sessions`,
    rawId,
  );
}
