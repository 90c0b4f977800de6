/**
 * Rebuilds the gateway's projections from recorded events (an event log file), as of any sequence number.
 * The projections are registered exactly as the gateway registers them ({@link projectGateway}), and the
 * tail holds as many events as the live log's, so a replay answers `/debug/projections` and
 * `/debug/explain` as the live process did at that point.
 */
import type { EventListener, EventLog, ProjectionView } from "../events/log.ts";
import type { Projection } from "../events/projection.ts";
import type { GatewayEvent, LoggedEvent } from "../events/types.ts";
import { EVENT_TAIL, type GatewayViews, projectGateway } from "../projections.ts";
import { explain, type ExplainQuery } from "./explain_query.ts";

/** A log that folds events already numbered and timed (read back from a file), keeping theirs. */
class ReplayLog implements EventLog {
  #slots: { name: string; state: unknown; projection: Projection<unknown> }[] = [];
  #tail: LoggedEvent[] = [];
  #counts: Record<string, number> = {};
  #seq = 0;

  constructor(readonly capacity: number) {}

  get lastSeq() {
    return this.#seq;
  }

  append(event: GatewayEvent): LoggedEvent {
    const logged = event as LoggedEvent;
    this.#seq = logged.seq;
    for (const slot of this.#slots) slot.state = slot.projection.apply(slot.state, logged);
    this.#tail.push(logged);
    if (this.#tail.length > this.capacity * 2) this.#tail = this.#tail.slice(-this.capacity);
    this.#counts[logged.type] = (this.#counts[logged.type] ?? 0) + 1;
    return logged;
  }

  project<S>(projection: Projection<S>): ProjectionView<S> {
    const slot = {
      name: projection.name,
      state: projection.initial as unknown,
      projection: projection as Projection<unknown>,
    };
    this.#slots.push(slot);
    return slot as unknown as ProjectionView<S>;
  }

  subscribe(_listener: EventListener): () => void {
    return () => {};
  }

  recent(limit = this.capacity): LoggedEvent[] {
    return this.#tail.slice(-Math.min(limit, this.capacity));
  }

  counts(): Record<string, number> {
    return { ...this.#counts };
  }

  projections(): ProjectionView<unknown>[] {
    return [...this.#slots];
  }
}

export interface Replayed {
  /** The last event folded (0 when none). */
  lastSeq: number;
  views: GatewayViews;
  log: EventLog;
  /** Answers an explain query as of `lastSeq`. */
  explain(query: ExplainQuery): ReturnType<typeof explain>;
}

/** Folds `events` (in order) up to and including sequence number `at` (default: all). */
export function replay(
  events: readonly LoggedEvent[],
  options: { at?: number; tail?: number } = {},
): Replayed {
  const log = new ReplayLog(options.tail ?? EVENT_TAIL);
  const views = projectGateway(log);
  for (const event of events) {
    if (options.at !== undefined && event.seq > options.at) break;
    log.append(event);
  }
  return {
    lastSeq: log.lastSeq,
    views,
    log,
    explain: (query) =>
      explain({ explain: views.explain.state, sessions: views.sessions.state, recent: log.recent() }, query),
  };
}
