/**
 * One MCP client per enabled backend: connects, validates the protocol version and capabilities, lists
 * tools and prompts, follows `list_changed`, pings, and reconnects with backoff. It is an edge: every
 * outcome becomes an event, and nothing else in the gateway waits on it — a slow or broken backend only
 * ever delays its own events.
 */
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import type { EventLog } from "../events/log.ts";
import type {
  ServerConfig,
  UpstreamPrompt,
  UpstreamResource,
  UpstreamResourceTemplate,
  UpstreamTool,
} from "../events/types.ts";
import { REQUEST_CAPABILITIES, type RequestCapability } from "../mcp/client_capabilities.ts";
import { GATEWAY_INFO, isSupportedProtocolVersion } from "../mcp/protocol.ts";
import type { Logger } from "../observe/log.ts";
import { redactUrlsIn } from "../observe/redact.ts";
import { backoffDelay, type BackoffPolicy, DEFAULT_BACKOFF } from "./backoff.ts";
import { listAll } from "./discovery.ts";

export interface ManagerOptions {
  log: EventLog;
  logger: Logger;
  /** Health check (ping + re-list) period. */
  checkIntervalMs: number;
  /** Per-request timeout towards the backend. */
  requestTimeoutMs?: number;
  backoff?: BackoffPolicy;
}

/** What the gateway's own discovery session declares; see {@link UpstreamManager} `#connect`. */
export const DISCOVERY_CAPABILITIES: Record<RequestCapability, Record<string, unknown>> = {
  roots: { listChanged: false },
  sampling: {},
  elicitation: { form: {}, url: {} },
};

type Stage = "connect" | "initialize" | "validate" | "list" | "ping" | "transport";

/**
 * `fetch failed` says nothing; its cause ("Connection refused", a DNS error…) is what an operator needs.
 * Errors name the URL they failed on; its secrets are redacted here, before the reason becomes an event.
 */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return redactUrlsIn(String(e));
  const cause = (e as { cause?: unknown }).cause;
  return redactUrlsIn(
    cause instanceof Error && !e.message.includes(cause.message)
      ? `${e.message}: ${cause.message}`
      : e.message,
  );
}

class StageError extends Error {
  constructor(readonly stage: Stage, message: string) {
    super(message);
  }
}

export class UpstreamManager {
  #stopped = false;
  #client?: Client;
  #wake?: () => void;
  #relist = false;
  #lastTools = "";
  #lastPrompts = "";
  #lastResources = "";
  #done?: Promise<void>;
  readonly #timeout: number;
  readonly #logger: Logger;

  constructor(readonly server: ServerConfig, readonly key: string, private readonly options: ManagerOptions) {
    this.#timeout = options.requestTimeoutMs ?? 10_000;
    this.#logger = options.logger.with({ server: server.name });
  }

  start(): void {
    this.#done ??= this.#run();
  }

  /** Stops the loop and closes the client; resolves when nothing of this manager is left running. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#close();
    await this.#done;
  }

  async #run() {
    const { log } = this.options;
    let attempt = 0;
    while (!this.#stopped) {
      log.append({ type: "UpstreamConnecting", server: this.server.name, upstreamKey: this.key, attempt });
      try {
        await this.#connect();
        attempt = 0;
        await this.#discover();
        while (!this.#stopped) {
          await this.#sleep(this.options.checkIntervalMs);
          if (this.#stopped) break;
          await this.#ping();
          await this.#discover();
        }
      } catch (e) {
        if (this.#stopped) break;
        const stage = e instanceof StageError ? e.stage : "transport";
        const reason = describeError(e);
        const retryInMs = backoffDelay(attempt++, {
          ...(this.options.backoff ?? DEFAULT_BACKOFF),
          maxMs: Math.min((this.options.backoff ?? DEFAULT_BACKOFF).maxMs, this.options.checkIntervalMs),
        });
        this.#logger.warn("upstream failed", { stage, reason, retryInMs });
        log.append({
          type: "UpstreamFailed",
          server: this.server.name,
          upstreamKey: this.key,
          stage,
          reason,
          retryInMs,
        });
        this.#lastTools = this.#lastPrompts = this.#lastResources = "";
        await this.#close();
        await this.#sleep(retryInMs);
      }
    }
    await this.#close();
  }

  /** Waits for `ms`, or less if woken by a notification or a transport error. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  async #connect() {
    const headers: Record<string, string> = { "user-agent": `${GATEWAY_INFO.name}/${GATEWAY_INFO.version}` };
    if (this.server.credential) headers.authorization = this.server.credential;
    const transport = new StreamableHTTPClientTransport(new URL(this.server.url), {
      requestInit: { headers },
      reconnectionOptions: {
        initialReconnectionDelay: 500,
        maxReconnectionDelay: 5_000,
        reconnectionDelayGrowFactor: 2,
        maxRetries: 1,
      },
    });
    // Declaring what clients may declare makes servers list every tool they have (server-everything hides
    // its sampling tools otherwise). This session never calls tools, so it is never asked to sample; each
    // client's calls run on a backend session opened with that client's own capabilities.
    const client = new Client({ name: GATEWAY_INFO.name, version: GATEWAY_INFO.version }, {
      capabilities: DISCOVERY_CAPABILITIES,
    });
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [] }));
    const refuse = (): never => {
      throw new Error("the gateway's discovery session cannot answer this; call through a client session");
    };
    client.setRequestHandler(CreateMessageRequestSchema, refuse);
    client.setRequestHandler(ElicitRequestSchema, refuse);
    // A lost stream or a failed request wakes the loop early: the next ping decides whether to reconnect.
    client.onerror = () => this.#wake?.();
    client.onclose = () => this.#wake?.();
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => this.#wakeToRelist());
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => this.#wakeToRelist());
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => this.#wakeToRelist());
    this.#client = client;
    try {
      await client.connect(transport, { timeout: this.#timeout });
    } catch (e) {
      const message = describeError(e);
      const stage: Stage = /protocol version/i.test(message)
        ? "validate"
        : /fetch|connect|ECONNREFUSED|network|error sending/i.test(message)
        ? "connect"
        : "initialize";
      throw new StageError(stage, message);
    }
    const version = transport.protocolVersion ?? "";
    if (!isSupportedProtocolVersion(version)) {
      throw new StageError("validate", `unsupported protocol version ${JSON.stringify(version)}`);
    }
    const capabilities = client.getServerCapabilities() ?? {};
    const info = client.getServerVersion();
    this.options.log.append({
      type: "UpstreamConnected",
      server: this.server.name,
      upstreamKey: this.key,
      protocolVersion: version,
      serverInfo: { name: info?.name ?? "unknown", version: info?.version ?? "unknown" },
      capabilities: capabilities as Record<string, unknown>,
    });
    this.#logger.info("upstream connected", { protocolVersion: version, serverName: info?.name });
  }

  #wakeToRelist() {
    this.#relist = true;
    this.#wake?.();
  }

  async #ping() {
    try {
      await this.#client!.ping({ timeout: this.#timeout });
    } catch (e) {
      throw new StageError("ping", describeError(e));
    }
  }

  async #discover() {
    this.#relist = false;
    const client = this.#client!;
    const capabilities = client.getServerCapabilities() ?? {};
    const { log } = this.options;
    try {
      // A server without the tools capability is valid (prompts-only); it simply serves no tools.
      const tools = capabilities.tools
        ? await listAll<UpstreamTool>(client, "tools", this.#timeout)
        : { items: [], invalid: [] };
      for (const bad of tools.invalid) this.#logger.warn("invalid tool not served", bad);
      const toolsJson = JSON.stringify(tools.items);
      if (toolsJson !== this.#lastTools) {
        this.#lastTools = toolsJson;
        log.append({
          type: "ToolsDiscovered",
          server: this.server.name,
          upstreamKey: this.key,
          tools: tools.items,
          requires: await this.#capabilityRequirements(tools.items.map((t) => t.name)).catch((e) => {
            // Without the probe every tool is listed to every client: the reference's behaviour, not an outage.
            this.#logger.warn("cannot tell which tools need client capabilities", {
              error: describeError(e),
            });
            return {};
          }),
        });
      }
      if (capabilities.prompts) {
        const prompts = await listAll<UpstreamPrompt>(client, "prompts", this.#timeout);
        const promptsJson = JSON.stringify(prompts.items);
        if (promptsJson !== this.#lastPrompts) {
          this.#lastPrompts = promptsJson;
          log.append({
            type: "PromptsDiscovered",
            server: this.server.name,
            upstreamKey: this.key,
            prompts: prompts.items,
          });
        }
      }
      if (capabilities.resources) {
        const resources = await listAll<UpstreamResource>(client, "resources", this.#timeout);
        // Templates are optional even for servers with resources: a server without them may answer -32601.
        const templates = await listAll<UpstreamResourceTemplate>(client, "templates", this.#timeout)
          .catch(() => ({ items: [], invalid: [] }));
        const json = JSON.stringify([resources.items, templates.items]);
        if (json !== this.#lastResources) {
          this.#lastResources = json;
          log.append({
            type: "ResourcesDiscovered",
            server: this.server.name,
            upstreamKey: this.key,
            resources: resources.items,
            templates: templates.items,
          });
        }
      }
    } catch (e) {
      throw new StageError("list", describeError(e));
    }
    if (this.#relist && !this.#stopped) await this.#discover();
  }

  /**
   * Which client capabilities each tool needs to be listed. Servers may hide tools that need sampling,
   * elicitation or roots from clients that cannot serve them; the gateway must too. Found by listing with
   * no capabilities and with each one alone, in short-lived sessions, only when the full list changed.
   */
  async #capabilityRequirements(names: string[]): Promise<Record<string, string[]>> {
    const base = await this.#listAs({});
    const conditional = names.filter((name) => !base.has(name));
    if (!conditional.length) return {};
    const alone = await Promise.all(
      REQUEST_CAPABILITIES.map((c) => this.#listAs({ [c]: DISCOVERY_CAPABILITIES[c] })),
    );
    return Object.fromEntries(conditional.map((name) => {
      const needs = REQUEST_CAPABILITIES.filter((_, i) => alone[i].has(name));
      // Listed with no single capability: it needs more than one; ask for all of them.
      return [name, needs.length ? needs : [...REQUEST_CAPABILITIES]];
    }));
  }

  async #listAs(capabilities: Record<string, unknown>): Promise<Set<string>> {
    const headers: Record<string, string> = { "user-agent": `${GATEWAY_INFO.name}/${GATEWAY_INFO.version}` };
    if (this.server.credential) headers.authorization = this.server.credential;
    const transport = new StreamableHTTPClientTransport(new URL(this.server.url), {
      requestInit: { headers },
    });
    const client = new Client({ name: GATEWAY_INFO.name, version: GATEWAY_INFO.version }, { capabilities });
    if (capabilities.roots) client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [] }));
    try {
      await client.connect(transport, { timeout: this.#timeout });
      const listing = await listAll<UpstreamTool>(client, "tools", this.#timeout);
      return new Set(listing.items.map((t) => t.name));
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    }
  }

  async #close() {
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    client.onerror = client.onclose = undefined;
    await client.close().catch(() => {});
  }
}
