import type { GatewayEvent } from "./types.ts";

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
  apply(state: S, event: GatewayEvent): S;
}

/** Folds a whole sequence of events, for tests and for replay. */
export function fold<S>(projection: Projection<S>, events: Iterable<GatewayEvent>): S {
  let state = projection.initial;
  for (const event of events) state = projection.apply(state, event);
  return state;
}
