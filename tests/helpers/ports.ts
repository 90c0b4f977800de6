/** A port free on 127.0.0.1 right now (for third-party servers that cannot listen on port 0 and tell us). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Thrown by a {@link waitFor} check when waiting longer cannot help (say, the child process exited). */
export class GiveUp extends Error {}

/**
 * Polls `check` until it returns a truthy value or `timeoutMs` passes. An error thrown by `check` counts as
 * "not yet" (and is reported on timeout), except a {@link GiveUp}, which ends the wait at once. A check that
 * never settles (a request to a hung server) cannot hold the wait past `timeoutMs` either.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await within(Promise.resolve(check()), Math.max(1, deadline - Date.now()), what);
      if (value) return value as NonNullable<T>;
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      last = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** `promise`, or a failure naming `what` after `ms` (for a promise that has no timeout of its own). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
