/**
 * The event log file (`--event-log-file FILE`): every event the gateway appends, one JSON line each, with
 * secrets redacted, so any projection can be rebuilt later by replaying it (`deno task replay FILE`).
 *
 * Format, version 1 (docs/observability.md has the full description):
 * - Each process that opens the file first writes a run header:
 *   `{"v":1,"run":"<uuid>","startedAt":<ms>,"gateway":"0.1.0"}`. Sequence numbers restart with each run.
 * - Then one line per event: `{"v":1,"seq":<n>,"at":<ms>,"type":"…",…}`, the event's own fields as
 *   `src/events/types.ts` declares them.
 * - Adding an optional field or a new event type does not change `v`: readers ignore what they do not
 *   know. Renaming, removing or retyping a field, or changing what one means, does: such a change bumps
 *   {@link EVENT_LOG_VERSION}, and the reader gains a step that upgrades older lines. A reader refuses
 *   lines newer than it knows.
 */
import { z } from "zod";
import type { EventLog } from "../events/log.ts";
import type { EventType, LoggedEvent } from "../events/types.ts";
import { GATEWAY_INFO } from "../mcp/protocol.ts";
import type { Logger } from "./log.ts";
import type { EventRedactor } from "./redact_event.ts";

/** The version of the line format this code writes and reads. */
export const EVENT_LOG_VERSION = 1;

/** Every event type, checked against the union: a new type must be listed here to be replayed. */
const EVENT_TYPES: Record<EventType, true> = {
  ConfigLoaded: true,
  ConfigRejected: true,
  UpstreamConnecting: true,
  UpstreamConnected: true,
  UpstreamFailed: true,
  ToolsDiscovered: true,
  PromptsDiscovered: true,
  ResourcesDiscovered: true,
  UpstreamRemoved: true,
  SessionOpened: true,
  BackendSessionBound: true,
  BackendSessionInvalidated: true,
  SessionClosed: true,
  ResourceObserved: true,
  ResourceDeleted: true,
};

const RunHeaderSchema = z.object({
  v: z.number().int().positive(),
  run: z.string().min(1),
  startedAt: z.number(),
  gateway: z.string().optional(),
});
export type RunHeader = z.infer<typeof RunHeaderSchema>;

const EventLineSchema = z.object({
  v: z.number().int().positive(),
  seq: z.number().int().positive(),
  at: z.number(),
  type: z.string().min(1),
}).passthrough();

/** Flush at least this often while events arrive; a crash loses at most this much. */
const FLUSH_MS = 50;
/** Flush at once past this many buffered bytes. */
const FLUSH_BYTES = 256 * 1024;

/**
 * Appends every event of `log` to a file, from the moment it is opened: open it before the first event
 * is appended, or a replay misses what came before. Writes are batched (every {@link FLUSH_MS} ms) and
 * synchronous, so lines are never interleaved or reordered.
 */
export class EventFileWriter {
  #buffer: string[] = [];
  #bytes = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #unsubscribe: () => void;
  #failed = false;
  readonly #encoder = new TextEncoder();

  private constructor(
    private readonly file: Deno.FsFile,
    log: EventLog,
    private readonly redactor: EventRedactor,
    private readonly logger: Logger,
  ) {
    const header: RunHeader = {
      v: EVENT_LOG_VERSION,
      run: crypto.randomUUID(),
      startedAt: Date.now(),
      gateway: GATEWAY_INFO.version,
    };
    this.#push(JSON.stringify(header));
    this.#unsubscribe = log.subscribe((event) => {
      // `seq` and `at` first, for people reading the file.
      const { seq, at, ...fields } = redactor.event(event);
      this.#push(JSON.stringify({ v: EVENT_LOG_VERSION, seq, at, ...fields }));
    });
  }

  /** Opens (creating, mode 0600: it names sessions) or appends to `path`; throws a message naming it. */
  static open(path: string, log: EventLog, redactor: EventRedactor, logger: Logger): EventFileWriter {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true, append: true, create: true, mode: 0o600 });
      // A run cut short by a crash may end mid-line: start this run on a line of its own.
      const size = file.statSync().size;
      if (size > 0) {
        const last = new Uint8Array(1);
        file.seekSync(size - 1, Deno.SeekMode.Start);
        file.readSync(last);
        if (last[0] !== 0x0a) file.writeSync(new Uint8Array([0x0a]));
      }
    } catch (e) {
      throw new Error(`--event-log-file: cannot open ${path}: ${(e as Error).message}`);
    }
    return new EventFileWriter(file, log, redactor, logger);
  }

  #push(line: string) {
    this.#buffer.push(line);
    this.#bytes += line.length + 1;
    if (this.#bytes >= FLUSH_BYTES) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Writes what is buffered now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#buffer.length) return;
    const data = this.#encoder.encode(this.#buffer.join("\n") + "\n");
    this.#buffer = [];
    this.#bytes = 0;
    try {
      for (let written = 0; written < data.length;) written += this.file.writeSync(data.subarray(written));
      this.#failed = false;
    } catch (e) {
      // A full disk must not take the gateway down; say so once per outage.
      if (!this.#failed) this.logger.error("cannot write the event log file; events are lost", { error: e });
      this.#failed = true;
    }
  }

  /** Stops following the log, writes what is buffered and closes the file. */
  close(): void {
    this.#unsubscribe();
    this.flush();
    this.file.close();
  }
}

/** One process's events in a file. */
export interface EventRun {
  header: RunHeader;
  events: LoggedEvent[];
}

export interface ReadResult {
  runs: EventRun[];
  /** Lines skipped, with why (unknown event types: written by a newer gateway of the same version). */
  warnings: string[];
}

/**
 * Reads an event log file into runs. Refuses (throws, naming the line) a line that is not JSON, not a
 * header or event, or of a version newer than {@link EVENT_LOG_VERSION}; events before any header form a
 * run of their own.
 */
export function readEventFile(text: string): ReadResult {
  const runs: EventRun[] = [];
  const warnings: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const where = `line ${i + 1}`;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      // A crash can cut a run's last line short (the next run starts on a line of its own); anything else
      // is damage.
      if (endsRun(lines, i + 1)) {
        warnings.push(`${where}: incomplete last line of a run skipped`);
        continue;
      }
      throw new Error(`${where}: not JSON`);
    }
    const v = (raw as { v?: unknown })?.v;
    if (typeof v === "number" && v > EVENT_LOG_VERSION) {
      throw new Error(`${where}: written as version ${v}; this replay reads version ${EVENT_LOG_VERSION}`);
    }
    const header = RunHeaderSchema.safeParse(raw);
    if (header.success) {
      runs.push({ header: header.data, events: [] });
      continue;
    }
    const event = EventLineSchema.safeParse(raw);
    if (!event.success) {
      throw new Error(`${where}: neither a run header nor an event (${event.error.issues[0].message})`);
    }
    if (!(event.data.type in EVENT_TYPES)) {
      warnings.push(`${where}: unknown event type ${event.data.type} skipped`);
      continue;
    }
    if (!runs.length) {
      runs.push({ header: { v: event.data.v, run: "(no header)", startedAt: 0 }, events: [] });
    }
    const { v: _v, ...logged } = event.data;
    runs.at(-1)!.events.push(logged as unknown as LoggedEvent);
  }
  return { runs, warnings };
}

/** Whether the next non-empty line from `from` on is a run header, or there is none. */
function endsRun(lines: string[], from: number): boolean {
  const next = lines.slice(from).find((l) => l.trim() !== "");
  if (next === undefined) return true;
  try {
    return RunHeaderSchema.safeParse(JSON.parse(next)).success;
  } catch {
    return false;
  }
}
