import type { Projection } from "./projection.ts";
import type { EventType, GatewayEvent, LoggedEvent } from "./types.ts";

/** Read access to one projection's current state; hot paths read it synchronously. */
export interface ProjectionView<S> {
  readonly name: string;
  readonly state: S;
}

export type EventListener = (event: LoggedEvent) => void;

/**
 * The event log every role writes to and reads from. Kept behind this interface so a shared log (for several
 * replicas) can replace the in-process one without touching edges or projections.
 */
export interface EventLog {
  /** Appends a fact; registered projections are folded before any listener hears of it. */
  append(event: GatewayEvent): LoggedEvent;
  /** Registers a projection; it must be registered before the events it needs are appended. */
  project<S>(projection: Projection<S>): ProjectionView<S>;
  /**
   * Calls `listener` for every event from now on. With `fromSeq`, first replays what the bounded tail still
   * holds from that position; older events are gone, so a late reader starts from projection state instead.
   */
  subscribe(listener: EventListener, fromSeq?: number): () => void;
  /** The newest events, oldest first (at most the tail's capacity). */
  recent(limit?: number): LoggedEvent[];
  /** Sequence number of the last appended event (0 before any). */
  readonly lastSeq: number;
  /** How many events of each type were appended since start. */
  counts(): Record<string, number>;
  /** Every registered projection, for the debug endpoint. */
  projections(): ProjectionView<unknown>[];
}

class Slot<S> implements ProjectionView<S> {
  state: S;
  constructor(readonly projection: Projection<S>) {
    this.state = projection.initial;
  }
  get name() {
    return this.projection.name;
  }
}

/**
 * In-process log: projection states plus a bounded ring of recent events. Session events are high-rate, so
 * memory is bounded by `capacity`, not by uptime.
 *
 * @example
 * ```ts
 * const log = new InMemoryEventLog();
 * const view = log.project(myProjection);
 * log.append({ type: "ConfigRejected", source: "x.yaml", reason: "bad" });
 * view.state; // folded
 * ```
 */
export class InMemoryEventLog implements EventLog {
  #ring: (LoggedEvent | undefined)[];
  #seq = 0;
  #slots: Slot<unknown>[] = [];
  #listeners = new Set<EventListener>();
  #counts = new Map<EventType, number>();
  #queue: LoggedEvent[] = [];
  #draining = false;

  constructor(readonly capacity = 1024, private readonly onListenerError: (e: unknown) => void = () => {}) {
    this.#ring = new Array(capacity);
  }

  get lastSeq() {
    return this.#seq;
  }

  append(event: GatewayEvent): LoggedEvent {
    const logged = { ...event, seq: ++this.#seq, at: Date.now() } as LoggedEvent;
    this.#ring[logged.seq % this.capacity] = logged;
    this.#counts.set(event.type, (this.#counts.get(event.type) ?? 0) + 1);
    this.#queue.push(logged);
    // A listener may append; its event is folded after the current one, preserving log order everywhere.
    if (!this.#draining) this.#drain();
    return logged;
  }

  #drain() {
    this.#draining = true;
    try {
      for (let next = this.#queue.shift(); next; next = this.#queue.shift()) {
        for (const slot of this.#slots) slot.state = slot.projection.apply(slot.state, next);
        for (const listener of this.#listeners) {
          try {
            listener(next);
          } catch (e) {
            this.onListenerError(e);
          }
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  project<S>(projection: Projection<S>): ProjectionView<S> {
    const slot = new Slot(projection);
    this.#slots.push(slot as Slot<unknown>);
    return slot;
  }

  subscribe(listener: EventListener, fromSeq?: number): () => void {
    if (fromSeq !== undefined) {
      for (const event of this.recent()) if (event.seq >= fromSeq) listener(event);
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  recent(limit = this.capacity): LoggedEvent[] {
    const out: LoggedEvent[] = [];
    const first = Math.max(1, this.#seq - Math.min(limit, this.capacity) + 1);
    for (let seq = first; seq <= this.#seq; seq++) {
      const event = this.#ring[seq % this.capacity];
      if (event?.seq === seq) out.push(event);
    }
    return out;
  }

  counts(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }

  projections(): ProjectionView<unknown>[] {
    return [...this.#slots];
  }
}
