/**
 * `GET /debug/events/stream`: the event log live, as Server-Sent Events (one `id: seq`, `event: <type>`,
 * `data: <event JSON>` per event, secrets redacted as in the event log file). `Last-Event-ID` (or `?from=SEQ`)
 * resumes from what the log's tail still holds; `?types=A,B` filters.
 *
 * Session events are high-rate and a reader may be slow: each stream buffers a bounded number of events,
 * then drops and says so (`event: dropped`, `data: {"count":N}`) rather than growing without bound.
 */
import type { EventLog } from "../events/log.ts";
import type { LoggedEvent } from "../events/types.ts";
import { formatSse } from "../mcp/sse.ts";
import type { EventRedactor } from "../observe/redact_event.ts";
import { debugReplacer } from "./debug.ts";

/** Events buffered per stream before newer ones are dropped. */
const BUFFERED_EVENTS = 1024;
/** Streams open at once; more get 429 (an operator tool, not a fan-out service). */
const MAX_STREAMS = 32;
const KEEP_ALIVE_MS = 15_000;

export class EventStreams {
  readonly #open = new Set<() => void>();
  readonly #encoder = new TextEncoder();

  constructor(private readonly log: EventLog, private readonly redactor: EventRedactor) {}

  handle(req: Request, url: URL): Response {
    if (this.#open.size >= MAX_STREAMS) {
      return Response.json({ error: `Too many event streams open (${MAX_STREAMS}); close one` }, {
        status: 429,
        headers: { "retry-after": "5" },
      });
    }
    const resume = req.headers.get("last-event-id") ?? url.searchParams.get("from");
    const from = resume === null ? undefined : Number(resume) + (req.headers.has("last-event-id") ? 1 : 0);
    if (from !== undefined && !Number.isInteger(from)) {
      return Response.json({ error: "Last-Event-ID and from must be sequence numbers" }, { status: 400 });
    }
    const types = url.searchParams.get("types")?.split(",").map((t) => t.trim()).filter(Boolean);
    const wanted = types?.length ? new Set(types) : undefined;
    let cleanup = () => {};
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let dropped = 0;
        const send = (text: string) => controller.enqueue(this.#encoder.encode(text));
        const listener = (event: LoggedEvent) => {
          if (wanted && !wanted.has(event.type)) return;
          if ((controller.desiredSize ?? 0) <= 0) {
            dropped++;
            return;
          }
          if (dropped) {
            send(formatSse({ event: "dropped", data: JSON.stringify({ count: dropped }) }));
            dropped = 0;
          }
          const data = JSON.stringify(this.redactor.event(event), debugReplacer);
          send(formatSse({ id: String(event.seq), event: event.type, data }));
        };
        send(`: mcp-gateway events from seq ${from ?? this.log.lastSeq + 1}\nretry: 2000\n\n`);
        const unsubscribe = this.log.subscribe(listener, from);
        const keepAlive = setInterval(() => send(": keep-alive\n\n"), KEEP_ALIVE_MS);
        const close = () => {
          cleanup();
          try {
            controller.close();
          } catch { /* already closed */ }
        };
        cleanup = () => {
          unsubscribe();
          clearInterval(keepAlive);
          this.#open.delete(close);
        };
        this.#open.add(close);
      },
      cancel: () => cleanup(),
    }, new CountQueuingStrategy({ highWaterMark: BUFFERED_EVENTS }));
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  }

  /** Ends every open stream (the broker is closing). */
  close(): void {
    for (const close of [...this.#open]) close();
  }
}
