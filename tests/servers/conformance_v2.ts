/**
 * Our backend for the official MCP conformance suite `@modelcontextprotocol/conformance@0.2.0-alpha.12`,
 * built on the SDK v2 (`@modelcontextprotocol/server` 2.4.0) and serving both protocol eras on one
 * endpoint: every fixed name the server scenarios of both requirement sets call (`--requirements
 * 2026-07-28` and `--requirements 2025-11-25`), with the results the scenario code checks. The suite's
 * own reference server is not published on npm, so this is ours.
 *
 * One definition serves both eras: tools that need the client (sampling, elicitation, roots) return
 * `inputRequired(...)`; a 2026 client gets the `input_required` result and retries, a 2025 session gets
 * real server-to-client requests from the SDK's legacy shim. `requestState` is HMAC-sealed
 * (`createRequestStateCodec`), so a tampered state is refused with -32602.
 *
 * Run: `deno run -A tests/servers/conformance_v2.ts --port 0 [--modern-only | --legacy-only]
 * [--no-event-store]`; it prints `listening on http://127.0.0.1:PORT/mcp`.
 */
import {
  type CallToolResult,
  CLIENT_CAPABILITIES_META_KEY,
  completable,
  createRequestStateCodec,
  fromJsonSchema,
  inputRequired,
  inputResponse,
  type InputResponseView,
  McpServer,
  ResourceTemplate,
  type ServerContext,
} from "@modelcontextprotocol/server";
import * as z from "zod";
import { JSON_SCHEMA_2020_12, TINY_PNG, TINY_WAV, WATCHED_RESOURCE } from "./conformance.ts";
import { MemoryEventStore } from "./event_store.ts";
import { registerTaskFixtures, TASKS_EXTENSION, TaskStore } from "./tasks_ext.ts";
import {
  type EraServerContext,
  runErasMain,
  serveEras,
  type ServeErasOptions,
  SharedToggle,
} from "./serve_v2.ts";

export { WATCHED_RESOURCE };

const text = (t: string): CallToolResult => ({ content: [{ type: "text", text: t }] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A tool whose call fails with -32021 when the client did not declare `sampling` (server-stateless). */
export const MISSING_CAPABILITY_TOOL = "test_missing_capability";

/** The SEP-2106 fixture of the suite's `json-schema-2020-12` scenario, byte for byte. */
export const JSON_SCHEMA_2020_12_TOOL_INPUT = {
  $schema: JSON_SCHEMA_2020_12,
  type: "object",
  $defs: {
    address: {
      $anchor: "addressDef",
      type: "object",
      properties: { street: { type: "string" }, city: { type: "string" } },
    },
  },
  properties: {
    name: { type: "string" },
    address: { $ref: "#/$defs/address" },
    contactMethod: { type: "string", enum: ["phone", "email"] },
    phone: { type: "string" },
    email: { type: "string" },
  },
  allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
  if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
  then: { required: ["phone"] },
  else: { required: ["email"] },
  additionalProperties: false,
};

/** A tool with an `x-mcp-header` argument (SEP-2243 `Mcp-Param-Region`). */
export const X_MCP_HEADER_TOOL = "test_x_mcp_header";
const X_MCP_HEADER_TOOL_INPUT = {
  type: "object",
  properties: {
    region: { type: "string", description: "Where to run", "x-mcp-header": "Region" },
    note: { type: "string" },
  },
  required: ["region"],
} as Parameters<typeof fromJsonSchema>[0]; // the JSON Schema type has no `x-mcp-header` extension key

/** Process-wide key: every round of a flow is served by this process, whichever era instance. */
const requestState = createRequestStateCodec<Record<string, unknown>>({
  key: crypto.getRandomValues(new Uint8Array(32)),
});

/** Tasks created by any instance (tasks extension, SEP-2663). */
const tasks = new TaskStore();

/** Toggled by `test_trigger_tool_change` / `test_trigger_prompt_change`; shared by all instances. */
const dynamic = { tool: new SharedToggle(), prompt: new SharedToggle() };

const NO_ARGS = z.object({});

const COMPLETIONS: Record<string, string[]> = {
  arg1: ["paris", "park", "party", "test", "testValue1"],
  arg2: ["red", "green", "blue", "testValue2"],
  id: ["1", "2", "3", "123"],
};
const complete = (name: string) => (value: string) =>
  (COMPLETIONS[name] ?? []).filter((v) => v.toLowerCase().startsWith(String(value ?? "").toLowerCase()));

const USER_NAME_SCHEMA = {
  type: "object" as const,
  properties: { name: { type: "string" as const } },
  required: ["name"],
};

/** The client capabilities a 2026 request declared in its `_meta` envelope (2025: the session's). */
function clientCapabilities(ctx: ServerContext, server: McpServer): Record<string, unknown> {
  // The d.mts types the envelope as `Partial<{}>`; the keys are the reserved `_meta` names.
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  return (envelope?.[CLIENT_CAPABILITIES_META_KEY] ?? server.server.getClientCapabilities() ?? {}) as Record<
    string,
    unknown
  >;
}

function describe(view: InputResponseView): string {
  switch (view.kind) {
    case "elicit":
      return `action=${view.action}, content=${JSON.stringify(view.content ?? {})}`;
    case "sampling": {
      const content = view.result.content;
      const first = Array.isArray(content) ? content[0] : content;
      return first?.type === "text" ? first.text : JSON.stringify(content);
    }
    case "roots":
      return view.roots.map((r) => r.uri).join(", ");
    case "missing":
      return "missing";
  }
}

/** A new conformance server instance (one per 2025 session, one per 2026 request). */
export function createConformanceServerV2({ era, host }: EraServerContext): McpServer {
  const server = new McpServer(
    { name: "mcp-gateway-conformance-backend-v2", version: "2.0.0" },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
        extensions: { [TASKS_EXTENSION]: {} },
      },
      requestState: { verify: requestState.verify },
    },
  );

  // ---- tasks extension fixtures (tasks-* scenarios): greet, slow_compute, failing_job, … ----
  registerTaskFixtures(server, tasks, era);

  // ---- content tools (tools-call-*) ----
  server.registerTool(
    "test_simple_text",
    { description: "Returns simple text content", inputSchema: NO_ARGS },
    () => text("This is a simple text response for testing."),
  );
  server.registerTool(
    "test_image_content",
    { description: "Returns image content", inputSchema: NO_ARGS },
    () => ({ content: [{ type: "image", data: TINY_PNG, mimeType: "image/png" }] }),
  );
  server.registerTool(
    "test_audio_content",
    { description: "Returns audio content", inputSchema: NO_ARGS },
    () => ({ content: [{ type: "audio", data: TINY_WAV, mimeType: "audio/wav" }] }),
  );
  server.registerTool(
    "test_embedded_resource",
    { description: "Returns an embedded resource", inputSchema: NO_ARGS },
    () => ({
      content: [{
        type: "resource",
        resource: {
          uri: "test://embedded-resource",
          mimeType: "text/plain",
          text: "This is an embedded resource content.",
        },
      }],
    }),
  );
  server.registerTool(
    "test_multiple_content_types",
    { description: "Returns text, image and resource", inputSchema: NO_ARGS },
    () => ({
      content: [
        { type: "text", text: "Multiple content types test:" },
        { type: "image", data: TINY_PNG, mimeType: "image/png" },
        {
          type: "resource",
          resource: {
            uri: "test://mixed-content-resource",
            mimeType: "application/json",
            text: JSON.stringify({ test: "data", value: 123 }),
          },
        },
      ],
    }),
  );
  server.registerTool(
    "test_error_handling",
    { description: "Always fails with isError", inputSchema: NO_ARGS },
    () => ({
      isError: true,
      content: [{ type: "text", text: "This tool intentionally returns an error for testing" }],
    }),
  );

  // ---- streaming: logging (2025 logging/setLevel, 2026 `_meta` logLevel) and progress ----
  const logTool = async (ctx: ServerContext) => {
    await ctx.mcpReq.log("info", "Tool execution started", "conformance");
    await sleep(50);
    await ctx.mcpReq.log("info", "Tool processing data", "conformance");
    await sleep(50);
    await ctx.mcpReq.log("info", "Tool execution completed", "conformance");
    return text("Tool with logging executed successfully");
  };
  server.registerTool(
    "test_tool_with_logging",
    { description: "Sends three log messages while running", inputSchema: NO_ARGS },
    (_args, ctx) => logTool(ctx),
  );
  server.registerTool(
    "test_logging_tool",
    {
      description: "Logs only when the request asked for a log level (2026 `_meta` logLevel)",
      inputSchema: NO_ARGS,
    },
    (_args, ctx) => logTool(ctx),
  );
  server.registerTool(
    "test_tool_with_progress",
    { description: "Reports progress 0, 50, 100 of 100", inputSchema: NO_ARGS },
    async (_args, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({
            method: "notifications/progress",
            params: { progressToken, progress, total: 100, message: `${progress}%` },
          });
        }
        if (progress < 100) await sleep(50);
      }
      return text("Tool with progress executed successfully");
    },
  );

  // ---- client input: one definition for both eras (2026 input_required, 2025 server-to-client) ----
  server.registerTool(
    "test_sampling",
    {
      description: "Asks the client's LLM (sampling/createMessage)",
      inputSchema: z.object({ prompt: z.string().describe("The prompt to send to the LLM") }),
    },
    ({ prompt }, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "llm");
      if (answer.kind === "sampling") return text(`LLM response: ${describe(answer)}`);
      return inputRequired({
        inputRequests: {
          llm: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: prompt } }],
            maxTokens: 100,
          }),
        },
      });
    },
  );
  const elicitTool = (name: string, description: string, message: string, schema: unknown, label: string) =>
    server.registerTool(name, { description, inputSchema: NO_ARGS }, (_args, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "form");
      if (answer.kind === "elicit") return text(`${label}: ${describe(answer)}`);
      return inputRequired({
        inputRequests: { form: inputRequired.elicit({ message, requestedSchema: schema as any }) },
      });
    });
  server.registerTool(
    "test_elicitation",
    {
      description: "Asks the user for input (elicitation/create)",
      inputSchema: z.object({ message: z.string().describe("The message to show the user") }),
    },
    ({ message }, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "form");
      if (answer.kind === "elicit") return text(`User response: ${describe(answer)}`);
      return inputRequired({
        inputRequests: {
          form: inputRequired.elicit({
            message,
            requestedSchema: {
              type: "object",
              properties: {
                username: { type: "string", description: "User's response" },
                email: { type: "string", description: "User's email address" },
              },
              required: ["username", "email"],
            },
          }),
        },
      });
    },
  );
  elicitTool(
    "test_elicitation_sep1034_defaults",
    "Elicitation with defaults for every primitive type (SEP-1034)",
    "Please review and update the form fields with defaults",
    {
      type: "object",
      properties: {
        name: { type: "string", description: "User name", default: "John Doe" },
        age: { type: "integer", description: "User age", default: 30 },
        score: { type: "number", description: "User score", default: 95.5 },
        status: {
          type: "string",
          description: "User status",
          enum: ["active", "inactive", "pending"],
          default: "active",
        },
        verified: { type: "boolean", description: "Verification status", default: true },
      },
    },
    "Elicitation completed",
  );
  elicitTool(
    "test_elicitation_sep1330_enums",
    "Elicitation with the five enum schema variants (SEP-1330)",
    "Please select options from the enum fields",
    {
      type: "object",
      properties: {
        untitledSingle: { type: "string", enum: ["option1", "option2", "option3"] },
        titledSingle: {
          type: "string",
          oneOf: [
            { const: "value1", title: "First Option" },
            { const: "value2", title: "Second Option" },
            { const: "value3", title: "Third Option" },
          ],
        },
        legacyEnum: {
          type: "string",
          enum: ["opt1", "opt2", "opt3"],
          enumNames: ["Option One", "Option Two", "Option Three"],
        },
        untitledMulti: { type: "array", items: { type: "string", enum: ["option1", "option2", "option3"] } },
        titledMulti: {
          type: "array",
          items: {
            anyOf: [
              { const: "value1", title: "First Choice" },
              { const: "value2", title: "Second Choice" },
              { const: "value3", title: "Third Choice" },
            ],
          },
        },
      },
    },
    "Elicitation completed",
  );

  // ---- SEP-2322 multi round-trip requests (2026 input-required-result-* scenarios) ----
  server.registerTool(
    "test_input_required_result_elicitation",
    { description: "Asks for the user's name, then greets", inputSchema: NO_ARGS },
    (_args, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "user_name");
      if (answer.kind === "elicit" && answer.action === "accept") {
        return text(`Hello, ${String(answer.content?.name ?? "stranger")}!`);
      }
      return inputRequired({
        inputRequests: {
          user_name: inputRequired.elicit({
            message: "What is your name?",
            requestedSchema: USER_NAME_SCHEMA,
          }),
        },
      });
    },
  );
  server.registerTool(
    "test_input_required_result_sampling",
    { description: "Asks the client's LLM a question", inputSchema: NO_ARGS },
    (_args, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "capital_question");
      if (answer.kind === "sampling") return text(`The LLM answered: ${describe(answer)}`);
      return inputRequired({
        inputRequests: {
          capital_question: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: "What is the capital of France?" } }],
            maxTokens: 100,
          }),
        },
      });
    },
  );
  server.registerTool(
    "test_input_required_result_list_roots",
    { description: "Asks for the client's roots", inputSchema: NO_ARGS },
    (_args, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "client_roots");
      if (answer.kind === "roots") return text(`Roots: ${describe(answer)}`);
      return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
    },
  );
  server.registerTool(
    "test_input_required_result_request_state",
    { description: "Round-trips a sealed requestState", inputSchema: NO_ARGS },
    async (_args, ctx) => {
      const state = ctx.mcpReq.requestState<{ round: number }>();
      const answer = inputResponse(ctx.mcpReq.inputResponses, "confirm");
      if (state?.round === 1 && answer.kind === "elicit") return text(`state-ok: ${describe(answer)}`);
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: "Please confirm",
            requestedSchema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
          }),
        },
        requestState: await requestState.mint({ round: 1 }),
      });
    },
  );
  server.registerTool(
    "test_input_required_result_multiple_inputs",
    { description: "Asks for elicitation, sampling and roots at once", inputSchema: NO_ARGS },
    async (_args, ctx) => {
      const responses = ctx.mcpReq.inputResponses;
      const views = ["user_name", "greeting", "client_roots"].map((key) => inputResponse(responses, key));
      if (ctx.mcpReq.requestState() !== undefined && views.every((v) => v.kind !== "missing")) {
        return text(`All inputs received: ${views.map(describe).join("; ")}`);
      }
      return inputRequired({
        inputRequests: {
          user_name: inputRequired.elicit({
            message: "What is your name?",
            requestedSchema: USER_NAME_SCHEMA,
          }),
          greeting: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: "Generate a greeting" } }],
            maxTokens: 50,
          }),
          client_roots: inputRequired.listRoots(),
        },
        requestState: await requestState.mint({ round: 1 }),
      });
    },
  );
  server.registerTool(
    "test_input_required_result_multi_round",
    { description: "Two elicitation rounds with an evolving requestState", inputSchema: NO_ARGS },
    async (_args, ctx) => {
      const state = ctx.mcpReq.requestState<{ name?: string }>();
      const step1 = inputResponse(ctx.mcpReq.inputResponses, "step1");
      const step2 = inputResponse(ctx.mcpReq.inputResponses, "step2");
      if (state?.name !== undefined && step2.kind === "elicit") {
        return text(`Name ${state.name}, favorite color ${String(step2.content?.color)}`);
      }
      const name = state?.name ?? (step1.kind === "elicit" ? String(step1.content?.name ?? "") : undefined);
      if (name !== undefined) {
        return inputRequired({
          inputRequests: {
            step2: inputRequired.elicit({
              message: "Step 2: What is your favorite color?",
              requestedSchema: {
                type: "object",
                properties: { color: { type: "string" } },
                required: ["color"],
              },
            }),
          },
          requestState: await requestState.mint({ name }),
        });
      }
      return inputRequired({
        inputRequests: {
          step1: inputRequired.elicit({
            message: "Step 1: What is your name?",
            requestedSchema: USER_NAME_SCHEMA,
          }),
        },
        requestState: await requestState.mint({}),
      });
    },
  );
  server.registerTool(
    "test_input_required_result_tampered_state",
    { description: "Seals its requestState; a tampered one is refused (-32602)", inputSchema: NO_ARGS },
    async (_args, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "confirm");
      if (ctx.mcpReq.requestState() !== undefined && answer.kind === "elicit") return text("state verified");
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: "Please confirm",
            requestedSchema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
          }),
        },
        requestState: await requestState.mint({ tool: "tampered_state" }),
      });
    },
  );
  server.registerTool(
    "test_input_required_result_capabilities",
    { description: "Asks only for what the client declared it can give", inputSchema: NO_ARGS },
    (_args, ctx) => {
      const caps = clientCapabilities(ctx, server);
      const answered = ["question", "form"].map((key) => inputResponse(ctx.mcpReq.inputResponses, key));
      if (answered.some((v) => v.kind !== "missing")) {
        return text(`Answered: ${answered.map(describe).join("; ")}`);
      }
      const requests: Record<string, ReturnType<typeof inputRequired.elicit>> = {};
      if (caps.sampling) {
        requests.question = inputRequired.createMessage({
          messages: [{ role: "user", content: { type: "text", text: "Say hello" } }],
          maxTokens: 20,
        });
      }
      if (caps.elicitation) {
        requests.form = inputRequired.elicit({
          message: "What is your name?",
          requestedSchema: USER_NAME_SCHEMA,
        });
      }
      if (Object.keys(requests).length === 0) {
        return text("The client declared neither sampling nor elicitation");
      }
      return inputRequired({ inputRequests: requests });
    },
  );
  server.registerTool(
    MISSING_CAPABILITY_TOOL,
    {
      description: "Needs sampling; the SDK refuses the call with -32021 if it was not declared",
      inputSchema: NO_ARGS,
    },
    (_args, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "llm");
      if (answer.kind === "sampling") return text(`LLM response: ${describe(answer)}`);
      return inputRequired({
        inputRequests: {
          llm: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: "ping" } }],
            maxTokens: 10,
          }),
        },
      });
    },
  );
  server.registerTool(
    "test_streaming_elicitation",
    {
      description: "Needs elicitation: answers input_required, never a request on the stream",
      inputSchema: NO_ARGS,
    },
    (_args, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "form");
      if (answer.kind === "elicit") return text(`User response: ${describe(answer)}`);
      return inputRequired({
        inputRequests: {
          form: inputRequired.elicit({ message: "What is your name?", requestedSchema: USER_NAME_SCHEMA }),
        },
      });
    },
  );

  // ---- list changes and resource updates, delivered to both eras through the host ----
  server.registerTool(
    "test_trigger_tool_change",
    { description: "Toggles test_dynamic_tool and announces tools/list_changed", inputSchema: NO_ARGS },
    () => {
      const on = dynamic.tool.flip();
      host.toolsChanged();
      return text(`test_dynamic_tool is now ${on ? "listed" : "gone"}`);
    },
  );
  server.registerTool(
    "test_trigger_prompt_change",
    { description: "Toggles test_dynamic_prompt and announces prompts/list_changed", inputSchema: NO_ARGS },
    () => {
      const on = dynamic.prompt.flip();
      host.promptsChanged();
      return text(`test_dynamic_prompt is now ${on ? "listed" : "gone"}`);
    },
  );
  server.registerTool(
    "test_trigger_resource_updated",
    { description: `Announces resources/updated for ${WATCHED_RESOURCE}`, inputSchema: NO_ARGS },
    (_args, ctx) => {
      // A 2025 session must have subscribed first; 2026 delivery is filtered by each listen stream.
      if (ctx.sessionId !== undefined && !host.subscriptions(ctx.sessionId).has(WATCHED_RESOURCE)) {
        return text(`Not subscribed to ${WATCHED_RESOURCE}`);
      }
      host.resourceUpdated(WATCHED_RESOURCE);
      return text(`Sent resources/updated for ${WATCHED_RESOURCE}`);
    },
  );
  if (era === "legacy" || dynamic.tool.on) {
    const tool = server.registerTool(
      "test_dynamic_tool",
      { description: "Present while toggled on", inputSchema: NO_ARGS },
      () => text("dynamic"),
    );
    if (era === "legacy") dynamic.tool.track(tool);
  }

  // ---- 2025-only: SSE polling (SEP-1699) needs a resumable session stream ----
  server.registerTool(
    "test_reconnection",
    {
      description:
        "Closes its SSE stream mid-call; the result arrives after the client reconnects (SEP-1699)",
      inputSchema: NO_ARGS,
    },
    async (_args, ctx) => {
      await sleep(50);
      ctx.http?.closeSSE?.();
      await sleep(100);
      return text("Reconnection test completed successfully");
    },
  );

  // ---- JSON Schema 2020-12 passes through byte for byte (SEP-1613, SEP-2106 keywords) ----
  server.registerTool("json_schema_2020_12_tool", {
    description: "Tool with JSON Schema 2020-12 features",
    inputSchema: fromJsonSchema<Record<string, unknown>>(JSON_SCHEMA_2020_12_TOOL_INPUT),
  }, (args) => text(`Received: ${JSON.stringify(args)}`));

  // ---- SEP-2243: an argument mirrored into `Mcp-Param-Region`; the SDK rejects a disagreeing header ----
  server.registerTool(X_MCP_HEADER_TOOL, {
    description: "Echoes its region argument, which clients mirror into the Mcp-Param-Region header",
    inputSchema: fromJsonSchema<{ region: string; note?: string }>(X_MCP_HEADER_TOOL_INPUT),
  }, ({ region }) => text(`region=${region}`));

  // ---- resources ----
  server.registerResource(
    "static-text",
    "test://static-text",
    { description: "A static text resource", mimeType: "text/plain" },
    (uri) => ({
      contents: [{
        uri: uri.href,
        mimeType: "text/plain",
        text: "This is the content of the static text resource.",
      }],
    }),
  );
  server.registerResource(
    "static-binary",
    "test://static-binary",
    { description: "A static binary resource (PNG)", mimeType: "image/png" },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: "image/png", blob: TINY_PNG }] }),
  );
  server.registerResource(
    "watched-resource",
    WATCHED_RESOURCE,
    { description: "A resource clients can subscribe to", mimeType: "text/plain" },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: "text/plain", text: "Watched resource content" }] }),
  );
  server.registerResource(
    "template-data",
    new ResourceTemplate("test://template/{id}/data", { list: undefined, complete: { id: complete("id") } }),
    { description: "Data for an id, substituted into the URI", mimeType: "application/json" },
    (uri, { id }) => ({
      contents: [{
        uri: uri.href,
        mimeType: "application/json",
        text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
      }],
    }),
  );

  // ---- prompts ----
  server.registerPrompt("test_simple_prompt", { description: "A prompt without arguments" }, () => ({
    messages: [{ role: "user", content: { type: "text", text: "This is a simple prompt for testing." } }],
  }));
  server.registerPrompt("test_prompt_with_arguments", {
    description: "A prompt with two required arguments",
    argsSchema: z.object({
      arg1: completable(z.string().describe("First test argument"), complete("arg1")),
      arg2: completable(z.string().describe("Second test argument"), complete("arg2")),
    }),
  }, ({ arg1, arg2 }) => ({
    messages: [{
      role: "user",
      content: { type: "text", text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` },
    }],
  }));
  server.registerPrompt("test_prompt_with_embedded_resource", {
    description: "A prompt embedding a resource",
    argsSchema: z.object({ resourceUri: z.string().describe("URI of the resource to embed") }),
  }, ({ resourceUri }) => ({
    messages: [
      {
        role: "user",
        content: {
          type: "resource",
          resource: {
            uri: resourceUri,
            mimeType: "text/plain",
            text: "Embedded resource content for testing.",
          },
        },
      },
      { role: "user", content: { type: "text", text: "Please process the embedded resource above." } },
    ],
  }));
  server.registerPrompt("test_prompt_with_image", { description: "A prompt with image content" }, () => ({
    messages: [
      { role: "user", content: { type: "image", data: TINY_PNG, mimeType: "image/png" } },
      { role: "user", content: { type: "text", text: "Please analyze the image above." } },
    ],
  }));
  server.registerPrompt(
    "test_input_required_result_prompt",
    { description: "Asks the user for context before it renders (MRTR on prompts/get)" },
    (ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "user_context");
      if (answer.kind === "elicit" && answer.action === "accept") {
        return {
          messages: [{
            role: "user",
            content: { type: "text", text: `Use this context: ${String(answer.content?.context ?? "")}` },
          }],
        };
      }
      return inputRequired({
        inputRequests: {
          user_context: inputRequired.elicit({
            message: "What context should the prompt use?",
            requestedSchema: {
              type: "object",
              properties: { context: { type: "string" } },
              required: ["context"],
            },
          }),
        },
      });
    },
  );
  if (era === "legacy" || dynamic.prompt.on) {
    const prompt = server.registerPrompt(
      "test_dynamic_prompt",
      { description: "Present while toggled on" },
      () => ({
        messages: [{ role: "user", content: { type: "text", text: "dynamic" } }],
      }),
    );
    if (era === "legacy") dynamic.prompt.track(prompt);
  }

  return server;
}

/** Serves the v2 conformance backend in-process (DNS-rebinding checks, resumable 2025 streams). */
export async function startConformanceV2(
  opts: ServeErasOptions & { eventStore?: ServeErasOptions["eventStore"] | false } = {},
) {
  const { eventStore, ...rest } = opts;
  const served = await serveEras(createConformanceServerV2, {
    dnsRebindingProtection: true,
    retryInterval: 100,
    ...rest,
    eventStore: eventStore === false ? undefined : eventStore ?? (() => new MemoryEventStore()),
  });
  const closeServer = served.close;
  const close = async () => {
    tasks.cancelAll();
    await closeServer();
  };
  return Object.assign(served, { close, [Symbol.asyncDispose]: close });
}

if (import.meta.main) {
  await runErasMain(createConformanceServerV2, {
    dnsRebindingProtection: true,
    retryInterval: 100,
    eventStore: Deno.args.includes("--no-event-store") ? undefined : () => new MemoryEventStore(),
  });
}
