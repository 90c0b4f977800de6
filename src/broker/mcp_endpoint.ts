/**
 * The client-facing MCP endpoint (Streamable HTTP, spec 2025-11-25 "Transports"): POST carries JSON-RPC,
 * GET opens the notification stream, DELETE ends the session. Every failure is a {@link GatewayError}, so the
 * status code and JSON-RPC error for each problem are decided in one place.
 */
import { GatewayError } from "../mcp/errors.ts";
import { parseJsonRpc, resultText } from "../mcp/jsonrpc.ts";
import { isSupportedProtocolVersion } from "../mcp/protocol.ts";
import { readBody } from "./body.ts";
import { handleClientMessage } from "./client_messages.ts";
import type { BrokerContext } from "./context.ts";
import type { ForwardDeps } from "./forward.ts";
import { handleInitialize } from "./initialize.ts";
import { handleList, isListMethod } from "./lists.ts";
import type { NotificationHub } from "./notifications.ts";
import { checkOrigin } from "./origin.ts";
import { forwardRouted, ROUTED_METHODS } from "./routed.ts";
import { authenticate } from "./session.ts";

const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

export interface McpEndpoint {
  handle(req: Request): Promise<Response>;
}

export function createMcpEndpoint(
  ctx: BrokerContext,
  hub: NotificationHub,
  deps: ForwardDeps,
): McpEndpoint {
  async function post(req: Request): Promise<Response> {
    const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/json") {
      await req.body?.cancel();
      throw new GatewayError(
        "content-type",
        `Unsupported Media Type: Content-Type must be application/json, got ${
          JSON.stringify(type || "(none)")
        }`,
      );
    }
    const text = await readBody(req, ctx.options.maxBodyBytes, ctx.options.bodyTimeoutMs);
    const { message } = parseJsonRpc(text);
    const method = message.kind === "response" ? "(response)" : message.method;
    let status = 200;
    try {
      const res = await dispatch(req, text, message);
      status = res.status;
      return res;
    } catch (e) {
      status = e instanceof GatewayError ? e.status : 500;
      throw e;
    } finally {
      ctx.metrics.requests.inc({ method: metricMethod(method), status });
    }
  }

  async function dispatch(
    req: Request,
    text: string,
    message: ReturnType<typeof parseJsonRpc>["message"],
  ): Promise<Response> {
    if (message.kind === "request" && message.method === "initialize") {
      return handleInitialize(ctx, message.params, message.rawId);
    }
    const rawId = message.kind === "notification" ? "null" : message.rawId;
    const session = await authenticate(req, ctx, rawId);
    const version = req.headers.get("mcp-protocol-version");
    if (version !== null && !isSupportedProtocolVersion(version)) {
      throw new GatewayError(
        "invalid-request",
        `Bad Request: unsupported MCP-Protocol-Version ${version}`,
        rawId,
      );
    }
    const sessionHeader = { "mcp-session-id": session.token };
    if (message.kind !== "request") return handleClientMessage(ctx, deps, session, message, text);
    const { method, params } = message;
    if (isListMethod(method)) return handleList(ctx, req, method, params, rawId, session);
    if (ROUTED_METHODS.has(method)) {
      return forwardRouted(ctx, deps, req, session, method, params, text, rawId);
    }
    switch (method) {
      case "ping":
        return json(resultText(rawId, "{}"), sessionHeader);
      case "logging/setLevel": {
        const level = params?.level;
        if (typeof level !== "string" || !LOG_LEVELS.includes(level)) {
          throw new GatewayError(
            "invalid-params",
            `Invalid params: level must be one of ${LOG_LEVELS.join(", ")}`,
            rawId,
          );
        }
        await deps.backends.setLevel(session.claims.id, level, ctx.upstreams.state.servers);
        return json(resultText(rawId, "{}"), sessionHeader);
      }
      default:
        throw new GatewayError("method-not-found", `Method not found: ${method}`, rawId);
    }
  }

  async function get(req: Request): Promise<Response> {
    const accept = req.headers.get("accept") ?? "*/*";
    if (!/text\/event-stream|\*\/\*/.test(accept)) {
      // Spec: a server that does not offer an SSE stream for this request answers 405.
      return new Response("GET /mcp serves text/event-stream only", {
        status: 405,
        headers: { allow: "POST, GET, DELETE" },
      });
    }
    const session = await authenticate(req, ctx);
    return hub.open(session.claims.id, { "mcp-session-id": session.token });
  }

  async function del(req: Request): Promise<Response> {
    const session = await authenticate(req, ctx);
    const id = session.claims.id;
    // Close the backends first: the projection forgets them once the session is closed.
    const closing = deps.backends.closeAll(id, ctx.upstreams.state.servers);
    ctx.log.append({ type: "SessionClosed", session: id, reason: "deleted" });
    ctx.tokens.forget(session.token);
    deps.backends.forget(id);
    deps.pending.dropSession(id);
    closing.catch(() => {});
    return new Response(null, { status: 200 });
  }

  return {
    async handle(req) {
      try {
        checkOrigin(req, ctx.options);
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

function json(body: string, headers: Record<string, string>): Response {
  return new Response(body, { headers: { ...headers, "content-type": "application/json" } });
}

/** Keeps metric label cardinality bounded: clients choose method names. */
const KNOWN_METHODS = new Set([
  "initialize",
  "ping",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "completion/complete",
  "logging/setLevel",
  "(response)",
]);
function metricMethod(method: string): string {
  return KNOWN_METHODS.has(method) || method.startsWith("notifications/") && method.length < 64
    ? method
    : "other";
}
