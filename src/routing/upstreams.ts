/**
 * Projection: what the gateway knows about each configured server — its config, connection status and the
 * tools it last listed. Status pages, the tool view and the routing table are all derived from this.
 */
import { createHash } from "node:crypto";
import type { Projection } from "../events/projection.ts";
import type {
  GatewayEvent,
  ListCacheHint,
  ServerConfig,
  UpstreamPrompt,
  UpstreamResource,
  UpstreamResourceTemplate,
  UpstreamTool,
} from "../events/types.ts";
import type { GatewayConfig } from "../config/schema.ts";
import { EMPTY_CONFIG } from "../config/schema.ts";
import type { ListKind } from "../mcp/methods.ts";
import type { Era } from "../mcp/protocol.ts";

export type UpstreamStatus = "disabled" | "connecting" | "ready" | "failed";

export interface UpstreamState {
  config: ServerConfig;
  /** Connection identity: a manager's events count only while their key matches this. */
  upstreamKey: string;
  status: UpstreamStatus;
  tools: UpstreamTool[];
  /** Tools listed only to clients declaring capabilities: upstream name → capabilities needed. */
  toolRequirements: Record<string, string[]>;
  prompts: UpstreamPrompt[];
  resources: UpstreamResource[];
  templates: UpstreamResourceTemplate[];
  /** Set once the server has listed tools at least once for this key. */
  discovered: boolean;
  /**
   * Tool names (the server's own) from its last successful listing, kept while it is down, reconnecting or
   * disabled: a call to one of them is told the server is unavailable (or disabled), not that the tool is
   * unknown.
   */
  knownTools: string[];
  /** Since when the server has not been serving (unset while ready). */
  unavailableSince?: number;
  /** When the upstream manager tries again after a failure. */
  nextAttemptAt?: number;
  /** The era the gateway speaks with the server (set once connected). */
  era?: Era;
  protocolVersion?: string;
  /** A 2026 server that also serves 2025 sessions: the version those negotiate. */
  legacyProtocolVersion?: string;
  serverInfo?: { name: string; version: string };
  capabilities?: Record<string, unknown>;
  instructions?: string;
  /** Each list's cache hint from the server's last listing (2026 servers only). */
  listCache: Partial<Record<ListKind, ListCacheHint>>;
  lastError?: { stage: string; reason: string; at: number };
  consecutiveFailures: number;
  /** Time (ms) of the last event that changed this server's state. */
  lastChange: number;
}

export interface UpstreamsState {
  config: GatewayConfig;
  configDigest: string;
  configSource?: string;
  lastRejection?: { source: string; reason: string; at: number };
  /** Servers in config order. */
  servers: ReadonlyMap<string, UpstreamState>;
}

/**
 * Identity of a server's connection: what, if changed, needs a new MCP client. The prefix is not part of it —
 * renaming tools is a view concern and needs no reconnect.
 */
export function upstreamKey(server: ServerConfig): string {
  return createHash("sha256")
    .update(JSON.stringify([server.name, server.url, server.credential ?? ""]))
    .digest("hex").slice(0, 12);
}

const initial: UpstreamsState = { config: EMPTY_CONFIG, configDigest: "", servers: new Map() };

function onConfig(state: UpstreamsState, event: Extract<GatewayEvent, { type: "ConfigLoaded" }>, at: number) {
  const servers = new Map<string, UpstreamState>();
  for (const config of event.config.servers) {
    const key = upstreamKey(config);
    const previous = state.servers.get(config.name);
    if (previous && previous.upstreamKey === key && previous.config.enabled === config.enabled) {
      servers.set(config.name, { ...previous, config });
      continue;
    }
    if (
      previous?.status === "ready" && config.enabled && previous.config.url === config.url
    ) {
      // Only the credential changed (a rotated Secret): keep serving while a client with the new one
      // connects; it replaces what is listed, or fails and takes the tools down.
      servers.set(config.name, { ...previous, config, upstreamKey: key, lastChange: at });
      continue;
    }
    servers.set(config.name, {
      config,
      upstreamKey: key,
      status: config.enabled ? "connecting" : "disabled",
      tools: [],
      toolRequirements: {},
      prompts: [],
      resources: [],
      templates: [],
      discovered: false,
      listCache: {},
      knownTools: previous?.knownTools ?? [],
      unavailableSince: previous ? previous.unavailableSince ?? at : undefined,
      consecutiveFailures: 0,
      lastChange: at,
    });
  }
  return { ...state, config: event.config, configDigest: event.digest, configSource: event.source, servers };
}

/** `hints` with `kind`'s hint replaced (removed when the listing gave none). */
function withHint(
  hints: UpstreamState["listCache"],
  kind: ListKind,
  hint: ListCacheHint | undefined,
): UpstreamState["listCache"] {
  if (hints[kind]?.ttlMs === hint?.ttlMs && hints[kind]?.cacheScope === hint?.cacheScope) return hints;
  const next = { ...hints };
  if (hint) next[kind] = hint;
  else delete next[kind];
  return next;
}

function update(
  state: UpstreamsState,
  server: string,
  key: string,
  change: (s: UpstreamState) => Partial<UpstreamState>,
): UpstreamsState {
  const current = state.servers.get(server);
  // Late events from a manager whose config was replaced or removed say nothing about the current one.
  if (!current || current.upstreamKey !== key || current.status === "disabled") return state;
  const servers = new Map(state.servers);
  servers.set(server, { ...current, ...change(current) });
  return { ...state, servers };
}

export const upstreamsProjection: Projection<UpstreamsState> = {
  name: "upstreams",
  initial,
  apply(state, event) {
    const at = event.at;
    switch (event.type) {
      case "ConfigLoaded":
        return event.digest === state.configDigest ? state : onConfig(state, event, at);
      case "ConfigRejected":
        return { ...state, lastRejection: { source: event.source, reason: event.reason, at } };
      case "UpstreamConnecting":
        return update(state, event.server, event.upstreamKey, (s) => ({
          status: s.status === "ready" ? "ready" : "connecting",
        }));
      case "UpstreamConnected":
        return update(state, event.server, event.upstreamKey, () => ({
          era: event.era,
          protocolVersion: event.protocolVersion,
          legacyProtocolVersion: event.legacyProtocolVersion,
          serverInfo: event.serverInfo,
          capabilities: event.capabilities,
          instructions: event.instructions,
          lastChange: at,
        }));
      case "ToolsDiscovered":
        return update(state, event.server, event.upstreamKey, (s) => ({
          status: "ready",
          listCache: withHint(s.listCache, "tools", event.cache),
          tools: event.tools,
          toolRequirements: event.requires ?? {},
          discovered: true,
          knownTools: event.tools.map((t) => t.name),
          unavailableSince: undefined,
          nextAttemptAt: undefined,
          consecutiveFailures: 0,
          lastError: undefined,
          lastChange: at,
        }));
      case "PromptsDiscovered":
        return update(
          state,
          event.server,
          event.upstreamKey,
          (s) => ({
            prompts: event.prompts,
            listCache: withHint(s.listCache, "prompts", event.cache),
            lastChange: at,
          }),
        );
      case "ResourcesDiscovered":
        return update(state, event.server, event.upstreamKey, (s) => ({
          resources: event.resources,
          templates: event.templates,
          listCache: withHint(
            withHint(s.listCache, "resources", event.cache),
            "templates",
            event.templatesCache,
          ),
          lastChange: at,
        }));
      case "UpstreamFailed":
        // A failed server serves nothing: a tool that cannot be called must not be listed.
        return update(state, event.server, event.upstreamKey, (s) => ({
          status: "failed",
          tools: [],
          prompts: [],
          resources: [],
          templates: [],
          lastError: { stage: event.stage, reason: event.reason, at },
          unavailableSince: s.unavailableSince ?? at,
          nextAttemptAt: at + event.retryInMs,
          consecutiveFailures: s.consecutiveFailures + 1,
          lastChange: at,
        }));
      default:
        return state;
    }
  },
};
