/**
 * The tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) for 2026 clients: `tasks/get`,
 * `tasks/update` and `tasks/cancel` name only a task (`params.taskId`, mirrored in `Mcp-Name`), so they go
 * to the backend that created it — recorded when its `tools/call` answered `resultType: "task"`
 * (`era_answers.ts`). A task belongs to the caller it was created for: anyone else is told it is unknown.
 */
import type { Admitted } from "../admission/admit.ts";
import { subjectKey } from "../identity/resolve.ts";
import { GatewayError } from "../mcp/errors.ts";
import { TASKS_EXTENSION } from "../mcp/protocol.ts";
import type { BrokerContext } from "./context.ts";
import { forward, type ForwardDeps } from "./forward.ts";
import type { CallTrace } from "../observe/tracing/call.ts";

export { TASKS_EXTENSION };

export async function forwardTask(
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
  // The extension is negotiated per request: without it the task methods do not exist for this client.
  if (!admitted.envelope.capabilities.extensions?.[TASKS_EXTENSION]) {
    throw new GatewayError(
      "missing-client-capability",
      `Missing required client capability: the ${TASKS_EXTENSION} extension`,
      rawId,
      { data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } } },
    );
  }
  const taskId = params?.taskId;
  if (typeof taskId !== "string" || taskId === "") {
    throw new GatewayError("invalid-params", `Invalid params: ${method} requires params.taskId`, rawId);
  }
  const route = await deps.store.task(taskId);
  const upstream = route && ctx.upstreams.state.servers.get(route.server);
  if (!route || !upstream || route.subject !== (subjectKey(admitted.identity) ?? "")) {
    throw new GatewayError("invalid-params", `Invalid params: unknown task ${taskId}`, rawId);
  }
  if (upstream.status !== "ready") {
    throw new GatewayError("upstream-unavailable", `Server ${route.server} is unavailable`, rawId, {
      data: { server: route.server, status: upstream.status, retryable: true },
      retryAfterMs: 1_000,
    });
  }
  const target = { server: upstream.config, backend: upstream, out: { method, body: text, name: taskId } };
  if (!trace) return await forward(ctx, deps, req, admitted, target, rawId);
  trace.settlesLater = true;
  return await forward(ctx, deps, req, admitted, target, rawId, {
    trace,
    onSettled: (outcome, error) => trace.end(outcome, error),
  });
}
