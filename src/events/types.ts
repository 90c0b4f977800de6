/**
 * The gateway's events: facts that happened, as plain data. Every edge (config watcher, upstream managers,
 * HTTP and gRPC handlers, Kubernetes informers) appends these; every view the gateway serves is a fold of them.
 *
 * Events never carry live objects (clients, sockets, timers), so they can be logged, shown on the debug
 * endpoint and, later, shipped to a shared log.
 */
import type { GatewayConfig, ServerConfig } from "../config/schema.ts";
import type { Era } from "../mcp/protocol.ts";

/** A tool exactly as the upstream listed it (name, schemas, annotations, _meta all verbatim). */
export type UpstreamTool = { name: string; [key: string]: unknown };

/** A prompt exactly as the upstream listed it. */
export type UpstreamPrompt = { name: string; [key: string]: unknown };

/** A resource exactly as the upstream listed it. */
export type UpstreamResource = { uri: string; [key: string]: unknown };

/** A resource template exactly as the upstream listed it. */
export type UpstreamResourceTemplate = { uriTemplate: string; [key: string]: unknown };

/**
 * A 2026-07-28 list's cache hint (SEP-2549) as the upstream gave it: how long the answer stays fresh and
 * whether it may be shared across callers. 2025-era upstreams give none.
 */
export interface ListCacheHint {
  ttlMs: number;
  cacheScope: "public" | "private";
}

/** A Kubernetes object reduced to what the controller folds over. */
export interface ObservedResource {
  kind: string;
  namespace: string;
  name: string;
  resourceVersion?: string;
  generation?: number;
  /** The object as the API server returned it (plain JSON). */
  object: Record<string, unknown>;
}

/** Where a config came from: a file path, or the controller's ConfigMap. */
export type ConfigSource = string;

export type GatewayEvent =
  | { type: "ConfigLoaded"; source: ConfigSource; config: GatewayConfig; digest: string }
  | { type: "ConfigRejected"; source: ConfigSource; reason: string }
  | {
    type: "UpstreamConnecting";
    server: string;
    /** Identity of the server's configuration; events from a superseded manager are ignored by folds. */
    upstreamKey: string;
    attempt: number;
  }
  | {
    type: "UpstreamConnected";
    server: string;
    upstreamKey: string;
    /**
     * The era the gateway speaks with the server: `2026` when it answered `server/discover` with a revision
     * the gateway speaks, else `2025` (it answered `initialize`).
     */
    era: Era;
    /** The version negotiated in that era. */
    protocolVersion: string;
    /**
     * For a 2026 server that also accepts a 2025 `initialize` (a dual-era server): the version it
     * negotiated there. 2025 clients then keep 2025 backend sessions with it.
     */
    legacyProtocolVersion?: string;
    serverInfo: { name: string; version: string; [key: string]: unknown };
    capabilities: Record<string, unknown>;
    instructions?: string;
  }
  | {
    type: "UpstreamFailed";
    server: string;
    upstreamKey: string;
    /** Which step failed, so status can say why. */
    stage: "connect" | "initialize" | "validate" | "list" | "ping" | "transport";
    reason: string;
    /** Milliseconds until the next attempt. */
    retryInMs: number;
  }
  | {
    type: "ToolsDiscovered";
    server: string;
    upstreamKey: string;
    tools: UpstreamTool[];
    /** Tools the server lists only to clients declaring capabilities: name → capabilities needed. */
    requires?: Record<string, string[]>;
    /** The listing's cache hint (2026 servers). */
    cache?: ListCacheHint;
  }
  | {
    type: "PromptsDiscovered";
    server: string;
    upstreamKey: string;
    prompts: UpstreamPrompt[];
    cache?: ListCacheHint;
  }
  | {
    type: "ResourcesDiscovered";
    server: string;
    upstreamKey: string;
    resources: UpstreamResource[];
    templates: UpstreamResourceTemplate[];
    cache?: ListCacheHint;
    templatesCache?: ListCacheHint;
  }
  | { type: "UpstreamRemoved"; server: string; upstreamKey: string }
  | {
    type: "SessionOpened";
    /** The gateway session's id (JWT `jti`), never the token itself. */
    session: string;
    protocolVersion: string;
    expiresAt: number;
    /** The client declared roots, sampling or elicitation: backends may send it requests. */
    answersRequests?: boolean;
  }
  | {
    type: "BackendSessionBound";
    session: string;
    server: string;
    /** Backend `mcp-session-id` ("" when the backend is stateless). */
    backendSession: string;
    protocolVersion: string;
    /**
     * The gateway session's expiry (from its token), so a session this log never saw open (opened by
     * another replica) is adopted with its real lifetime and swept like any other.
     */
    expiresAt: number;
  }
  | {
    type: "BackendSessionInvalidated";
    session: string;
    server: string;
    backendSession: string;
    reason: string;
  }
  | {
    type: "SessionClosed";
    session: string;
    reason: "deleted" | "expired";
    /** The token's expiry: until then a deleted session's token must still be refused. */
    expiresAt: number;
  }
  | { type: "ResourceObserved"; resource: ObservedResource }
  | { type: "ResourceDeleted"; kind: string; namespace: string; name: string };

export type EventType = GatewayEvent["type"];

/**
 * An event as stored in the log: with its position and time, and, for an event another replica appended to
 * a shared log (or read from the shared store's state), where it came from.
 */
export type LoggedEvent = GatewayEvent & { seq: number; at: number; origin?: string };

/** Narrow to one event type. */
export type EventOf<T extends EventType> = Extract<GatewayEvent, { type: T }>;

export type { GatewayConfig, ServerConfig };
