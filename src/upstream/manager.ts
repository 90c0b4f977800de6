/**
 * One MCP client per enabled backend: connects in whichever era the backend speaks (SDK v2, `auto`: probe
 * `server/discover`, fall back to `initialize`), validates the protocol version and capabilities, lists
 * tools, prompts and resources, follows `list_changed` (2025: on the session; 2026: on a
 * `subscriptions/listen` stream), checks health, and reconnects with backoff. It also carries the gateway's
 * resource watches to the backend (2025: `resources/subscribe` on its session; 2026: the listen stream's
 * `resourceSubscriptions`).
 *
 * It is an edge: every outcome becomes an event (the era among them), and nothing else in the gateway waits
 * on it — a slow or broken backend only ever delays its own events.
 */
import {
  Client,
  type ClientCapabilities as SdkClientCapabilities,
  type McpSubscription,
  type PriorDiscovery,
  StreamableHTTPClientTransport,
  type SubscriptionFilter,
} from "@modelcontextprotocol/client";
import type { EventLog } from "../events/log.ts";
import type {
  ServerConfig,
  UpstreamPrompt,
  UpstreamResource,
  UpstreamResourceTemplate,
  UpstreamTool,
} from "../events/types.ts";
import { gatewayRequestHeaders } from "../mcp/backend_headers.ts";
import { closeBackendSession, initializeBackendSession } from "../mcp/backend_session.ts";
import { REQUEST_CAPABILITIES, type RequestCapability } from "../mcp/client_capabilities.ts";
import {
  type Era,
  GATEWAY_INFO,
  isSupportedProtocolVersion,
  LATEST_PROTOCOL_VERSION,
  MODERN_PROTOCOL_VERSIONS,
} from "../mcp/protocol.ts";
import type { Logger } from "../observe/log.ts";
import { redactUrlsIn } from "../observe/redact.ts";
import { backoffDelay, type BackoffPolicy, DEFAULT_BACKOFF } from "./backoff.ts";
import { listAll } from "./discovery.ts";

export interface ManagerOptions {
  log: EventLog;
  logger: Logger;
  /** Health check (ping or discover, and re-list) period. */
  checkIntervalMs: number;
  /** Per-request timeout towards the backend. */
  requestTimeoutMs?: number;
  backoff?: BackoffPolicy;
}

/** What the gateway's own discovery session declares; see {@link UpstreamManager} `#connect`. */
export const DISCOVERY_CAPABILITIES: Record<RequestCapability, Record<string, boolean | object>> = {
  roots: { listChanged: false },
  sampling: {},
  elicitation: { form: {}, url: {} },
};

type Stage = "connect" | "initialize" | "validate" | "list" | "ping" | "transport";

/** Called with the backend's URI of a resource that changed. */
export type ResourceUpdated = (uri: string) => void;

/**
 * `fetch failed` says nothing; its cause ("Connection refused", a DNS error…) is what an operator needs.
 * Errors name the URL they failed on; its secrets are redacted here, before the reason becomes an event.
 */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return redactUrlsIn(String(e));
  // The SDK wraps fetch's error, which wraps the socket's: follow the chain to what actually happened.
  let message = e.message;
  let cause = (e as { cause?: unknown }).cause;
  for (let depth = 0; cause instanceof Error && depth < 5; depth++) {
    if (!message.includes(cause.message)) message = `${message}: ${cause.message}`;
    cause = (cause as { cause?: unknown }).cause;
  }
  return redactUrlsIn(message);
}

class StageError extends Error {
  constructor(readonly stage: Stage, message: string) {
    super(message);
  }
}

export class UpstreamManager {
  #stopped = false;
  #client?: Client;
  #era?: Era;
  #wake?: () => void;
  #relist = false;
  #lastTools = "";
  #lastPrompts = "";
  #lastResources = "";
  #done?: Promise<void>;
  /** 2026: the listen stream that carries list changes and watched resources' updates. */
  #subscription?: McpSubscription;
  /** Resource watches: backend URI → who wants its updates. */
  #watches = new Map<string, Set<ResourceUpdated>>();
  /** 2025: URIs subscribed on the current session. */
  #subscribed = new Set<string>();
  #syncing?: Promise<void>;
  #resync = false;
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

  /**
   * Asks the backend for updates of resource `uri` (its own URI) until the returned function is called. Held
   * across reconnects; effective while the backend is connected.
   */
  watchResource(uri: string, onUpdate: ResourceUpdated): () => void {
    let watchers = this.#watches.get(uri);
    if (!watchers) this.#watches.set(uri, watchers = new Set());
    const fresh = watchers.size === 0;
    watchers.add(onUpdate);
    if (fresh) this.#syncWatches();
    return () => {
      const current = this.#watches.get(uri);
      if (!current?.delete(onUpdate) || current.size) return;
      this.#watches.delete(uri);
      this.#syncWatches();
    };
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
        this.#syncWatches();
        while (!this.#stopped) {
          await this.#sleep(this.options.checkIntervalMs);
          if (this.#stopped) break;
          await this.#ping();
          await this.#discover();
          if (this.#era === "2026" && !this.#subscription) this.#syncWatches();
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

  #transport(): StreamableHTTPClientTransport {
    return new StreamableHTTPClientTransport(new URL(this.server.url), {
      requestInit: { headers: gatewayRequestHeaders(this.server) },
    });
  }

  async #connect() {
    const transport = this.#transport();
    // Declaring what clients may declare makes servers list every tool they have (server-everything hides
    // its sampling tools otherwise). This session never calls tools, so it is never asked to sample; each
    // client's calls run with that client's own capabilities (its backend session, or its envelope).
    const client = new Client({ name: GATEWAY_INFO.name, version: GATEWAY_INFO.version }, {
      capabilities: DISCOVERY_CAPABILITIES as SdkClientCapabilities,
      versionNegotiation: { mode: "auto" },
    });
    client.setRequestHandler("roots/list", () => ({ roots: [] }));
    const refuse = (): never => {
      throw new Error("the gateway's discovery session cannot answer this; call through a client session");
    };
    client.setRequestHandler("sampling/createMessage", refuse);
    client.setRequestHandler("elicitation/create", refuse);
    // A lost stream or a failed request wakes the loop early: the next check decides whether to reconnect.
    client.onerror = () => this.#wake?.();
    client.onclose = () => this.#wake?.();
    client.setNotificationHandler("notifications/tools/list_changed", () => this.#wakeToRelist());
    client.setNotificationHandler("notifications/prompts/list_changed", () => this.#wakeToRelist());
    client.setNotificationHandler("notifications/resources/list_changed", () => this.#wakeToRelist());
    client.setNotificationHandler("notifications/resources/updated", (n) => {
      const uri = n.params?.uri;
      if (typeof uri === "string") { for (const watcher of this.#watches.get(uri) ?? []) watcher(uri); }
    });
    this.#client = client;
    this.#subscribed.clear();
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
    const era: Era = client.getProtocolEra() === "modern" ? "2026" : "2025";
    const version = client.getNegotiatedProtocolVersion() ?? "";
    const supported = era === "2026"
      ? (MODERN_PROTOCOL_VERSIONS as readonly string[]).includes(version)
      : isSupportedProtocolVersion(version);
    if (!supported) {
      throw new StageError("validate", `unsupported protocol version ${JSON.stringify(version)}`);
    }
    this.#era = era;
    const capabilities = client.getServerCapabilities() ?? {};
    const info = client.getServerVersion();
    const instructions = client.getInstructions();
    const legacyProtocolVersion = era === "2026" ? await this.#legacyVersion() : undefined;
    this.options.log.append({
      type: "UpstreamConnected",
      server: this.server.name,
      upstreamKey: this.key,
      era,
      protocolVersion: version,
      ...(legacyProtocolVersion ? { legacyProtocolVersion } : {}),
      serverInfo: { name: info?.name ?? "unknown", version: info?.version ?? "unknown" },
      capabilities: capabilities as Record<string, unknown>,
      ...(instructions ? { instructions } : {}),
    });
    this.#logger.info("upstream connected", {
      era,
      protocolVersion: version,
      legacyProtocolVersion,
      serverName: info?.name,
    });
  }

  /**
   * Whether a 2026 server also opens 2025 sessions (a dual-era server): one `initialize`, closed again at
   * once. 2025 clients then reach it on 2025 backend sessions, with their own server-to-client requests,
   * rather than through the gateway speaking 2026 for them.
   */
  async #legacyVersion(): Promise<string | undefined> {
    try {
      const opened = await initializeBackendSession({
        url: this.server.url,
        headers: gatewayRequestHeaders(this.server),
        protocolVersion: LATEST_PROTOCOL_VERSION,
        capabilities: {},
        timeoutMs: this.#timeout,
      });
      if (opened.sessionId) {
        await closeBackendSession(this.server.url, opened.sessionId, gatewayRequestHeaders(this.server));
      }
      return opened.protocolVersion;
    } catch {
      return undefined;
    }
  }

  #wakeToRelist() {
    this.#relist = true;
    this.#wake?.();
  }

  /** 2025: `ping`; 2026 has no ping, so a fresh `server/discover` says the server is there. */
  async #ping() {
    try {
      if (this.#era === "2026") await this.#client!.discover({ timeout: this.#timeout });
      else await this.#client!.ping({ timeout: this.#timeout });
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
      const toolsJson = JSON.stringify([tools.items, tools.cache]);
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
          ...(tools.cache ? { cache: tools.cache } : {}),
        });
      }
      if (capabilities.prompts) {
        const prompts = await listAll<UpstreamPrompt>(client, "prompts", this.#timeout);
        const promptsJson = JSON.stringify([prompts.items, prompts.cache]);
        if (promptsJson !== this.#lastPrompts) {
          this.#lastPrompts = promptsJson;
          log.append({
            type: "PromptsDiscovered",
            server: this.server.name,
            upstreamKey: this.key,
            prompts: prompts.items,
            ...(prompts.cache ? { cache: prompts.cache } : {}),
          });
        }
      }
      if (capabilities.resources) {
        const resources = await listAll<UpstreamResource>(client, "resources", this.#timeout);
        // Templates are optional even for servers with resources: a server without them may answer -32601.
        const templates = await listAll<UpstreamResourceTemplate>(client, "templates", this.#timeout)
          .catch(() => ({ items: [], invalid: [], cache: undefined }));
        const json = JSON.stringify([resources.items, templates.items, resources.cache, templates.cache]);
        if (json !== this.#lastResources) {
          this.#lastResources = json;
          log.append({
            type: "ResourcesDiscovered",
            server: this.server.name,
            upstreamKey: this.key,
            resources: resources.items,
            templates: templates.items,
            ...(resources.cache ? { cache: resources.cache } : {}),
            ...(templates.cache ? { templatesCache: templates.cache } : {}),
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
   * no capabilities and with each one alone (2025: in short-lived sessions; 2026: requests whose envelope
   * declares just that), only when the full list changed.
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
    const transport = this.#transport();
    const client = new Client({ name: GATEWAY_INFO.name, version: GATEWAY_INFO.version }, {
      capabilities: capabilities as SdkClientCapabilities,
    });
    if (capabilities.roots) client.setRequestHandler("roots/list", () => ({ roots: [] }));
    // The era is known: no second probe.
    const discover = this.#client?.getDiscoverResult();
    const prior: PriorDiscovery = this.#era === "2026" && discover
      ? { kind: "modern", discover }
      : { kind: "legacy" };
    try {
      await client.connect(transport, { timeout: this.#timeout, prior });
      const listing = await listAll<UpstreamTool>(client, "tools", this.#timeout);
      return new Set(listing.items.map((t) => t.name));
    } finally {
      // The probe's session is ended in the background: the listing is what discovery waits for, and a
      // round trip more per server delays every tool of a fleet starting at once.
      const end = prior.kind === "legacy" ? transport.terminateSession().catch(() => {}) : Promise.resolve();
      end.finally(() => client.close().catch(() => {}));
    }
  }

  /** Brings the backend's subscriptions in line with the watches (one sync at a time, the last one wins). */
  #syncWatches(): void {
    if (this.#stopped) return;
    if (this.#syncing) {
      this.#resync = true;
      return;
    }
    this.#syncing = (async () => {
      do {
        this.#resync = false;
        try {
          if (this.#era === "2026") await this.#listen();
          else if (this.#era === "2025") await this.#subscribe();
        } catch (e) {
          this.#logger.warn("cannot follow changes", { error: describeError(e) });
        }
      } while (this.#resync && !this.#stopped);
    })().finally(() => this.#syncing = undefined);
  }

  /** 2025: `resources/subscribe` each watched URI once per session, `unsubscribe` those no longer watched. */
  async #subscribe() {
    const client = this.#client;
    if (!client?.getServerCapabilities()?.resources?.subscribe) return;
    for (const uri of this.#watches.keys()) {
      if (this.#subscribed.has(uri)) continue;
      await client.subscribeResource({ uri }, { timeout: this.#timeout });
      this.#subscribed.add(uri);
    }
    for (const uri of [...this.#subscribed]) {
      if (this.#watches.has(uri)) continue;
      this.#subscribed.delete(uri);
      await client.unsubscribeResource({ uri }, { timeout: this.#timeout }).catch(() => {});
    }
  }

  /**
   * 2026: one `subscriptions/listen` stream with every list change the server announces and every watched
   * URI; re-opened when the watches change (a filter cannot be amended) or the stream drops.
   */
  async #listen() {
    const client = this.#client;
    if (!client) return;
    const capabilities = client.getServerCapabilities() ?? {};
    const filter: SubscriptionFilter = {};
    if (capabilities.tools?.listChanged) filter.toolsListChanged = true;
    if (capabilities.prompts?.listChanged) filter.promptsListChanged = true;
    if (capabilities.resources?.listChanged) filter.resourcesListChanged = true;
    if (capabilities.resources?.subscribe && this.#watches.size) {
      filter.resourceSubscriptions = [...this.#watches.keys()];
    }
    const previous = this.#subscription;
    this.#subscription = undefined;
    await previous?.close().catch(() => {});
    if (!Object.keys(filter).length) return;
    const subscription = await client.listen(filter, { timeout: this.#timeout });
    this.#subscription = subscription;
    subscription.closed.then((how) => {
      if (this.#subscription !== subscription) return;
      this.#subscription = undefined;
      // Dropped by the server or the network: the next check re-lists and listens again.
      if (how !== "local") this.#wakeToRelist();
    });
  }

  async #close() {
    const client = this.#client;
    this.#client = undefined;
    const subscription = this.#subscription;
    this.#subscription = undefined;
    await subscription?.close().catch(() => {});
    if (!client) return;
    client.onerror = client.onclose = undefined;
    await client.close().catch(() => {});
  }
}
