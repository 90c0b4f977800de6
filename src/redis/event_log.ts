/**
 * The event log of a replica that shares its sessions: this process's own log, plus the session events
 * other replicas append. Session events (`SessionOpened`, `BackendSessionBound`, `BackendSessionInvalidated`,
 * and `SessionClosed` of a DELETE) are published to the store's stream as they are appended here; events
 * read from the stream are folded here like any other, marked with the replica they came from (`origin`).
 * Configuration, discovery and upstream health stay per replica: each replica connects to every backend
 * itself (see docs/scaling.md), so those are facts about its own connections.
 *
 * Expiry is not shared: every replica closes an expired session by the same clock, from the same state.
 */
import type { EventListener, EventLog, ProjectionView } from "../events/log.ts";
import type { Projection } from "../events/projection.ts";
import type { GatewayEvent, LoggedEvent } from "../events/types.ts";

/** Session events, the ones replicas share. */
export type SharedEvent = Extract<
  GatewayEvent,
  { type: "SessionOpened" | "BackendSessionBound" | "BackendSessionInvalidated" | "SessionClosed" }
>;

export function isShared(event: GatewayEvent): event is SharedEvent {
  switch (event.type) {
    case "SessionOpened":
    case "BackendSessionBound":
    case "BackendSessionInvalidated":
      return true;
    case "SessionClosed":
      return event.reason === "deleted";
    default:
      return false;
  }
}

export class SharedEventLog implements EventLog {
  constructor(
    private readonly local: EventLog,
    /** Sends a session event this replica appended to the others (never one it heard from them). */
    private readonly publish: (event: SharedEvent) => void,
  ) {}

  append(event: GatewayEvent): LoggedEvent {
    const logged = this.local.append(event);
    if (isShared(event)) this.publish(event);
    return logged;
  }

  /** Folds an event another replica appended (or the store's state holds) without publishing it again. */
  ingest(event: GatewayEvent, origin: string): LoggedEvent {
    return this.local.append({ ...event, origin } as unknown as GatewayEvent);
  }

  project<S>(projection: Projection<S>): ProjectionView<S> {
    return this.local.project(projection);
  }

  subscribe(listener: EventListener, fromSeq?: number): () => void {
    return this.local.subscribe(listener, fromSeq);
  }

  recent(limit?: number): LoggedEvent[] {
    return this.local.recent(limit);
  }

  get lastSeq(): number {
    return this.local.lastSeq;
  }

  counts(): Record<string, number> {
    return this.local.counts();
  }

  projections(): ProjectionView<unknown>[] {
    return this.local.projections();
  }
}
