/**
 * Exponential backoff with jitter, so a fleet of gateways does not reconnect to a recovering backend in
 * lock-step.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** ± fraction of the delay chosen at random (0.2 → 80 %…120 %). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.2 };

/** Delay before retry number `attempt` (0-based). */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random = Math.random,
): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.min(attempt, 30));
  return Math.round(base * (1 - policy.jitter + 2 * policy.jitter * random()));
}
