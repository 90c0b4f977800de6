/**
 * Fans server-to-client notifications out to the clients' GET streams. `tools/list_changed` (and the prompt
 * and resource ones) is sent when, and only when, that list's version moves — the projection decides what
 * "changed" means, this edge only delivers. Per the spec each message goes on one stream of a session.
 */
import type { EventLog } from "../events/log.ts";
import type { Catalog } from "../routing/tool_view.ts";
import { GatewayError } from "../mcp/errors.ts";
import { formatSse } from "../mcp/sse.ts";
import { LOCAL_BUS, type SessionBus } from "../session/bus.ts";

const LIST_CHANGED: [keyof Catalog, string][] = [
  ["tools", "notifications/tools/list_changed"],
  ["prompts", "notifications/prompts/list_changed"],
  ["resources", "notifications/resources/list_changed"],
];

function versions(catalog: Catalog): Record<keyof Catalog, number> {
  return {
    tools: catalog.tools.version,
    prompts: catalog.prompts.version,
    // Templates changing is a change of the resource list, as clients see it.
    resources: catalog.resources.version + catalog.templates.version,
    templates: catalog.templates.version,
  };
}

/** Bounds on open GET streams: each holds a response open and costs tens of KiB. */
export interface StreamLimits {
  perSession: number;
  total: number;
  keepAliveMs: number;
}

interface Stream {
  session: string;
  send(text: string): boolean;
  close(): void;
}

/** Hears each list change clients are told of, by notification method. */
export type ListChangeListener = (method: string) => void;

export class NotificationHub {
  #streams = new Map<string, Stream[]>();
  #listeners = new Set<ListChangeListener>();
  #versions: Record<keyof Catalog, number>;
  #encoder = new TextEncoder();
  #unsubscribe: () => void;

  #size = 0;
  /** Sessions with a stream here → stops listening for their messages from other replicas. */
  #listening = new Map<string, () => void>();

  /** Called when a session's first stream opens on this process (replicas re-open backend streams then). */
  onFirstStream?: (session: string) => void;

  constructor(
    log: EventLog,
    catalog: () => Catalog,
    private readonly limits: StreamLimits,
    private readonly bus: SessionBus = LOCAL_BUS,
  ) {
    this.#versions = versions(catalog());
    this.#unsubscribe = log.subscribe((event) => {
      if (event.type === "SessionClosed") this.closeSession(event.session);
      const now = versions(catalog());
      for (const [kind, method] of LIST_CHANGED) {
        if (now[kind] === this.#versions[kind]) continue;
        this.broadcast({ jsonrpc: "2.0", method });
        for (const listener of this.#listeners) listener(method);
      }
      this.#versions = now;
    });
  }

  /**
   * Calls `listener` with each list_changed method as it is broadcast (2026 listen streams hear the same
   * changes as 2025 GET streams), until the returned function is called.
   */
  onListChanged(listener: ListChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Number of open GET streams (for status and tests). */
  get size(): number {
    return this.#size;
  }

  /**
   * Opens a GET stream for `session`; the response stays open until the client leaves or the session ends.
   * Beyond the limits the client gets 429: a session needs one stream, a few at most.
   */
  open(session: string, headers: HeadersInit): Response {
    const held = this.#streams.get(session)?.length ?? 0;
    if (held >= this.limits.perSession) {
      throw new GatewayError(
        "too-many-streams",
        `Too Many Requests: this session already has ${held} open GET streams (limit ${this.limits.perSession})`,
        "null",
        { retryAfterMs: 1_000 },
      );
    }
    if (this.#size >= this.limits.total) {
      throw new GatewayError(
        "too-many-streams",
        `Too Many Requests: the gateway holds its limit of ${this.limits.total} open GET streams`,
        "null",
        { retryAfterMs: 5_000 },
      );
    }
    let stream!: Stream;
    let keepAlive: ReturnType<typeof setInterval>;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        stream = {
          session,
          send: (text) => {
            try {
              controller.enqueue(this.#encoder.encode(text));
              return true;
            } catch {
              return false;
            }
          },
          close: () => {
            clearInterval(keepAlive);
            try {
              controller.close();
            } catch { /* already closed */ }
          },
        };
        const list = this.#streams.get(session) ?? [];
        list.push(stream);
        this.#streams.set(session, list);
        this.#size++;
        if (list.length === 1) {
          this.#listening.set(session, this.bus.listen(session, (json) => this.sendJson(session, json)));
          this.onFirstStream?.(session);
        }
        // An SSE comment: invisible to clients, keeps intermediaries from timing out an idle stream.
        stream.send(": connected\n\n");
        keepAlive = setInterval(() => stream.send(": keep-alive\n\n"), this.limits.keepAliveMs);
      },
      cancel: () => {
        clearInterval(keepAlive);
        this.#remove(stream);
      },
    });
    const h = new Headers(headers);
    h.set("content-type", "text/event-stream");
    h.set("cache-control", "no-cache, no-transform");
    h.set("x-accel-buffering", "no");
    return new Response(body, { status: 200, headers: h });
  }

  #remove(stream: Stream) {
    const before = this.#streams.get(stream.session);
    if (!before?.includes(stream)) return;
    const list = before.filter((s) => s !== stream);
    this.#size--;
    if (list.length) this.#streams.set(stream.session, list);
    else this.#forget(stream.session);
  }

  #forget(session: string) {
    this.#streams.delete(session);
    this.#listening.get(session)?.();
    this.#listening.delete(session);
  }

  /** Sessions with a GET stream on this process. */
  sessions(): string[] {
    return [...this.#streams.keys()];
  }

  /**
   * Sends one message to one session, on this process's stream of it or, when there is none here, on
   * another replica's (a backend's message relayed by the replica holding the backend session's stream).
   */
  deliver(session: string, json: string): void {
    if (!this.sendJson(session, json)) void this.bus.publish(session, json);
  }

  /** Sends one message to one session (its newest stream here that still accepts data). */
  sendTo(session: string, message: unknown): boolean {
    return this.sendJson(session, JSON.stringify(message));
  }

  /** As {@link sendTo}, for a message already serialized. */
  sendJson(session: string, json: string): boolean {
    const list = this.#streams.get(session);
    if (!list) return false;
    const text = formatSse({ event: "message", data: json });
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i].send(text)) return true;
      this.#remove(list[i]);
    }
    return false;
  }

  broadcast(message: unknown): void {
    for (const session of [...this.#streams.keys()]) this.sendTo(session, message);
  }

  closeSession(session: string): void {
    const list = this.#streams.get(session) ?? [];
    for (const stream of list) stream.close();
    this.#size -= list.length;
    this.#forget(session);
  }

  close(): void {
    this.#unsubscribe();
    this.#listeners.clear();
    for (const session of [...this.#streams.keys()]) this.closeSession(session);
  }
}
