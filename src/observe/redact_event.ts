/**
 * Events leave the process (the event log file, the live event stream) with their secrets replaced:
 * server credentials, the userinfo and query values of server and session store URLs, and URLs quoted in
 * failure reasons.
 *
 * A secret is replaced by a tag keyed with a per-process random salt (`redacted-1a2b3c4d`): equal secrets
 * get equal tags and different ones different tags, so a replay still sees a URL or credential change as
 * a change, while nothing outside the process can link a tag to its value. Connection keys
 * (`upstreamKey`), which hash the real URL and credential, are rewritten to the keys of the redacted
 * config, so a replay — which computes keys from what it reads — recognizes each connection's events.
 *
 * @example
 * ```ts
 * const redactor = new EventRedactor();
 * redactor.url("https://bot:s3cret@tools.example.com/mcp?api_key=abc");
 * // "https://redacted-…@tools.example.com/mcp?api_key=redacted-…"
 * ```
 */
import { createHmac } from "node:crypto";
import type { EventLog } from "../events/log.ts";
import type { LoggedEvent, ServerConfig } from "../events/types.ts";
import { upstreamKey } from "../routing/upstreams.ts";

/** A URL inside free text: scheme, `://`, then anything up to whitespace, quotes or brackets. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>()\[\]{}`]+/gi;

const TAG = /^redacted-[0-9a-f]{8}$/;

export class EventRedactor {
  readonly #salt: Uint8Array;
  /** Real connection key → the key of the redacted config. */
  readonly #keys = new Map<string, string>();

  constructor(salt: Uint8Array = crypto.getRandomValues(new Uint8Array(16))) {
    this.#salt = salt;
  }

  /**
   * Learns every config's connection keys from now on, so events redacted later (a stream that starts
   * after the config was loaded) get the same keys as those redacted when they happened.
   */
  follow(log: EventLog): () => void {
    return log.subscribe((event) => {
      if (event.type === "ConfigLoaded") this.event(event);
    });
  }

  /** The stand-in for one secret value. */
  tag(value: string): string {
    // Idempotent: what was redacted once (say, read back from a file) stays as it is.
    if (TAG.test(value)) return value;
    return `redacted-${createHmac("sha256", this.#salt).update(value).digest("hex").slice(0, 8)}`;
  }

  /** A URL with its userinfo and every query value replaced (keys stay: they say what was configured). */
  url(url: string): string {
    const scheme = url.indexOf("://");
    if (scheme < 0) return url;
    const start = scheme + 3;
    const rest = url.slice(start);
    const end = rest.search(/[/?#]/);
    let authority = end < 0 ? rest : rest.slice(0, end);
    let tail = end < 0 ? "" : rest.slice(end);
    const at = authority.lastIndexOf("@");
    if (at >= 0) authority = `${this.tag(authority.slice(0, at))}@${authority.slice(at + 1)}`;
    const query = tail.indexOf("?");
    if (query >= 0) {
      const hash = tail.indexOf("#", query);
      const stop = hash < 0 ? tail.length : hash;
      const params = tail.slice(query + 1, stop).split("&").map((part) => {
        if (part === "") return part;
        const eq = part.indexOf("=");
        return eq < 0 ? this.tag(part) : `${part.slice(0, eq)}=${this.tag(part.slice(eq + 1))}`;
      });
      tail = `${tail.slice(0, query)}?${params.join("&")}${tail.slice(stop)}`;
    }
    return `${url.slice(0, start)}${authority}${tail}`;
  }

  /** Every URL in a message redacted; sentence punctuation right after a URL is not part of it. */
  text(text: string): string {
    if (!text.includes("://")) return text;
    return text.replace(URL_IN_TEXT, (url) => {
      const trailing = /[.,;:!?]+$/.exec(url)?.[0] ?? "";
      return this.url(url.slice(0, url.length - trailing.length)) + trailing;
    });
  }

  server(server: ServerConfig): ServerConfig {
    const redacted = { ...server, url: this.url(server.url) };
    if (server.credential !== undefined) redacted.credential = this.tag(server.credential);
    return redacted;
  }

  /** The event as it may leave the process. Events without secrets are returned as they are. */
  event(event: LoggedEvent): LoggedEvent {
    switch (event.type) {
      case "ConfigLoaded": {
        const servers = event.config.servers.map((s) => {
          const redacted = this.server(s);
          this.#keys.set(upstreamKey(s), upstreamKey(redacted));
          return redacted;
        });
        const store = event.config.sessionStore;
        const config = {
          ...event.config,
          servers,
          ...(store ? { sessionStore: { url: this.url(store.url) } } : {}),
        };
        return { ...event, source: this.text(event.source), config };
      }
      case "ConfigRejected":
        return { ...event, reason: this.text(event.reason) };
      case "BackendSessionInvalidated":
        return { ...event, reason: this.text(event.reason) };
      case "UpstreamFailed":
        return { ...event, upstreamKey: this.#key(event.upstreamKey), reason: this.text(event.reason) };
      case "UpstreamConnecting":
      case "UpstreamConnected":
      case "ToolsDiscovered":
      case "PromptsDiscovered":
      case "ResourcesDiscovered":
      case "UpstreamRemoved":
        return { ...event, upstreamKey: this.#key(event.upstreamKey) };
      default:
        return event;
    }
  }

  #key(key: string): string {
    return this.#keys.get(key) ?? key;
  }
}
