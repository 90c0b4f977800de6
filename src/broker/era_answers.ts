/**
 * A backend's answer, made fit for the client's era: the one place in the broker that knows what crossing
 * eras does to an answer (`era/frame.ts` knows the shapes; this module knows when each applies).
 *
 * | client | wire (backend) | results                                    | input for the client     | log messages  |
 * | ------ | -------------- | ------------------------------------------ | ------------------------ | ------------- |
 * | 2025   | session (2025) | as sent                                    | requests relayed         | as sent       |
 * | 2025   | stateless      | 2026 fields dropped; a task is an error    | bridged ⇄                | as sent       |
 * | 2026   | stateless      | gateway's serverInfo; tasks recorded       | `input_required` as sent | as sent       |
 * | 2026   | session (2025) | framed as 2026 (`resultType`, cache hints) | bridged ⇄                | by `logLevel` |
 *
 * ⇄: the era bridge (`bridge/`) carries a backend's requests for input to a client of the other era (an
 * `input_required` asked as 2025 requests; 2025 requests answered as `input_required`), and frames results
 * with the options made here.
 */
import type { Admitted } from "../admission/admit.ts";
import type { ServerConfig } from "../config/schema.ts";
import { subjectKey } from "../identity/resolve.ts";
import { frameLegacyResult, frameModernResult, resultTypeOf } from "../era/frame.ts";
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
      options.dropNotification = (message) => unwantedLog(admitted.envelope.logLevel, message);
    }
  } else if (wire === "stateless") {
    frame = (result) => {
      const type = resultTypeOf(result);
      if (type !== "complete") return Promise.resolve(unexpectedResultFor2025Client(ctx, result));
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

/**
 * A 2026 backend's result a 2025 client cannot receive: a task (the client never asked for one; it declares
 * no tasks extension), or a result type the gateway does not know. (`input_required` never gets here: the
 * bridge asks the client and retries.)
 */
function unexpectedResultFor2025Client(ctx: AnswerContext, result: Record<string, unknown>): GatewayError {
  const type = resultTypeOf(result);
  return new GatewayError(
    "input-failed",
    `Server ${ctx.server.name} answered with a ${type} result, which a 2025-era client cannot receive`,
    ctx.rawId,
    { data: { server: ctx.server.name, resultType: type } },
  );
}
