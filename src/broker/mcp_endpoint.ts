/**
 * The client-facing MCP endpoint (Streamable HTTP), one `/mcp` for both protocol eras. Every POST is
 * classified first (`era/classify.ts`): a 2025-era message belongs to a gateway session (POST carries
 * JSON-RPC, GET opens the notification stream, DELETE ends the session, spec 2025-11-25 "Transports"); a
 * 2026-era request stands alone (spec 2026-07-28: per-request `_meta`, no session, `server/discover`,
 * `subscriptions/listen`). Which methods exist in which era is the method table's fact. Every failure is
 * a {@link GatewayError}, so the status code and JSON-RPC error for each problem are decided in one place.
 */
import type { Admitted, InboundRequest } from "../admission/admit.ts";
import { classifyInbound, type NormalizedRequest } from "../era/classify.ts";
import { GatewayError } from "../mcp/errors.ts";
import { parseJsonRpc, resultText } from "../mcp/jsonrpc.ts";
import { contentTypeProblem, postAcceptProblem } from "../mcp/media.ts";
import { methodRoute, metricMethod, unknownMethod } from "../mcp/methods.ts";
import { readBody } from "./body.ts";
import { handleClientMessage } from "./client_messages.ts";
import type { BrokerContext } from "./context.ts";
import type { ForwardDeps } from "./forward.ts";
import { handleDiscover } from "./discover.ts";
import { handleInitialize } from "./initialize.ts";
import { handleList } from "./lists.ts";
import type { NotificationHub } from "./notifications.ts";
import { forwardRouted } from "./routed.ts";
import type { Subscriptions } from "./subscriptions.ts";
import { forwardTask } from "./tasks.ts";
import type { CallTrace } from "../observe/tracing/call.ts";
import { ATTR } from "../observe/tracing/attributes.ts";

const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

export interface McpEndpoint {
  handle(req: Request): Promise<Response>;
}

function inbound(req: Request, rawId?: string): InboundRequest {
  return { header: (name) => req.headers.get(name), host: req.headers.get("host"), rawId };
}

export function createMcpEndpoint(
  ctx: BrokerContext,
  hub: NotificationHub,
  deps: ForwardDeps,
  subscriptions: Subscriptions,
): McpEndpoint {
  async function post(req: Request): Promise<Response> {
    const startedAt = ctx.tracer ? performance.now() : 0;
    const typeProblem = contentTypeProblem(req.headers.get("content-type"));
    if (typeProblem) {
      await req.body?.cancel();
      throw new GatewayError("content-type", typeProblem);
    }
    const acceptProblem = postAcceptProblem(req.headers.get("accept"));
    if (acceptProblem) {
      await req.body?.cancel();
      throw new GatewayError("not-acceptable", acceptProblem);
    }
    const text = await readBody(req, ctx.options.maxBodyBytes, ctx.options.bodyTimeoutMs).catch((e) => {
      if (e instanceof GatewayError) throw e;
      // The client went away (or broke the connection) mid-body: its business, not a gateway error.
      ctx.logger.info("request body not read", { error: e });
      throw new GatewayError("invalid-request", "Bad Request: the request body could not be read");
    });
    const parsed = parseJsonRpc(text);
    const { message } = parsed;
    const method = message.kind === "response" ? "(response)" : message.method;
    let status = 200;
    // A request or notification is an MCP operation the gateway serves (a client's answer is not).
    const trace = ctx.tracer && message.kind !== "response"
      ? ctx.tracer.serve({
        method: message.method,
        params: message.params,
        rawId: message.kind === "request" ? message.rawId : undefined,
        header: (name) => req.headers.get(name),
        startedAt,
      })
      : undefined;
    try {
      const request = classifyInbound((name) => req.headers.get(name), parsed);
      ctx.metrics.eraRequests.inc({ era: request.era });
      trace?.set(ATTR.ERA, request.era);
      const res = await dispatch(req, request, trace);
      status = res.status;
      return res;
    } catch (e) {
      status = e instanceof GatewayError ? e.status : 500;
      trace?.end("error", e instanceof GatewayError ? e : { type: "500", message: "Internal error" });
      throw e;
    } finally {
      ctx.metrics.requests.inc({ method: metricMethod(method), status });
      // Forwarded calls end when their answer has streamed to the client; everything else ends here.
      if (trace && !trace.settlesLater) {
        if (status < 400) trace.end("ok");
        else trace.end("error", { type: String(status) });
      }
    }
  }

  async function dispatch(req: Request, request: NormalizedRequest, trace?: CallTrace): Promise<Response> {
    const { message, text, era } = request;
    const rawId = message.kind === "request" ? message.rawId : "null";
    const route = message.kind === "request" ? methodRoute(message.method, era) : undefined;
    if (route?.answer === "lifecycle" && message.kind === "request") {
      const { identity } = await ctx.admission.identify(inbound(req, rawId));
      trace?.identified(identity);
      return handleInitialize(ctx, message.params, rawId, identity);
    }
    const admitted = await ctx.admission.admit(inbound(req, rawId), request);
    trace?.admitted(admitted);
    if (message.kind !== "request") {
      // A 2026 notification concerns no session and no call (a 2026 client cancels by closing its stream).
      if (admitted.era === "2026") return new Response(null, { status: 202 });
      return handleClientMessage(ctx, deps, admitted, message, text);
    }
    const { method, params } = message;
    switch (route?.answer) {
      case "list":
        return handleList(ctx, route, params, rawId, admitted);
      case "backend":
        return forwardRouted(ctx, deps, req, admitted, method, params, text, rawId, trace);
      case "task":
        return forwardTask(ctx, deps, req, admitted, method, params, text, rawId, trace);
      case "discover":
        return handleDiscover(ctx, rawId);
      case "listen":
        return subscriptions.listen(admitted, message.id, params, rawId);
      case "gateway":
        if (admitted.session) return answerGateway(admitted.session, method, params, rawId);
    }
    throw unknownMethod(method, era, rawId);
  }

  /** Methods the gateway answers itself, in a 2025 session. */
  async function answerGateway(
    session: NonNullable<Admitted["session"]>,
    method: string,
    params: Record<string, unknown> | undefined,
    rawId: string,
  ): Promise<Response> {
    if (method === "logging/setLevel") {
      const level = params?.level;
      if (typeof level !== "string" || !LOG_LEVELS.includes(level)) {
        throw new GatewayError(
          "invalid-params",
          `Invalid params: level must be one of ${LOG_LEVELS.join(", ")}`,
          rawId,
        );
      }
      await deps.binder.setLevel(session.claims.id, level, ctx.upstreams.state.servers);
    }
    // ping, and setLevel once applied: an empty result.
    return new Response(resultText(rawId, "{}"), {
      headers: { "mcp-session-id": session.token, "content-type": "application/json" },
    });
  }

  async function get(req: Request): Promise<Response> {
    const accept = req.headers.get("accept") ?? "*/*";
    if (!/text\/event-stream|text\/\*|\*\/\*/.test(accept)) {
      // Spec: a server that does not offer an SSE stream for this request answers 405.
      return new Response("GET /mcp serves text/event-stream only", {
        status: 405,
        headers: { allow: "POST, GET, DELETE" },
      });
    }
    const { session } = await ctx.admission.admitSession(inbound(req));
    return hub.open(session.claims.id, { "mcp-session-id": session.token });
  }

  async function del(req: Request): Promise<Response> {
    const { session } = await ctx.admission.admitSession(inbound(req));
    const { id, expiresAt } = session.claims;
    // Close the backends first: the projection forgets them once the session is closed. A backend session
    // still being opened is closed by the binder when it sees the session gone.
    const closing = deps.binder.closeAll(id, ctx.upstreams.state.servers);
    ctx.log.append({ type: "SessionClosed", session: id, reason: "deleted", expiresAt });
    ctx.tokens.forget(session.token);
    await deps.store.dropSession(id);
    closing.catch(() => {});
    return new Response(null, { status: 200 });
  }

  return {
    async handle(req) {
      try {
        ctx.admission.checkOrigin(inbound(req));
        switch (req.method) {
          case "POST":
            return await post(req);
          case "GET":
            return await get(req);
          case "DELETE":
            return await del(req);
          case "OPTIONS":
            return new Response(null, { status: 204, headers: { allow: "POST, GET, DELETE, OPTIONS" } });
          default:
            return new Response(`Method ${req.method} not allowed on /mcp`, {
              status: 405,
              headers: { allow: "POST, GET, DELETE, OPTIONS" },
            });
        }
      } catch (e) {
        if (e instanceof GatewayError) return e.toResponse();
        ctx.logger.error("unexpected error in /mcp", { error: e });
        return new GatewayError("internal", "Internal error").toResponse();
      }
    },
  };
}
