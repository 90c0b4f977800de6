/**
 * A small in-memory implementation of the MCP tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663)
 * for our SDK v2 fixtures, which SDK 2.4.0 has no runtime for. A task-supporting tool called by a client
 * that declared the extension in its request's `clientCapabilities` answers a flat `CreateTaskResult`
 * (`resultType: "task"`); the client polls `tasks/get`, answers parked input with `tasks/update`, and may
 * `tasks/cancel`. Without the extension the same tools run synchronously, and task-required tools refuse
 * with -32021. The SDK still does the envelope and `Mcp-Name: <taskId>` header checks for these methods.
 *
 * Tasks live in one process-wide {@link TaskStore}: every 2026 request gets a fresh server instance, and a
 * gateway must send every `tasks/*` call for a task to the backend that created it.
 */
import {
  CLIENT_CAPABILITIES_META_KEY,
  inputRequired,
  inputResponse,
  type McpServer,
  ProtocolError,
  ProtocolErrorCode,
  type ServerContext,
} from "@modelcontextprotocol/server";
import * as z from "zod";

export const TASKS_EXTENSION = "io.modelcontextprotocol/tasks";

type Status = "working" | "input_required" | "completed" | "failed" | "cancelled";
const TERMINAL = new Set<Status>(["completed", "failed", "cancelled"]);

interface Task {
  taskId: string;
  status: Status;
  statusMessage?: string;
  createdAt: string;
  lastUpdatedAt: string;
  ttlMs: number;
  pollIntervalMs: number;
  /** Elicitations still waiting for `tasks/update`, keyed as the client must answer them. */
  inputRequests?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

/** What a task's work function gets: its cancellation signal and a way to park for client input. */
interface TaskRun {
  signal: AbortSignal;
  /** Parks the task in `input_required` until every key was answered through `tasks/update`. */
  ask(requests: Record<string, unknown>): Promise<Record<string, unknown>>;
}

const TASK_TTL_MS = 300_000;
const POLL_INTERVAL_MS = 100;

/** Process-wide tasks, so any instance can answer `tasks/get` for a task another one created. */
export class TaskStore {
  #tasks = new Map<string, Task>();
  #aborts = new Map<string, AbortController>();
  #waiting = new Map<
    string,
    { answers: Record<string, unknown>; resolve: (a: Record<string, unknown>) => void }
  >();

  /** Creates a task, starts `work` in the background, and returns the flat CreateTaskResult fields. */
  create(work: (run: TaskRun) => Promise<Record<string, unknown>>): Record<string, unknown> {
    const now = new Date().toISOString();
    const task: Task = {
      taskId: crypto.randomUUID(),
      status: "working",
      createdAt: now,
      lastUpdatedAt: now,
      ttlMs: TASK_TTL_MS,
      pollIntervalMs: POLL_INTERVAL_MS,
    };
    this.#tasks.set(task.taskId, task);
    const abort = new AbortController();
    this.#aborts.set(task.taskId, abort);
    const run: TaskRun = {
      signal: abort.signal,
      ask: (requests) =>
        new Promise((resolve) => {
          this.#update(task, { status: "input_required", inputRequests: { ...requests } });
          this.#waiting.set(task.taskId, { answers: {}, resolve });
        }),
    };
    work(run).then(
      (result) => this.#finish(task, { status: "completed", result }),
      (e) => {
        if (abort.signal.aborted) return;
        const code = e instanceof ProtocolError ? e.code : ProtocolErrorCode.InternalError;
        this.#finish(task, {
          status: "failed",
          error: { code, message: e instanceof Error ? e.message : String(e) },
        });
      },
    );
    return { resultType: "task", ...this.#wire(task) };
  }

  get(taskId: string): Record<string, unknown> {
    return this.#wire(this.#known(taskId), true);
  }

  /** Delivers answers; the task resumes once none of its input requests is pending. */
  update(taskId: string, responses: Record<string, unknown>): void {
    const task = this.#known(taskId);
    const waiting = this.#waiting.get(taskId);
    if (!waiting || task.status !== "input_required") return;
    const pending = { ...task.inputRequests };
    for (const [key, value] of Object.entries(responses)) {
      if (!(key in pending)) continue; // unknown or already answered: ignored
      waiting.answers[key] = value;
      delete pending[key];
    }
    if (Object.keys(pending).length > 0) {
      this.#update(task, { inputRequests: pending });
      return;
    }
    this.#waiting.delete(taskId);
    this.#update(task, { status: "working", inputRequests: undefined });
    waiting.resolve(waiting.answers);
  }

  /** Aborts every running task (fixture shutdown: no timers outlive the server). */
  cancelAll(): void {
    for (const taskId of [...this.#aborts.keys()]) this.cancel(taskId);
  }

  /** Cooperative cancel; a terminal task stays as it is (the ack is the same either way). */
  cancel(taskId: string): void {
    const task = this.#known(taskId);
    if (TERMINAL.has(task.status)) return;
    this.#aborts.get(taskId)?.abort();
    this.#waiting.delete(taskId);
    this.#finish(task, { status: "cancelled", inputRequests: undefined });
  }

  #known(taskId: string): Task {
    const task = this.#tasks.get(taskId);
    if (!task) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown taskId: ${taskId}`);
    return task;
  }

  #update(task: Task, changes: Partial<Task>): void {
    Object.assign(task, changes, { lastUpdatedAt: new Date().toISOString() });
  }

  #finish(task: Task, changes: Partial<Task>): void {
    if (TERMINAL.has(task.status)) return;
    this.#aborts.delete(task.taskId);
    this.#update(task, changes);
  }

  /** The Task fields on the wire; `detailed` adds inputRequests/result/error (DetailedTask on tasks/get). */
  #wire(task: Task, detailed = false): Record<string, unknown> {
    const { inputRequests, result, error, ...base } = task;
    const wire: Record<string, unknown> = { ...base };
    if (detailed && task.status === "input_required" && inputRequests) wire.inputRequests = inputRequests;
    if (detailed && task.status === "completed" && result) wire.result = result;
    if (detailed && task.status === "failed" && error) wire.error = error;
    return wire;
  }
}

/** Whether this request's envelope declared the tasks extension (2025 sessions never do). */
export function declaresTasks(ctx: ServerContext): boolean {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const caps = envelope?.[CLIENT_CAPABILITIES_META_KEY] as
    | { extensions?: Record<string, unknown> }
    | undefined;
  return caps?.extensions?.[TASKS_EXTENSION] !== undefined;
}

function missingTasksCapability(): ProtocolError {
  return new ProtocolError(
    ProtocolErrorCode.MissingRequiredClientCapability,
    `This request requires the ${TASKS_EXTENSION} extension, which the client did not declare`,
    { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } },
  );
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

const textResult = (text: string, isError = false) => ({
  content: [{ type: "text" as const, text }],
  ...(isError ? { isError: true } : {}),
});

/** A CreateTaskResult returned through McpServer's tools/call path, which requires a `content` array. */
const asToolResult = (created: Record<string, unknown>) => ({ content: [], ...created }) as any;

const confirmRequest = (filename: string) =>
  inputRequired.elicit({
    message: `Delete ${filename}?`,
    requestedSchema: { type: "object", properties: { confirm: { type: "boolean" } }, required: ["confirm"] },
  });

/** Tools that only run as tasks: without the extension a call is refused with -32021. */
const TASK_REQUIRED_TOOLS = new Set(["failing_job", "multi_input"]);

type RawHandler = (request: { params?: { name?: unknown } }, ctx: ServerContext) => Promise<unknown>;

/**
 * Refuses a task-required tool with a JSON-RPC -32021 when the request did not declare the extension.
 * `McpServer` turns every error a tool callback throws into an `isError` result, so the check has to sit in
 * front of its `tools/call` handler; the SDK has no public hook there, hence its (private) handler map. The
 * SDK's envelope and header checks still run first: they happen before any handler is dispatched.
 */
function guardTaskRequiredTools(server: McpServer, names: ReadonlySet<string>): void {
  const handlers =
    (server.server as unknown as { _requestHandlers: Map<string, RawHandler> })._requestHandlers;
  const callTool = handlers.get("tools/call");
  if (!callTool) throw new Error("register tools before guarding them");
  handlers.set("tools/call", async (request, ctx) => {
    const name = request.params?.name;
    if (typeof name === "string" && names.has(name) && !declaresTasks(ctx)) throw missingTasksCapability();
    return await callTool(request, ctx);
  });
}

/**
 * Registers the suite's task fixtures (`greet`, `slow_compute`, `failing_job`, `protocol_error_job`,
 * `confirm_delete`, `multi_input`, `test_tool_with_task`) and, on 2026 instances, `tasks/get`,
 * `tasks/update`, `tasks/cancel`. The server must advertise `capabilities.extensions[TASKS_EXTENSION]`.
 */
export function registerTaskFixtures(server: McpServer, store: TaskStore, era: "legacy" | "modern"): void {
  server.registerTool("greet", {
    description: "Sync only: Hello, {name}!",
    inputSchema: z.object({ name: z.string() }),
  }, ({ name }) => textResult(`Hello, ${name}!`));

  server.registerTool("slow_compute", {
    description: "Task-supporting: sleeps `seconds`, then answers",
    inputSchema: z.object({ seconds: z.number().min(0).max(600), label: z.string().optional() }),
  }, async ({ seconds, label }, ctx) => {
    const work = async (signal?: AbortSignal) => {
      await sleep(seconds * 1000, signal);
      return textResult(`computed ${label ?? ""} after ${seconds}s`);
    };
    if (!declaresTasks(ctx)) return await work(ctx.mcpReq.signal);
    return asToolResult(store.create((run) => work(run.signal)));
  });

  server.registerTool("failing_job", {
    description: "Task-required: completes with a tool error (isError) after a moment",
    inputSchema: z.object({}),
  }, () => {
    return asToolResult(store.create(async (run) => {
      await sleep(200, run.signal);
      return textResult("failing_job failed on purpose", true);
    }));
  });

  server.registerTool("protocol_error_job", {
    description: "Task-supporting: fails with a protocol error (status failed)",
    inputSchema: z.object({}),
  }, (_args, ctx) => {
    const fail = () => {
      throw new ProtocolError(ProtocolErrorCode.InternalError, "protocol_error_job crashed on purpose");
    };
    if (!declaresTasks(ctx)) fail();
    return asToolResult(store.create(async (run) => {
      await sleep(100, run.signal);
      return fail();
    }));
  });

  server.registerTool("confirm_delete", {
    description: "Task-supporting: parks for one elicitation, then completes",
    inputSchema: z.object({ filename: z.string().default("file.txt") }),
  }, ({ filename }, ctx) => {
    if (!declaresTasks(ctx)) {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "confirm");
      if (answer.kind === "elicit") {
        return textResult(`${filename}: ${answer.content?.confirm ? "deleted" : "kept"}`);
      }
      return inputRequired({ inputRequests: { confirm: confirmRequest(filename) } });
    }
    return asToolResult(store.create(async (run) => {
      const answers = await run.ask({ confirm: confirmRequest(filename) });
      const confirmed = (answers.confirm as { content?: { confirm?: boolean } })?.content?.confirm;
      return textResult(`${filename}: ${confirmed ? "deleted" : "kept"}`);
    }));
  });

  server.registerTool("multi_input", {
    description: "Task-supporting: parks for two elicitations at once",
    inputSchema: z.object({}),
  }, () => {
    return asToolResult(store.create(async (run) => {
      const answers = await run.ask({
        first: inputRequired.elicit({
          message: "First?",
          requestedSchema: { type: "object", properties: {} },
        }),
        second: inputRequired.elicit({
          message: "Second?",
          requestedSchema: { type: "object", properties: {} },
        }),
      });
      return textResult(`answered: ${Object.keys(answers).sort().join(", ")}`);
    }));
  });

  server.registerTool("test_tool_with_task", {
    description: "MRTR first (asks for a name), then a task on the final round",
    inputSchema: z.object({}),
  }, (_args, ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, "user_name");
    if (answer.kind !== "elicit") {
      return inputRequired({
        inputRequests: {
          user_name: inputRequired.elicit({
            message: "What is your name?",
            requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
          }),
        },
      });
    }
    const name = String(answer.content?.name ?? "");
    if (!declaresTasks(ctx)) return textResult(`Hello, ${name}!`);
    return asToolResult(store.create(async (run) => {
      await sleep(50, run.signal);
      return textResult(`Hello, ${name}!`);
    }));
  });

  guardTaskRequiredTools(server, TASK_REQUIRED_TOOLS);

  if (era !== "modern") return; // the 2025 wire has its own (core) tasks vocabulary, which we do not serve
  const requireTasks = (ctx: ServerContext) => {
    if (!declaresTasks(ctx)) throw missingTasksCapability();
  };
  const taskIdParams = z.looseObject({ taskId: z.string() });
  server.server.setRequestHandler("tasks/get", { params: taskIdParams }, (params, ctx) => {
    requireTasks(ctx);
    return store.get(params.taskId) as any;
  });
  server.server.setRequestHandler("tasks/update", {
    params: z.looseObject({
      taskId: z.string(),
      inputResponses: z.record(z.string(), z.unknown()).default({}),
    }),
  }, (params, ctx) => {
    requireTasks(ctx);
    // The SDK lifts `inputResponses` out of every request's params into `ctx.mcpReq.inputResponses` (MRTR).
    store.update(params.taskId, ctx.mcpReq.inputResponses ?? params.inputResponses);
    return {} as any;
  });
  server.server.setRequestHandler("tasks/cancel", { params: taskIdParams }, (params, ctx) => {
    requireTasks(ctx);
    store.cancel(params.taskId);
    return {} as any;
  });
}
