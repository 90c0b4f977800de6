/**
 * A backend's answer, made fit for the client's era: the one place in the broker that knows what crossing
 * eras does to an answer (`era/frame.ts` knows the shapes; this module knows when each applies).
 *
 * | client | wire (backend) | results                                    | backend requests | log messages   |
 * | ------ | -------------- | ------------------------------------------ | ---------------- | -------------- |
 * | 2025   | session (2025) | as sent                                    | relayed          | as sent        |
 * | 2025   | stateless      | 2026 fields dropped; `input_required` → ⚠  | (none in 2026)   | as sent        |
 * | 2026   | stateless      | gateway's serverInfo; tasks recorded       | (none in 2026)   | as sent        |
 * | 2026   | session (2025) | framed as 2026 (`resultType`, cache hints) | ⚠                | by `logLevel`  |
 *
 * ⚠ marks where bridging the eras' interactive requests (issue 10 item 3, "MRTR bridging") plugs in:
 * {@link inputRequiredFor2025Client} and {@link backendRequestFor2026Client}. Until it does, both answer
 * with a clear error rather than leaving anyone waiting.
 */
import type { Admitted } from "../admission/admit.ts";
import type { ServerConfig } from "../config/schema.ts";
import { subjectKey } from "../identity/resolve.ts";
import { frameLegacyResult, frameModernResult, resultTypeOf } from "../era/frame.ts";
import { backendSessionHeaders } from "../mcp/backend_headers.ts";
import { postToBackend } from "../mcp/backend_session.ts";
import type { BackendWire } from "../mcp/backend_wire.ts";
import { GatewayError } from "../mcp/errors.ts";
import type { BackendBinding } from "../session/session_map.ts";
import { type SessionStore, TASK_TTL_MS } from "../session/store.ts";
import type { RelayOptions } from "./relay.ts";

/** Log levels by severity (RFC 5424 order, as MCP's `LoggingLevel`). */
const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

export interface AnswerContext {
  admitted: Admitted;
  wire: BackendWire;
  server: ServerConfig;
  /** The backend session the call runs on (session wire). */
  binding?: BackendBinding;
  method: string;
  rawId: string;
  store: SessionStore;
  /** A 2026 answer that depends on the caller (a filtered read): `cacheScope` becomes `private`. */
  privateToCaller?: boolean;
}

/** The relay options that frame a backend's answers for the client; `rewrite` runs first (URI mapping). */
export function answerOptions(
  ctx: AnswerContext,
  rewrite?: RelayOptions["rewriteResult"],
): RelayOptions {
  const { admitted, wire } = ctx;
  const options: RelayOptions = {};
  let frame:
    | ((result: Record<string, unknown>) => Promise<Record<string, unknown> | GatewayError>)
    | undefined;
  if (admitted.era === "2026") {
    frame = async (result) => {
      if (resultTypeOf(result) === "task" && typeof result.taskId === "string") {
        // Later `tasks/*` requests name only the task: remember which backend holds it, and for whom.
        await ctx.store.recordTask(
          result.taskId,
          { server: ctx.server.name, subject: subjectKey(admitted.identity) ?? "" },
          TASK_TTL_MS,
        );
      }
      return frameModernResult(ctx.method, result, { privateToCaller: ctx.privateToCaller });
    };
    if (wire === "session") {
      options.onBackendRequest = (message) => backendRequestFor2026Client(ctx, message);
      options.dropNotification = (message) => unwantedLog(admitted.envelope.logLevel, message);
    }
  } else if (wire === "stateless") {
    frame = (result) => {
      const type = resultTypeOf(result);
      if (type !== "complete") return Promise.resolve(inputRequiredFor2025Client(ctx, result));
      return Promise.resolve(frameLegacyResult(result));
    };
  }
  if (!rewrite && !frame) return options;
  options.rewriteResult = async (result) => {
    const rewritten = rewrite ? await rewrite(result) : result;
    if (rewritten instanceof GatewayError || !frame) return rewritten;
    return await frame(rewritten);
  };
  return options;
}

/**
 * The HTTP status a client gets for a backend's JSON answer. A 2026 backend answers its validation
 * ladder's refusals with 400 and an unknown method with 404; to a 2025 client an HTTP 404 means "your
 * session is gone" (it would re-initialize) and a 400 a malformed request of its own. For a 2025 client
 * both are what they are in its era: JSON-RPC errors answering its request, on HTTP 200.
 */
export function answerStatus(admitted: Admitted, wire: BackendWire, status: number): number {
  return admitted.era === "2025" && wire === "stateless" && (status === 400 || status === 404) ? 200 : status;
}

/** A 2026 client without `logLevel` in its envelope gets no log messages; with one, those at or above it. */
function unwantedLog(level: string | undefined, message: Record<string, unknown>): boolean {
  if (message.method !== "notifications/message") return false;
  if (level === undefined) return true;
  const params = message.params as { level?: unknown } | undefined;
  return LOG_LEVELS.indexOf(String(params?.level)) < LOG_LEVELS.indexOf(level);
}

/** What an `input_required` result asks for, by method (`elicitation/create`, …). */
function inputMethods(result: Record<string, unknown>): string[] {
  const requests = result.inputRequests;
  if (!requests || typeof requests !== "object") return [];
  return [
    ...new Set(
      Object.values(requests as Record<string, { method?: unknown }>).map((r) =>
        String(r?.method ?? "unknown")
      ),
    ),
  ];
}

/**
 * MRTR bridge, 2025 client ← 2026 backend: the backend answered `input_required` (or created a task, which
 * a 2025 client never asked for). The bridge will ask the client with ordinary server-to-client requests
 * on the call's stream and retry with the answers and the exact `requestState`; until then the client is
 * told, in a JSON-RPC error, what the backend needed.
 */
export function inputRequiredFor2025Client(
  ctx: AnswerContext,
  result: Record<string, unknown>,
): GatewayError {
  const type = resultTypeOf(result);
  const needs = inputMethods(result);
  const message = type === "input_required"
    ? `Server ${ctx.server.name} needs input from the client (${
      needs.join(", ") || "unspecified"
    }) before it ` +
      `answers; the gateway cannot yet relay such requests to a 2025-era client`
    : `Server ${ctx.server.name} answered with a ${type} result, which a 2025-era client cannot receive`;
  return new GatewayError("input-not-relayed", message, ctx.rawId, {
    data: { server: ctx.server.name, resultType: type, ...(needs.length ? { inputRequests: needs } : {}) },
  });
}

/**
 * MRTR bridge, 2026 client ← 2025 backend: the backend sent a request (elicitation, sampling, roots) during
 * the call. The bridge will turn it into an `input_required` result with a gateway-signed `requestState`
 * and deliver the client's retry to the waiting call; until then the backend is answered with an error at
 * once (so the call ends rather than waits), and the client never sees the request.
 */
export async function backendRequestFor2026Client(
  ctx: AnswerContext,
  message: Record<string, unknown>,
): Promise<string | undefined> {
  if (!ctx.binding) return undefined;
  const refusal = JSON.stringify({
    jsonrpc: "2.0",
    id: message.id,
    error: {
      code: -32603,
      message: `The gateway cannot yet relay ${String(message.method)} to a 2026-07-28 client`,
    },
  });
  await postToBackend(ctx.server.url, backendSessionHeaders(ctx.server, ctx.binding), refusal);
  return undefined;
}
