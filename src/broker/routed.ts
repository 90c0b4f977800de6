/**
 * Requests a backend answers (`tools/call`, `prompts/get`, `completion/complete`, `resources/read`,
 * `resources/subscribe`/`unsubscribe`) in the broker's own data path, for clients of either era: the
 * routing decision the router also makes ({@link decideRoute}, era-blind), then the request is forwarded
 * on the wire the backend and the client's era call for (`forward.ts`).
 */
import type { Admitted } from "../admission/admit.ts";
import { backendWire } from "../mcp/backend_wire.ts";
import { auditedRequest, type AuditOutcome, outcomeOfError } from "../identity/audit.ts";
import type { GatewayError } from "../mcp/errors.ts";
import { resultText } from "../mcp/jsonrpc.ts";
import { prefixUri } from "../routing/aggregate.ts";
import type { RoutingDecision } from "../routing/decide.ts";
import { decideForCaller } from "../routing/visibility.ts";
import type { BrokerContext } from "./context.ts";
import { forward, type ForwardDeps, type ForwardOptions } from "./forward.ts";
import { Relay } from "./relay.ts";
import type { CallTrace } from "../observe/tracing/call.ts";

/** `contents[].uri` of a `resources/read` result, back to the URIs the client knows. */
function servedContents(prefix: string) {
  return (result: Record<string, unknown>) => {
    if (!prefix || !Array.isArray(result.contents)) return result;
    return {
      ...result,
      contents: result.contents.map((c: Record<string, unknown>) =>
        typeof c?.uri === "string" ? { ...c, uri: prefixUri(prefix, c.uri) } : c
      ),
    };
  };
}

export async function forwardRouted(
  ctx: BrokerContext,
  deps: ForwardDeps,
  req: Request,
  admitted: Admitted,
  method: string,
  params: Record<string, unknown> | undefined,
  text: string,
  rawId: string,
  trace?: CallTrace,
): Promise<Response> {
  const session = admitted.session;
  // The trace ends with the audit line, once the client has its whole answer.
  if (trace) trace.settlesLater = true;
  const request = ctx.audit && auditedRequest({
    path: "broker",
    identity: admitted.identity,
    sessionId: session?.claims.id,
    method,
    params,
    rawId,
    headers: req.headers,
    traceId: trace?.traceId,
  });
  // One audit line per routed request, written once its outcome is known.
  const audit = (outcome: AuditOutcome, decision?: RoutingDecision, error?: GatewayError) => {
    if (request) {
      ctx.audit!.record({
        ...request,
        name: decision?.target.served ?? request.name,
        server: decision?.server,
        outcome,
        error: error && { code: error.code, message: error.message },
      });
    }
    trace?.end(outcome, error);
  };
  trace?.routing();
  const decided = decideForCaller(ctx.upstreams.state, ctx.routing.state.view, admitted.identity, {
    method,
    params,
    text,
    rawId,
  });
  if (!decided.ok) {
    trace?.routed(decided.decision, decided.error);
    audit(outcomeOfError(decided.error), decided.decision, decided.error);
    throw decided.error;
  }
  const routed = decided.decision;
  const upstream = ctx.upstreams.state.servers.get(routed.server)!;
  const server = upstream.config;
  trace?.routed(routed, undefined, { wire: backendWire(upstream, admitted.era) });
  // Without an audit log or a trace nobody needs the outcome, and the answer is not read for it.
  const options: ForwardOptions = ctx.audit || trace
    ? { onSettled: (outcome, error) => audit(outcome, routed, error), trace }
    : {};
  if (method === "resources/read") {
    options.rewriteResult = servedContents(server.toolPrefix);
    // A read the caller's policy narrows must not be served to others from a shared cache.
    options.privateToCaller = admitted.identity.allowed?.resources !== undefined;
  }
  if ((method === "resources/subscribe" || method === "resources/unsubscribe") && session) {
    if (backendWire(upstream, admitted.era) === "stateless") {
      // A 2026 backend has no per-session subscriptions: the gateway watches the resource for the session.
      deps.subscriptions.toggle(
        session.claims.id,
        routed.server,
        routed.target,
        method === "resources/subscribe",
      );
      audit("ok", routed);
      return new Response(resultText(rawId, "{}"), {
        headers: { "content-type": "application/json", "mcp-session-id": session.token },
      });
    }
  }
  if (method === "tools/call") {
    const labels = { server: server.name, tool: routed.target.served };
    options.onAnswer = (status, seconds) => {
      const outcome = status === "unavailable" ? "unavailable" : status < 400 ? "ok" : "error";
      ctx.metrics.toolCalls.inc({ ...labels, outcome });
      if (status !== "unavailable") ctx.metrics.toolCallSeconds.observe({ server: server.name }, seconds);
    };
  }
  const target = {
    server,
    backend: upstream,
    out: {
      method,
      body: routed.body,
      name: routed.target.upstream,
      tool: method === "tools/call"
        ? {
          inputSchema: () => upstream.tools.find((t) => t.name === routed.target.upstream)?.inputSchema,
          arguments: params?.arguments,
        }
        : undefined,
    },
  };
  const res = await forward(ctx, deps, req, admitted, target, rawId, options);
  if ((method === "resources/subscribe" || method === "resources/unsubscribe") && res.ok && session) {
    // Recorded for the replica that may hold the backend session's stream after this one.
    const uri = typeof params?.uri === "string" ? params.uri : "";
    if (method === "resources/unsubscribe") {
      await deps.store.removeSubscription(session.claims.id, server.name, uri);
    } else await deps.store.addSubscription(session.claims.id, server.name, uri);
  }
  if (method === "resources/subscribe" && res.ok && session) {
    // Updates for a subscription arrive on the backend session's own GET stream.
    const binding = await deps.binder.acquire(session.claims, server, rawId);
    const relay = new Relay(deps.store, ctx.logger, session.claims.id, server, binding);
    // Answer once the backend's stream is open, so the client misses no update sent right after (bounded:
    // a slow backend delays the answer, it does not hold it).
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      deps.streams.ensure(session.claims.id, server, binding, relay),
      new Promise((resolve) => timer = setTimeout(resolve, 2_000)),
    ]);
    clearTimeout(timer);
  }
  return res;
}
