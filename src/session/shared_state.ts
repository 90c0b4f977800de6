/**
 * What the processes serving the same clients share: the session events of the log, the session store, and
 * delivery between them. One value, built at startup from `--session-store`: the embedded default keeps all
 * of it in this process; `redis://…` shares it (see `src/redis/`). Nothing else in the gateway knows which.
 */
import type { Registry } from "prom-client";
import type { EventLog, ProjectionView } from "../events/log.ts";
import { LOCAL_BUS, type SessionBus } from "./bus.ts";
import type { SessionMapState } from "./session_map.ts";
import { InMemorySessionStore, type SessionStore } from "./store.ts";

/**
 * `syncing`: loading the shared state (not ready for traffic yet); `ok`; `degraded`: the shared store is
 * unreachable, so sessions are served from this process's own state (a session this process never saw gets
 * fresh backend sessions) until the store is back and the states are merged again.
 */
export type StoreState = "ok" | "syncing" | "degraded";

/** The session store as `/status`, `/readyz` and metrics show it. */
export interface SessionStoreStatus {
  kind: "memory" | "redis";
  state: StoreState;
  /** When the state last changed (ISO time). */
  since: string;
  /** The store's URL, without credentials. */
  url?: string;
  /** This process's name among the replicas sharing the store. */
  replica?: string;
  /** Replicas (processes) alive on the store, this one included, as last seen. */
  replicas?: number;
  lastError?: { message: string; at: string };
}

export interface SharedState {
  /** The event log every role appends to: session events are shared, the rest stays in this process. */
  log: EventLog;
  store: SessionStore;
  bus: SessionBus;
  status(): SessionStoreStatus;
  /**
   * Loads what other processes know into `sessions` (a snapshot, not the whole history) and follows their
   * events from then on; resolves once in sync, or degraded when the store cannot be reached.
   */
  start(sessions: ProjectionView<SessionMapState>): Promise<void>;
  /** Adds the store's metrics to the gateway's registry. */
  instrument(registry: Registry): void;
  close(): Promise<void>;
}

/** The embedded default: one process, nothing shared. */
export function embeddedState(log: EventLog): SharedState {
  const since = new Date().toISOString();
  return {
    log,
    store: new InMemorySessionStore(),
    bus: LOCAL_BUS,
    status: () => ({ kind: "memory", state: "ok", since }),
    start: () => Promise.resolve(),
    instrument: () => {},
    close: () => Promise.resolve(),
  };
}
