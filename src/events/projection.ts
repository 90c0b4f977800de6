import type { GatewayEvent, LoggedEvent } from "./types.ts";

/**
 * A projection is a pure, synchronous fold over the event log. It owns no I/O and no live objects, so a
 * test can feed it events and compare states, and any replica replaying the same log reaches the same state.
 *
 * @example
 * ```ts
 * const counter: Projection<number> = { name: "count", initial: 0, apply: (n) => n + 1 };
 * ```
 */
export interface Projection<S> {
  /** Stable name; shown on the debug endpoint. */
  readonly name: string;
  readonly initial: S;
  /** Time comes from the logged event (`at`), never from a clock: a replay reaches the same state. */
  apply(state: S, event: LoggedEvent): S;
}

/**
 * Folds a whole sequence of events, for tests and for replay. Events not yet logged are numbered in order
 * and stamped with `at` (default 0).
 */
export function fold<S>(
  projection: Projection<S>,
  events: Iterable<GatewayEvent | LoggedEvent>,
  at = 0,
): S {
  let state = projection.initial;
  let seq = 0;
  for (const event of events) {
    seq++;
    state = projection.apply(state, "seq" in event ? event : { ...event, seq, at } as LoggedEvent);
  }
  return state;
}
