/**
 * Whether the shared store can be used right now, and what `/status`, `/readyz` and the metrics say about
 * it. Any failed command makes the state `degraded` at once (the gateway then serves from its own state,
 * without waiting on the store for each call); only a successful re-sync makes it `ok` again.
 */
import type { Logger } from "../observe/log.ts";
import type { StoreState } from "../session/shared_state.ts";

export class StoreHealth {
  #state: StoreState = "syncing";
  #since = Date.now();
  /** The store answered last time: commands go to it (also while re-syncing after an outage). */
  link = true;
  /** Once in sync since start: readiness no longer depends on the store. */
  everSynced = false;
  lastError?: { message: string; at: number };
  errors = 0;
  /** Replicas alive on the store, this one included. */
  replicas = 1;
  #listeners = new Set<() => void>();

  constructor(private readonly logger: Logger) {}

  get state(): StoreState {
    return this.#state;
  }

  get since(): number {
    return this.#since;
  }

  /** Calls `listener` each time the store is found unreachable (to start recovering). */
  onDegraded(listener: () => void): void {
    this.#listeners.add(listener);
  }

  /** A command failed: `what` says which part of the gateway noticed. */
  fail(error: unknown, what: string): void {
    this.errors++;
    const message = error instanceof Error ? error.message : String(error);
    this.lastError = { message: `${what}: ${message}`, at: Date.now() };
    this.link = false;
    if (this.#state === "degraded") return;
    this.#state = "degraded";
    this.#since = Date.now();
    this.logger.warn(
      "session store unreachable: serving sessions from this process's own state until it is back",
      { during: what, error: message },
    );
    for (const listener of this.#listeners) listener();
  }

  /** A (re-)sync succeeded: shared state and this process agree again. */
  synced(): void {
    this.link = true;
    if (this.#state === "ok") return;
    if (this.#state === "degraded") this.logger.info("session store back: shared state merged");
    else this.logger.info("session store in sync");
    this.#state = "ok";
    this.#since = Date.now();
    this.everSynced = true;
  }
}
