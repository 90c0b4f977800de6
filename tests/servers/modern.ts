/**
 * A backend built on the MCP SDK v2 for the gateway's cross-era tests, with a tool for each thing a
 * gateway must carry between eras: plain calls, progress and log notifications, elicitation and sampling
 * during a call (2026: `input_required` with a sealed `requestState`; 2025: server-to-client requests on
 * the session), several inputs over two rounds, a list change, a prompt, a subscribable resource, `x-mcp-header` arguments, and tools
 * that report what reached the backend (headers, `_meta`, every HTTP request).
 *
 * Run: `deno run -A tests/servers/modern.ts --port 0 [--modern-only | --legacy-only] [--ttl-ms=N]
 * [--cache-scope=public|private] [--dns-rebinding]`; it prints `listening on http://127.0.0.1:PORT/mcp`.
 * Modes: `--modern-only` is 2026-07-28 only (`legacy: 'reject'`), the default serves both eras on one
 * endpoint, `--legacy-only` is a 2025-11-25 server (sessions, no `server/discover`).
 */
import {
  type CacheHint,
  CLIENT_CAPABILITIES_META_KEY,
  createRequestStateCodec,
  fromJsonSchema,
  inputRequired,
  inputResponse,
  McpServer,
  PROTOCOL_VERSION_META_KEY,
  ResourceTemplate,
  type ServerContext,
} from "@modelcontextprotocol/server";
import * as z from "zod";
import { parseServerArgs } from "./serve.ts";
import {
  type EraServerContext,
  runErasMain,
  serveEras,
  type ServeErasOptions,
  SharedToggle,
} from "./serve_v2.ts";

export const MODERN_SERVER_NAME = "mcp-gateway-modern-backend";
export const COUNTER_URI = "modern://counter";
export const INFO_URI = "modern://info";

/** Tools listed by every instance, in list order (`extra` joins while toggled on). */
export const MODERN_TOOLS = [
  "echo",
  "progress",
  "confirm",
  "sample",
  "survey",
  "toggle_extra",
  "bump_counter",
  "inspect",
  "requests",
  "region_echo",
] as const;
export const EXTRA_TOOL = "extra";
export const MODERN_PROMPTS = ["greeting"] as const;

/** Cache hints for list results; `--ttl-ms=N` / `--cache-scope=…` override them per process. */
export interface ModernOptions {
  listCacheHint?: CacheHint;
}

/** One HTTP request as it reached the backend (what gateway tests assert on). */
export interface ObservedRequest {
  httpMethod: string;
  /** Every request header, lower-cased names. */
  headers: Record<string, string>;
  /** JSON-RPC method, id and `params._meta` of the body, when it had one. */
  method?: string;
  id?: string | number | null;
  meta?: Record<string, unknown>;
}

const MAX_OBSERVED = 500;

/** Process-wide state shared by every instance (2026 requests and 2025 sessions alike). */
export class ModernState {
  readonly extra = new SharedToggle();
  counter = 0;
  readonly observed: ObservedRequest[] = [];
  /** Seals every tool's `requestState` (`confirm`: the question; `survey`: the first round's answers). */
  readonly requestState = createRequestStateCodec<Record<string, string>>({
    key: crypto.getRandomValues(new Uint8Array(32)),
  });

  /** Records a request (a clone, so reading its body does not disturb the one being served). */
  async observe(req: Request): Promise<void> {
    const entry: ObservedRequest = {
      httpMethod: req.method,
      headers: Object.fromEntries([...req.headers].map(([k, v]) => [k.toLowerCase(), v])),
    };
    if (req.method === "POST") {
      try {
        const body = await req.json();
        if (body && typeof body === "object" && !Array.isArray(body)) {
          entry.method = body.method;
          entry.id = body.id;
          entry.meta = body.params?._meta;
        }
      } catch { /* not JSON: recorded without a body */ }
    }
    this.observed.push(entry);
    if (this.observed.length > MAX_OBSERVED) this.observed.shift();
  }
}

const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function requestHeaders(ctx: ServerContext): Record<string, string> {
  const headers = ctx.http?.req?.headers;
  return headers ? Object.fromEntries([...headers].map(([k, v]) => [k.toLowerCase(), v])) : {};
}

const REGION_INPUT = {
  type: "object",
  properties: {
    region: { type: "string", "x-mcp-header": "Region" },
    message: { type: "string" },
  },
  required: ["region"],
} as Parameters<typeof fromJsonSchema>[0]; // the JSON Schema type has no `x-mcp-header` extension key

/** Builds the per-instance factory over shared process state. */
export function createModernFactory(state = new ModernState(), opts: ModernOptions = {}) {
  return ({ era, host }: EraServerContext): McpServer => {
    const hint = opts.listCacheHint;
    const server = new McpServer(
      { name: MODERN_SERVER_NAME, version: "1.0.0" },
      {
        capabilities: {
          tools: { listChanged: true },
          prompts: { listChanged: true },
          resources: { subscribe: true, listChanged: true },
          logging: {},
        },
        instructions: "Test backend for MCP Gateway: echo, progress, elicitation, sampling, list changes.",
        requestState: { verify: state.requestState.verify },
        ...(hint
          ? {
            cacheHints: {
              "tools/list": hint,
              "prompts/list": hint,
              "resources/list": hint,
              "resources/templates/list": hint,
            },
          }
          : {}),
      },
    );

    server.registerTool("echo", {
      description: "Returns its message",
      inputSchema: z.object({ message: z.string() }),
    }, ({ message }) => text(`Echo: ${message}`));

    server.registerTool("progress", {
      description: "Sends `steps` progress notifications and log messages, then returns",
      inputSchema: z.object({ steps: z.number().int().min(1).max(20).default(3) }),
    }, async ({ steps }, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (let i = 1; i <= steps; i++) {
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({
            method: "notifications/progress",
            params: { progressToken, progress: i, total: steps, message: `step ${i}/${steps}` },
          });
        }
        // 2025: filtered by logging/setLevel; 2026: sent only when `_meta` carries a logLevel.
        await ctx.mcpReq.log("info", `step ${i}/${steps}`, "progress");
        await sleep(20);
      }
      return text(`progress done: ${steps} steps`);
    });

    server.registerTool("confirm", {
      description: "Asks the user a question (elicitation) before answering",
      inputSchema: z.object({ question: z.string().default("Proceed?") }),
    }, async ({ question }, ctx) => {
      const sealed = ctx.mcpReq.requestState<{ question: string }>();
      const answer = inputResponse(ctx.mcpReq.inputResponses, "answer");
      if (answer.kind === "elicit" && (era === "legacy" || sealed?.question === question)) {
        return text(`confirmed: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
      }
      return inputRequired({
        inputRequests: {
          answer: inputRequired.elicit({
            message: question,
            requestedSchema: {
              type: "object",
              properties: { confirmed: { type: "boolean" }, name: { type: "string" } },
              required: ["confirmed"],
            },
          }),
        },
        requestState: await state.requestState.mint({ question }),
      });
    });

    server.registerTool("sample", {
      description: "Asks the client's LLM (sampling) and returns its answer",
      inputSchema: z.object({ prompt: z.string() }),
    }, ({ prompt }, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "llm");
      if (answer.kind === "sampling") {
        const content = answer.result.content;
        const block = Array.isArray(content) ? content[0] : content;
        return text(`sampled answer: ${block?.type === "text" ? block.text : JSON.stringify(content)}`);
      }
      return inputRequired({
        inputRequests: {
          llm: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: prompt } }],
            maxTokens: 50,
          }),
        },
      });
    });

    server.registerTool("survey", {
      description: "Asks a name and samples a greeting at once, then a colour; progress and a log message " +
        "between the rounds",
      inputSchema: z.object({}),
    }, async (_args, ctx) => {
      const responses = ctx.mcpReq.inputResponses;
      const sealed = ctx.mcpReq.requestState<{ name?: string; greeting?: string }>();
      const color = inputResponse(responses, "color");
      if (sealed?.name !== undefined && color.kind === "elicit") {
        const picked = color.action === "accept" ? String(color.content?.color) : color.action;
        return text(`survey: name=${sealed.name}, greeting=${sealed.greeting}, color=${picked}`);
      }
      const name = inputResponse(responses, "name");
      const greeting = inputResponse(responses, "greeting");
      if (name.kind === "elicit" && greeting.kind === "sampling") {
        const progressToken = ctx.mcpReq._meta?.progressToken;
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({
            method: "notifications/progress",
            params: { progressToken, progress: 1, total: 2, message: "round 1 answered" },
          });
        }
        await ctx.mcpReq.log("info", "survey: round 1 answered", "survey");
        const block = Array.isArray(greeting.result.content)
          ? greeting.result.content[0]
          : greeting.result.content;
        return inputRequired({
          inputRequests: {
            color: inputRequired.elicit({
              message: "Favourite colour?",
              requestedSchema: {
                type: "object",
                properties: { color: { type: "string" } },
                required: ["color"],
              },
            }),
          },
          requestState: await state.requestState.mint({
            name: name.action === "accept" ? String(name.content?.name) : name.action,
            greeting: block?.type === "text" ? block.text : "",
          }),
        });
      }
      return inputRequired({
        inputRequests: {
          name: inputRequired.elicit({
            message: "Your name?",
            requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
          }),
          greeting: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: "Say hello" } }],
            maxTokens: 20,
          }),
        },
      });
    });

    server.registerTool("toggle_extra", {
      description: `Adds or removes the '${EXTRA_TOOL}' tool and announces tools/list_changed`,
      inputSchema: z.object({}),
    }, () => {
      const on = state.extra.flip();
      host.toolsChanged();
      return text(`${EXTRA_TOOL} ${on ? "added" : "removed"}`);
    });
    if (era === "legacy" || state.extra.on) {
      const extra = server.registerTool(EXTRA_TOOL, {
        description: "Present while toggled on",
        inputSchema: z.object({}),
      }, () => text("extra tool called"));
      if (era === "legacy") state.extra.track(extra);
    }

    server.registerTool("bump_counter", {
      description: `Increments ${COUNTER_URI} and announces notifications/resources/updated`,
      inputSchema: z.object({}),
    }, () => {
      state.counter++;
      host.resourceUpdated(COUNTER_URI);
      return text(`counter=${state.counter}`);
    });

    server.registerTool("inspect", {
      description: "Returns what reached the backend for this call: era, headers, _meta, session",
      inputSchema: z.object({ note: z.string().optional() }).passthrough(),
    }, (args, ctx) => {
      const envelope = (ctx.mcpReq.envelope ?? {}) as Record<string, unknown>;
      const headers = requestHeaders(ctx);
      const report = {
        era,
        protocolVersion: envelope[PROTOCOL_VERSION_META_KEY] ?? headers["mcp-protocol-version"] ?? null,
        clientCapabilities: envelope[CLIENT_CAPABILITIES_META_KEY] ?? server.server.getClientCapabilities() ??
          {},
        clientInfo: server.server.getClientVersion() ?? null,
        headers,
        meta: ctx.mcpReq._meta ?? {},
        envelope,
        sessionId: ctx.sessionId ?? null,
        arguments: args,
      };
      return { ...text(JSON.stringify(report)), structuredContent: report };
    });

    server.registerTool("requests", {
      description: "Returns the HTTP requests this backend received (optionally only those with `method`)",
      inputSchema: z.object({ method: z.string().optional(), clear: z.boolean().default(false) }),
    }, ({ method, clear }) => {
      const seen = state.observed.filter((r) => method === undefined || r.method === method);
      if (clear) state.observed.length = 0;
      return { ...text(JSON.stringify(seen)), structuredContent: { requests: seen } };
    });

    server.registerTool("region_echo", {
      description: "Echoes its region, which 2026 clients mirror into the Mcp-Param-Region header",
      inputSchema: fromJsonSchema<{ region: string; message?: string }>(REGION_INPUT),
    }, ({ region, message }) => text(`region=${region} message=${message ?? ""}`));

    server.registerPrompt("greeting", {
      description: "Greets someone",
      argsSchema: z.object({ name: z.string() }),
    }, ({ name }) => ({
      messages: [{ role: "user", content: { type: "text", text: `Say hello to ${name}` } }],
    }));

    server.registerResource(
      "counter",
      COUNTER_URI,
      { description: "A counter bump_counter increments (subscribe to it)", mimeType: "text/plain" },
      (uri) => ({ contents: [{ uri: uri.href, mimeType: "text/plain", text: String(state.counter) }] }),
    );
    server.registerResource(
      "info",
      INFO_URI,
      { description: "Static text", mimeType: "text/plain" },
      (uri) => ({
        contents: [{ uri: uri.href, mimeType: "text/plain", text: `served by ${MODERN_SERVER_NAME}` }],
      }),
    );
    server.registerResource(
      "item",
      new ResourceTemplate("modern://items/{id}", { list: undefined }),
      { description: "An item by id", mimeType: "application/json" },
      (uri, { id }) => ({
        contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify({ id }) }],
      }),
    );

    return server;
  };
}

/** Serves the modern backend in-process; `state` is returned so a test can inspect it directly. */
export async function startModern(opts: ServeErasOptions & ModernOptions = {}) {
  const { listCacheHint, ...serve } = opts;
  const state = new ModernState();
  const served = await serveEras(createModernFactory(state, { listCacheHint }), {
    ...serve,
    observe: (req) => void state.observe(req),
  });
  return Object.assign(served, { state });
}

/** `--ttl-ms=N` and `--cache-scope=public|private` from the command line. */
export function cacheHintFromFlags(flags: ReadonlySet<string>): CacheHint | undefined {
  let hint: CacheHint | undefined;
  for (const flag of flags) {
    const [name, value] = flag.split("=", 2);
    if (name === "ttl-ms") hint = { ...hint, ttlMs: Number(value) };
    if (name === "cache-scope") {
      if (value !== "public" && value !== "private") {
        throw new Error(`--cache-scope must be public or private`);
      }
      hint = { ...hint, cacheScope: value };
    }
  }
  return hint;
}

if (import.meta.main) {
  const { flags } = parseServerArgs(Deno.args);
  const state = new ModernState();
  await runErasMain(createModernFactory(state, { listCacheHint: cacheHintFromFlags(flags) }), {
    dnsRebindingProtection: flags.has("dns-rebinding"),
    observe: (req) => void state.observe(req),
  });
}
