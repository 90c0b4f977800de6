/**
 * Our backend for the official MCP conformance suite (`@modelcontextprotocol/conformance@0.1.16`): it
 * implements every fixed name the server scenarios call, with the results the scenario code checks. The
 * suite's own reference server is not published on npm, so this is ours.
 *
 * Built on the SDK's low-level `Server` rather than `McpServer` because `json_schema_2020_12_tool` must list
 * its raw JSON Schema 2020-12 input schema (`$schema`, `$defs`, `additionalProperties`) byte for byte, and a
 * gateway in front must pass it through untouched. Host/Origin are checked (DNS rebinding), and POST
 * streams are resumable (an event store per session), as the 2025-11-25 scenarios expect.
 *
 * Run: `deno run -A tests/servers/conformance.ts --port 0`; `--no-event-store` turns resumability off.
 */
// @ts-types="@modelcontextprotocol/sdk/server/index"
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  CallToolRequestSchema,
  type CallToolResult,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  type GetPromptResult,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  type LoggingLevel,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  type Tool,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { MemoryEventStore } from "./event_store.ts";
import { runServerMain, type ServedMcp, serveMcp, type ServeOptions } from "./serve.ts";

/** A 1×1 red PNG. */
export const TINY_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/** A 1 ms, 8 kHz, 8-bit mono WAV of silence. */
export const TINY_WAV = (() => {
  const samples = 8;
  const bytes = new Uint8Array(44 + samples);
  const view = new DataView(bytes.buffer);
  const ascii = (at: number, text: string) =>
    [...text].forEach((c, i) => view.setUint8(at + i, c.charCodeAt(0)));
  ascii(0, "RIFF");
  view.setUint32(4, 36 + samples, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, 8000, true); // sample rate
  view.setUint32(28, 8000, true); // byte rate
  view.setUint16(32, 1, true); // block align
  view.setUint16(34, 8, true); // bits per sample
  ascii(36, "data");
  view.setUint32(40, samples, true);
  bytes.fill(128, 44); // 8-bit PCM silence is the midpoint
  return btoa(String.fromCharCode(...bytes));
})();

export const JSON_SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema";
export const WATCHED_RESOURCE = "test://watched-resource";

const NO_ARGS = { type: "object", properties: {} } as const;

/** Tools in list order; the scenario names come from the suite's scenario code. */
export const CONFORMANCE_TOOLS: Tool[] = [
  { name: "test_simple_text", description: "Returns simple text content", inputSchema: NO_ARGS },
  { name: "test_image_content", description: "Returns image content", inputSchema: NO_ARGS },
  { name: "test_audio_content", description: "Returns audio content", inputSchema: NO_ARGS },
  { name: "test_embedded_resource", description: "Returns an embedded resource", inputSchema: NO_ARGS },
  {
    name: "test_multiple_content_types",
    description: "Returns text, image and resource",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_tool_with_logging",
    description: "Sends three log messages while running",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_tool_with_progress",
    description: "Reports progress 0, 50, 100 of 100",
    inputSchema: NO_ARGS,
  },
  { name: "test_error_handling", description: "Always fails with isError", inputSchema: NO_ARGS },
  {
    name: "test_sampling",
    description: "Asks the client's LLM (sampling/createMessage)",
    inputSchema: {
      type: "object",
      properties: { prompt: { type: "string", description: "The prompt to send to the LLM" } },
      required: ["prompt"],
    },
  },
  {
    name: "test_elicitation",
    description: "Asks the user for input (elicitation/create)",
    inputSchema: {
      type: "object",
      properties: { message: { type: "string", description: "The message to show the user" } },
      required: ["message"],
    },
  },
  {
    name: "test_elicitation_sep1034_defaults",
    description: "Elicitation with defaults for every primitive type (SEP-1034)",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_elicitation_sep1330_enums",
    description: "Elicitation with the five enum schema variants (SEP-1330)",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_reconnection",
    description: "Closes its SSE stream mid-call; the result arrives after the client reconnects (SEP-1699)",
    inputSchema: NO_ARGS,
  },
  {
    name: "json_schema_2020_12_tool",
    description: "Tool with JSON Schema 2020-12 features",
    inputSchema: {
      $schema: JSON_SCHEMA_2020_12,
      type: "object",
      $defs: {
        address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" } } },
      },
      properties: { name: { type: "string" }, address: { $ref: "#/$defs/address" } },
      additionalProperties: false,
    },
  },
  {
    name: "test_trigger_resource_updated",
    description: `Sends notifications/resources/updated for ${WATCHED_RESOURCE} if this session subscribed`,
    inputSchema: NO_ARGS,
  },
];

const RESOURCES = [
  {
    uri: "test://static-text",
    name: "static-text",
    description: "A static text resource",
    mimeType: "text/plain",
  },
  {
    uri: "test://static-binary",
    name: "static-binary",
    description: "A static binary resource (PNG)",
    mimeType: "image/png",
  },
  {
    uri: WATCHED_RESOURCE,
    name: "watched-resource",
    description: "A resource clients can subscribe to",
    mimeType: "text/plain",
  },
];

const TEMPLATE = /^test:\/\/template\/([^/]+)\/data$/;

const PROMPTS = [
  { name: "test_simple_prompt", description: "A prompt without arguments" },
  {
    name: "test_prompt_with_arguments",
    description: "A prompt with two required arguments",
    arguments: [
      { name: "arg1", description: "First test argument", required: true },
      { name: "arg2", description: "Second test argument", required: true },
    ],
  },
  {
    name: "test_prompt_with_embedded_resource",
    description: "A prompt embedding a resource",
    arguments: [{ name: "resourceUri", description: "URI of the resource to embed", required: true }],
  },
  { name: "test_prompt_with_image", description: "A prompt with image content" },
];

const COMPLETIONS: Record<string, string[]> = {
  arg1: ["paris", "park", "party", "test", "testValue1"],
  arg2: ["red", "green", "blue", "testValue2"],
  id: ["1", "2", "3", "123"],
};

const LEVELS: LoggingLevel[] = [
  "debug",
  "info",
  "notice",
  "warning",
  "error",
  "critical",
  "alert",
  "emergency",
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const text = (t: string): CallToolResult => ({ content: [{ type: "text", text: t }] });

/** A new conformance server for one session. */
export function createConformanceServer(): Server {
  const server = new Server(
    { name: "mcp-gateway-conformance-backend", version: "1.0.0" },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );
  let logLevel: LoggingLevel | undefined;
  const subscriptions = new Set<string>();

  // The SDK registers its own setLevel handler; ours also filters the notifications tools send on
  // their request's stream (the SDK only filters `sendLoggingMessage`).
  server.removeRequestHandler("logging/setLevel");
  server.setRequestHandler(SetLevelRequestSchema, (req) => {
    logLevel = req.params.level;
    return {};
  });

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: CONFORMANCE_TOOLS }));

  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    const args = (req.params.arguments ?? {}) as Record<string, unknown>;
    const log = async (level: LoggingLevel, data: string) => {
      if (logLevel && LEVELS.indexOf(level) < LEVELS.indexOf(logLevel)) return;
      await extra.sendNotification({
        method: "notifications/message",
        params: { level, logger: "conformance", data },
      });
    };
    switch (req.params.name) {
      case "test_simple_text":
        return text("This is a simple text response for testing.");
      case "test_image_content":
        return { content: [{ type: "image", data: TINY_PNG, mimeType: "image/png" }] };
      case "test_audio_content":
        return { content: [{ type: "audio", data: TINY_WAV, mimeType: "audio/wav" }] };
      case "test_embedded_resource":
        return {
          content: [{
            type: "resource",
            resource: {
              uri: "test://embedded-resource",
              mimeType: "text/plain",
              text: "This is an embedded resource content.",
            },
          }],
        };
      case "test_multiple_content_types":
        return {
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
        };
      case "test_tool_with_logging":
        await log("info", "Tool execution started");
        await sleep(50);
        await log("info", "Tool processing data");
        await sleep(50);
        await log("info", "Tool execution completed");
        return text("Tool with logging executed successfully");
      case "test_tool_with_progress": {
        const progressToken = req.params._meta?.progressToken;
        for (const progress of [0, 50, 100]) {
          if (progressToken !== undefined) {
            await extra.sendNotification({
              method: "notifications/progress",
              params: { progressToken, progress, total: 100, message: `${progress}%` },
            });
          }
          if (progress < 100) await sleep(50);
        }
        return text("Tool with progress executed successfully");
      }
      case "test_error_handling":
        return {
          isError: true,
          content: [{ type: "text", text: "This tool intentionally returns an error for testing" }],
        };
      case "test_sampling": {
        if (!server.getClientCapabilities()?.sampling) {
          return { isError: true, content: [{ type: "text", text: "Client does not support sampling" }] };
        }
        const result = await extra.sendRequest({
          method: "sampling/createMessage",
          params: {
            messages: [{ role: "user", content: { type: "text", text: String(args.prompt ?? "") } }],
            maxTokens: 100,
          },
        }, CreateMessageResultSchema);
        const reply = result.content.type === "text" ? result.content.text : JSON.stringify(result.content);
        return text(`LLM response: ${reply}`);
      }
      case "test_elicitation":
        return await elicit(String(args.message ?? ""), {
          type: "object",
          properties: {
            username: { type: "string", description: "User's response" },
            email: { type: "string", description: "User's email address" },
          },
          required: ["username", "email"],
        }, "User response");
      case "test_elicitation_sep1034_defaults":
        return await elicit("Please review and update the form fields with defaults", {
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
        }, "Elicitation completed");
      case "test_elicitation_sep1330_enums":
        return await elicit("Please select options from the enum fields", {
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
            untitledMulti: {
              type: "array",
              items: { type: "string", enum: ["option1", "option2", "option3"] },
            },
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
        }, "Elicitation completed");
      case "test_reconnection":
        // Close the POST stream before the result exists: the client must reconnect with Last-Event-ID
        // and get the result replayed. Without an event store (or for old clients) this just waits.
        await sleep(50);
        extra.closeSSEStream?.();
        await sleep(100);
        return text("Reconnection test completed successfully");
      case "json_schema_2020_12_tool":
        return text(`Received: ${JSON.stringify(args)}`);
      case "test_trigger_resource_updated":
        if (!subscriptions.has(WATCHED_RESOURCE)) return text(`Not subscribed to ${WATCHED_RESOURCE}`);
        await server.sendResourceUpdated({ uri: WATCHED_RESOURCE });
        return text(`Sent resources/updated for ${WATCHED_RESOURCE}`);
      default:
        throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
    }

    async function elicit(message: string, requestedSchema: unknown, label: string): Promise<CallToolResult> {
      if (!server.getClientCapabilities()?.elicitation) {
        return { isError: true, content: [{ type: "text", text: "Client does not support elicitation" }] };
      }
      const result = await extra.sendRequest(
        { method: "elicitation/create", params: { message, requestedSchema } as any },
        ElicitResultSchema,
      );
      return text(`${label}: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
    }
  });

  server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: RESOURCES }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [{
      uriTemplate: "test://template/{id}/data",
      name: "template-data",
      description: "Data for an id, substituted into the URI",
      mimeType: "application/json",
    }],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (req) => {
    const uri = req.params.uri;
    switch (uri) {
      case "test://static-text":
        return {
          contents: [{
            uri,
            mimeType: "text/plain",
            text: "This is the content of the static text resource.",
          }],
        };
      case "test://static-binary":
        return { contents: [{ uri, mimeType: "image/png", blob: TINY_PNG }] };
      case WATCHED_RESOURCE:
        return { contents: [{ uri, mimeType: "text/plain", text: "Watched resource content" }] };
    }
    const id = TEMPLATE.exec(uri)?.[1];
    if (id !== undefined) {
      const data = { id, templateTest: true, data: `Data for ID: ${id}` };
      return { contents: [{ uri, mimeType: "application/json", text: JSON.stringify(data) }] };
    }
    throw new McpError(-32002, `Resource not found: ${uri}`, { uri });
  });
  server.setRequestHandler(SubscribeRequestSchema, (req) => {
    subscriptions.add(req.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });

  server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, (req): GetPromptResult => {
    const args = req.params.arguments ?? {};
    switch (req.params.name) {
      case "test_simple_prompt":
        return {
          messages: [{
            role: "user",
            content: { type: "text", text: "This is a simple prompt for testing." },
          }],
        };
      case "test_prompt_with_arguments":
        if (args.arg1 === undefined || args.arg2 === undefined) {
          throw new McpError(ErrorCode.InvalidParams, "arg1 and arg2 are required");
        }
        return {
          messages: [{
            role: "user",
            content: {
              type: "text",
              text: `Prompt with arguments: arg1='${args.arg1}', arg2='${args.arg2}'`,
            },
          }],
        };
      case "test_prompt_with_embedded_resource":
        if (!args.resourceUri) throw new McpError(ErrorCode.InvalidParams, "resourceUri is required");
        return {
          messages: [
            {
              role: "user",
              content: {
                type: "resource",
                resource: {
                  uri: args.resourceUri,
                  mimeType: "text/plain",
                  text: "Embedded resource content for testing.",
                },
              },
            },
            { role: "user", content: { type: "text", text: "Please process the embedded resource above." } },
          ],
        };
      case "test_prompt_with_image":
        return {
          messages: [
            { role: "user", content: { type: "image", data: TINY_PNG, mimeType: "image/png" } },
            { role: "user", content: { type: "text", text: "Please analyze the image above." } },
          ],
        };
      default:
        throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${req.params.name}`);
    }
  });

  server.setRequestHandler(CompleteRequestSchema, (req) => {
    const { ref, argument } = req.params;
    const known = (ref.type === "ref/prompt" && ref.name === "test_prompt_with_arguments") ||
      (ref.type === "ref/resource" && ref.uri === "test://template/{id}/data");
    const values = known
      ? (COMPLETIONS[argument.name] ?? []).filter((v) =>
        v.toLowerCase().startsWith(argument.value.toLowerCase())
      )
      : [];
    return { completion: { values, total: values.length, hasMore: false } };
  });

  return server;
}

/** Serves the conformance backend in-process with DNS-rebinding checks and (by default) resumable streams. */
export function startConformance(
  opts: ServeOptions & { eventStore?: ServeOptions["eventStore"] | false } = {},
) {
  const { eventStore, ...rest } = opts;
  return serveMcp(createConformanceServer, {
    dnsRebindingProtection: true,
    retryInterval: 100,
    ...rest,
    eventStore: eventStore === false ? undefined : eventStore ?? (() => new MemoryEventStore()),
  }) satisfies Promise<ServedMcp>;
}

if (import.meta.main) {
  await runServerMain(createConformanceServer, {
    dnsRebindingProtection: true,
    retryInterval: 100,
    eventStore: Deno.args.includes("--no-event-store") ? undefined : () => new MemoryEventStore(),
  });
}
