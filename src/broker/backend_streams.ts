/**
 * GET streams to backends, opened for a client's backend session when it subscribes to a resource: the
 * backend sends `notifications/resources/updated` (and may send requests) there, and the client must hear
 * them on its own GET stream. Closed when the gateway session ends or the backend session is dropped.
 */
import type { EventLog } from "../events/log.ts";
import type { ServerConfig } from "../config/schema.ts";
import { parseSse } from "../mcp/sse.ts";
import type { BackendBinding } from "../session/session_map.ts";
import type { Logger } from "../observe/log.ts";
import { backendSessionHeaders } from "../mcp/backend_headers.ts";
import type { Relay } from "./relay.ts";
import { LOCAL_BUS, type SessionBus } from "../session/bus.ts";
import type { NotificationHub } from "./notifications.ts";

/** A backend's own `notifications/<list>/list_changed`. */
const LIST_CHANGED = /"method"\s*:\s*"notifications\/(tools|prompts|resources)\/list_changed"/;

export class BackendStreams {
  #open = new Map<string, AbortController>();
  #unsubscribe: () => void;

  constructor(
    log: EventLog,
    private readonly hub: NotificationHub,
    private readonly logger: Logger,
    /** Replicas: one of them holds each backend stream, and the client's own stream may be elsewhere. */
    private readonly bus: SessionBus = LOCAL_BUS,
  ) {
    this.#unsubscribe = log.subscribe((event) => {
      if (event.type === "SessionClosed") this.#closeWhere((key) => key.startsWith(`${event.session}\0`));
      if (event.type === "BackendSessionInvalidated") this.#close(`${event.session}\0${event.server}`);
      if (event.type === "UpstreamFailed" || event.type === "UpstreamRemoved") {
        this.#closeWhere((key) => key.endsWith(`\0${event.server}`));
      }
    });
  }

  /**
   * Opens (once) the GET stream of `binding` and relays what arrives to the gateway session's stream.
   * Resolves once the stream is open (or held by another replica, or refused): a subscription answered after
   * that misses no update the backend sends.
   */
  ensure(session: string, server: ServerConfig, binding: BackendBinding, relay: Relay): Promise<void> {
    const key = `${session}\0${server.name}`;
    if (this.#open.has(key) || !binding.id) return Promise.resolve();
    const abort = new AbortController();
    this.#open.set(key, abort);
    let ready!: () => void;
    const opened = new Promise<void>((resolve) => ready = resolve);
    (async () => {
      let held = false;
      try {
        held = await this.bus.claimBackendStream(session, server.name);
        if (!held || abort.signal.aborted) return;
        const headers = backendSessionHeaders(server, binding);
        headers.accept = "text/event-stream";
        delete headers["content-type"];
        const res = await fetch(server.url, { method: "GET", headers, signal: abort.signal });
        if (!res.ok || !res.body) {
          await res.body?.cancel();
          this.logger.warn("backend refused a notification stream", {
            server: server.name,
            status: res.status,
          });
          return;
        }
        ready();
        for await (const event of parseSse(res.body)) {
          // The gateway announces changes of its aggregated lists itself, once per client.
          if (event.data && !LIST_CHANGED.test(event.data)) {
            this.hub.deliver(session, await relay.rewrite(event.data));
          }
        }
      } catch (e) {
        if (!abort.signal.aborted) {
          this.logger.debug("backend notification stream ended", { server: server.name, error: e });
        }
      } finally {
        ready();
        if (this.#open.get(key) === abort) this.#open.delete(key);
        if (held) this.bus.releaseBackendStream(session, server.name);
      }
    })();
    return opened;
  }

  #close(key: string) {
    this.#open.get(key)?.abort();
    this.#open.delete(key);
  }

  #closeWhere(match: (key: string) => boolean) {
    for (const key of [...this.#open.keys()]) if (match(key)) this.#close(key);
  }

  close(): void {
    this.#unsubscribe();
    this.#closeWhere(() => true);
  }
}
