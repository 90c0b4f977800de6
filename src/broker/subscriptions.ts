/**
 * Change notifications for clients that asked for them, beyond the 2025 GET stream:
 *
 * - 2026 `subscriptions/listen` (spec 2026-07-28, "Subscriptions"): one SSE stream per request, opened with
 *   `notifications/subscriptions/acknowledged` carrying the honoured filter, then the gateway's own
 *   list_changed (the catalog versions the {@link NotificationHub} tracks: sent when, and only when, the
 *   aggregated list changed) and `notifications/resources/updated` for the filter's URIs, whichever
 *   backend and era they come from. Every frame carries `_meta.subscriptionId` (the listen request's id).
 * - 2025 `resources/subscribe` for a resource of a 2026 backend, which has no per-session subscriptions:
 *   the gateway watches the resource and puts its updates on the session's GET stream.
 *
 * Backends are watched through the upstream managers ({@link ResourceWatcher}): one subscription per
 * backend and URI, however many clients listen.
 */
import type { Admitted } from "../admission/admit.ts";
import { SERVER_INFO_META_KEY, SUBSCRIPTION_ID_META_KEY } from "../era/envelope.ts";
import { GATEWAY_SERVER_INFO } from "../era/frame.ts";
import type { EventLog } from "../events/log.ts";
import { mayUse } from "../identity/authorize.ts";
import { GatewayError } from "../mcp/errors.ts";
import { formatSse } from "../mcp/sse.ts";
import { prefixUri } from "../routing/aggregate.ts";
import { resolveResource, type RoutingState } from "../routing/routing_table.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";
import { selectedVirtualServer } from "../routing/visibility.ts";
import type { ResourceWatcher } from "../upstream/supervisor.ts";
import type { NotificationHub } from "./notifications.ts";

/** What a listen request may ask for (`SubscriptionFilter`). */
export interface SubscriptionFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

const LIST_FLAGS: Record<string, keyof SubscriptionFilter> = {
  "notifications/tools/list_changed": "toolsListChanged",
  "notifications/prompts/list_changed": "promptsListChanged",
  "notifications/resources/list_changed": "resourcesListChanged",
};

/** URIs one listen request may watch: a bound on the watches a client can make the gateway hold. */
const MAX_URIS_PER_LISTEN = 100;

/** The filter of a listen request, or undefined when `params.notifications` is missing or malformed. */
function parseFilter(params: Record<string, unknown> | undefined): SubscriptionFilter | undefined {
  const value = params?.notifications;
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const filter: SubscriptionFilter = {};
  for (const key of ["toolsListChanged", "promptsListChanged", "resourcesListChanged"] as const) {
    const flag = (value as Record<string, unknown>)[key];
    if (flag === undefined) continue;
    if (typeof flag !== "boolean") return undefined;
    filter[key] = flag;
  }
  const uris = (value as Record<string, unknown>).resourceSubscriptions;
  if (uris !== undefined) {
    if (!Array.isArray(uris) || !uris.every((u) => typeof u === "string")) return undefined;
    filter.resourceSubscriptions = uris as string[];
  }
  return filter;
}

export interface SubscriptionsDeps {
  log: EventLog;
  hub: NotificationHub;
  watcher?: ResourceWatcher;
  upstreams: () => UpstreamsState;
  routing: () => RoutingState;
  keepAliveMs: number;
  /** Listen streams the broker holds open at once. */
  maxStreams: number;
}

/** A resource a client watches: where it lives, and the URI the client knows. */
interface Watched {
  server: string;
  upstreamUri: string;
  served: string;
}

export class Subscriptions {
  /** Open listen streams, each ended (gracefully or not) by its function. */
  #streams = new Set<(graceful: boolean) => void>();
  /** 2025 sessions' watches of 2026 backends' resources: session → key → release. */
  #sessionWatches = new Map<string, Map<string, () => void>>();
  #unsubscribe: () => void;

  constructor(private readonly deps: SubscriptionsDeps) {
    this.#unsubscribe = deps.log.subscribe((event) => {
      if (event.type !== "SessionClosed") return;
      for (const release of this.#sessionWatches.get(event.session)?.values() ?? []) release();
      this.#sessionWatches.delete(event.session);
    });
  }

  /** Open listen streams (for status and tests). */
  get size(): number {
    return this.#streams.size;
  }

  /** A served URI's backend and backend URI, when the caller may see it and its server can be watched. */
  #resolve(uri: string, admitted: Admitted): Watched | undefined {
    const upstreams = this.deps.upstreams();
    const route = resolveResource(upstreams, this.deps.routing().table, uri);
    const server = route && upstreams.servers.get(route.server);
    const subscribable = (server?.capabilities?.resources as { subscribe?: unknown } | undefined)?.subscribe;
    if (!route || !server || !subscribable) return undefined;
    const virtual = selectedVirtualServer(upstreams.config.virtualServers, admitted.identity);
    const item = { name: uri, server: route.server, upstreamName: route.upstreamUri };
    if (!mayUse(admitted.identity, "resource", item, virtual)) return undefined;
    return { server: route.server, upstreamUri: route.upstreamUri, served: uri };
  }

  /** Answers a 2026 `subscriptions/listen` request with its stream. */
  listen(
    admitted: Admitted,
    id: unknown,
    params: Record<string, unknown> | undefined,
    rawId: string,
  ): Response {
    const requested = parseFilter(params);
    if (!requested) {
      throw new GatewayError(
        "invalid-params",
        "Invalid params: 'notifications' is required and must be a valid SubscriptionFilter",
        rawId,
      );
    }
    if (this.#streams.size >= this.deps.maxStreams) {
      throw new GatewayError("internal", "Subscription limit reached", rawId);
    }
    const honored: SubscriptionFilter = {};
    if (requested.toolsListChanged) honored.toolsListChanged = true;
    if (requested.promptsListChanged) honored.promptsListChanged = true;
    if (requested.resourcesListChanged) honored.resourcesListChanged = true;
    const watched: Watched[] = [];
    for (const uri of new Set(requested.resourceSubscriptions ?? [])) {
      if (watched.length >= MAX_URIS_PER_LISTEN) break;
      const found = this.#resolve(uri, admitted);
      if (found) watched.push(found);
    }
    if (watched.length) honored.resourceSubscriptions = watched.map((w) => w.served);

    const encoder = new TextEncoder();
    const stamp = (params: Record<string, unknown> = {}) => ({
      ...params,
      _meta: { ...(params._meta as Record<string, unknown> | undefined), [SUBSCRIPTION_ID_META_KEY]: id },
    });
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let closed = false;
    const cleanups: (() => void)[] = [];
    const write = (text: string) => {
      if (closed) return;
      try {
        controller.enqueue(encoder.encode(text));
      } catch { /* the client left */ }
    };
    const send = (method: string, params?: Record<string, unknown>) =>
      write(
        formatSse({
          event: "message",
          data: JSON.stringify({ jsonrpc: "2.0", method, params: stamp(params) }),
        }),
      );
    const end = (graceful: boolean) => {
      if (closed) return;
      if (graceful) {
        // The spec's graceful close: the listen request's (empty) result.
        write(formatSse({
          event: "message",
          data: `{"jsonrpc":"2.0","id":${rawId},"result":${
            JSON.stringify({
              resultType: "complete",
              _meta: { [SUBSCRIPTION_ID_META_KEY]: id, [SERVER_INFO_META_KEY]: GATEWAY_SERVER_INFO },
            })
          }}`,
        }));
      }
      closed = true;
      for (const cleanup of cleanups) cleanup();
      this.#streams.delete(end);
      try {
        controller.close();
      } catch { /* already closed */ }
    };
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        send("notifications/subscriptions/acknowledged", { notifications: honored });
        if (!Object.keys(honored).length) return end(true);
        this.#streams.add(end);
        cleanups.push(this.deps.hub.onListChanged((method) => {
          if (honored[LIST_FLAGS[method]]) send(method);
        }));
        for (const w of watched) {
          const release = this.deps.watcher?.watchResource(
            w.server,
            w.upstreamUri,
            () => send("notifications/resources/updated", { uri: w.served }),
          );
          if (release) cleanups.push(release);
        }
        const keepAlive = setInterval(() => write(": keep-alive\n\n"), this.deps.keepAliveMs);
        cleanups.push(() => clearInterval(keepAlive));
      },
      cancel: () => end(false),
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
      },
    });
  }

  /**
   * A 2025 session's `resources/subscribe` (`on`) or `unsubscribe` for a resource of a backend that only
   * speaks 2026: the gateway watches it and sends the session `notifications/resources/updated`.
   */
  toggle(session: string, server: string, target: { served: string; upstream: string }, on: boolean): void {
    const key = `${server}\0${target.upstream}`;
    let watches = this.#sessionWatches.get(session);
    const existing = watches?.get(key);
    if (!on) {
      existing?.();
      watches?.delete(key);
      if (watches && !watches.size) this.#sessionWatches.delete(session);
      return;
    }
    if (existing || !this.deps.watcher) return;
    if (!watches) this.#sessionWatches.set(session, watches = new Map());
    const prefix = this.deps.upstreams().servers.get(server)?.config.toolPrefix ?? "";
    watches.set(
      key,
      this.deps.watcher.watchResource(server, target.upstream, (uri) =>
        this.deps.hub.sendTo(session, {
          jsonrpc: "2.0",
          method: "notifications/resources/updated",
          params: { uri: prefixUri(prefix, uri) },
        })),
    );
  }

  /** Ends every listen stream gracefully and drops every watch (shutdown). */
  close(): void {
    this.#unsubscribe();
    for (const end of [...this.#streams]) end(true);
    for (const watches of this.#sessionWatches.values()) for (const release of watches.values()) release();
    this.#sessionWatches.clear();
  }
}
