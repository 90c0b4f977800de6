/** What both directions of the era bridge use. */
import type { ServerConfig } from "../../config/schema.ts";
import type { Logger } from "../../observe/log.ts";
import type { SessionBus } from "../../session/bus.ts";
import type { SessionStore } from "../../session/store.ts";
import type { TokenService } from "../../session/tokens.ts";
import type { Mailboxes } from "./mailboxes.ts";

export interface BridgeDeps {
  store: SessionStore;
  /** Signs and verifies the `requestState` of calls held for 2026 clients (the session signing key). */
  tokens: TokenService;
  bus: SessionBus;
  mailboxes: Mailboxes;
  logger: Logger;
  /** How long the gateway waits for a client's input: a 2025 client's answers, a 2026 client's retry. */
  inputTimeoutMs: number;
  /** A configured server, by name. */
  server(name: string): ServerConfig | undefined;
}

/** Rounds of input one bridged call may take before the gateway gives up (the SDK client's default cap). */
export const MAX_INPUT_ROUNDS = 10;

/** Why a wait ended early: the client cancelled the call or went away. */
export class Cancelled extends Error {}

/**
 * Resolves when `done` does; rejects with `onTimeout()` after `timeoutMs`, or with {@link Cancelled} when
 * `signal` aborts.
 */
export function within<T>(
  done: Promise<T>,
  timeoutMs: number,
  onTimeout: () => Error,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(() => reject(onTimeout())), timeoutMs);
    const abort = () => finish(() => reject(new Cancelled("cancelled")));
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      settle();
    };
    if (signal?.aborted) return abort();
    signal?.addEventListener("abort", abort, { once: true });
    done.then((value) => finish(() => resolve(value)), (e) => finish(() => reject(e)));
  });
}
