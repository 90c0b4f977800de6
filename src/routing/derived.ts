import type { Projection } from "../events/projection.ts";

/**
 * A projection computed from another one: `derive` runs only when the base state changed (by reference),
 * so cheap events (sessions) cost one comparison. `derive` gets its previous output to keep it when equal.
 */
export function derivedProjection<B, D>(
  name: string,
  base: Projection<B>,
  derive: (base: B, previous: D | undefined) => D,
): Projection<{ base: B; view: D }> {
  const initialBase = base.initial;
  return {
    name,
    initial: { base: initialBase, view: derive(initialBase, undefined) },
    apply(state, event) {
      const next = base.apply(state.base, event);
      if (next === state.base) return state;
      return { base: next, view: derive(next, state.view) };
    },
  };
}
