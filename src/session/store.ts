/**
 * Per-call state of gateway sessions: where each call in flight went, the requests backends sent to a
 * client under gateway ids, each session's log level. None of it is a fact worth a log entry (it is
 * high-rate and short-lived), but follow-ups must find it: a client's answer or cancellation reaches the
 * backend that asked or runs the call, in both data paths. Behind this interface so a shared store can
 * replace the in-process one and any replica can serve any follow-up.
 *
 * Values are plain data (server names, backend session ids), never live objects.
 */
import { RELAYED_REQUEST_ID_PREFIX } from "../mcp/protocol.ts";
import type { BackendBinding } from "./session_map.ts";

/** Where a call went: the server and the backend session it ran on. */
export interface CallRoute {
  server: string;
  /** Backend `mcp-session-id` ("" for a stateless backend). */
  backendSession: string;
  protocolVersion: string;
  /** Set when Envoy carries the call (the router routed it): its end is not seen by the gateway. */
  viaEnvoy?: boolean;
}

/** A request a backend sent to a client, relayed under a gateway id. */
export interface RelayedRequest extends CallRoute {
  /** The gateway session it was sent to: only that session may answer it. */
  session: string;
  /** The backend's own id, as JSON text, restored on the answer. */
  backendRawId: string;
  /**
   * Set when no backend session waits for the answer but a call the gateway bridges between eras (a 2026
   * backend's `input_required` asked of a 2025 client): the mailbox its answer is delivered to.
   */
  waiter?: string;
}

/**
 * What {@link SessionStore.bindOnce} found: the binding to use, and whether this call opened it (and so must
 * record it); or that the gateway session is closed.
 */
export type BindResult = { binding: BackendBinding; opened: boolean } | { closed: true };

/** A 2025 backend session the gateway holds on behalf of 2026 callers (no gateway session owns it). */
export interface HeldBackendSession {
  /** Backend `mcp-session-id` ("" for a stateless backend). */
  id: string;
  protocolVersion: string;
}

/** Where a task lives (2026 tasks extension): the backend that created it, for the caller it was created for. */
export interface TaskRoute {
  server: string;
  /** The caller (`issuer|subject`, "" when anonymous): only they may ask about the task. */
  subject: string;
}

/**
 * A call a 2025 backend holds open while the 2026 client that made it answers the backend's requests
 * (`input_required` and a retry): where the backend call is, and what the next retry must answer.
 */
export interface HeldInput {
  /** The replica reading the backend call's answer: a retry is delivered there. */
  replica: string;
  server: string;
  /** The backend session the call runs on. */
  backendSession: string;
  protocolVersion: string;
  /** The call's id toward the backend (JSON text), to cancel it. */
  call: string;
  /** The round the next retry answers (its `requestState` names it). */
  round: number;
  /** The backend's requests being asked, by input key: the backend's ids (JSON text). */
  requests: Record<string, string>;
}

export interface SessionStore {
  /** Records a call in flight; `ttlMs` bounds it when its end is never seen (the Envoy path). */
  beginCall(session: string, rawId: string, route: CallRoute, ttlMs?: number): Promise<void>;
  endCall(session: string, rawId: string): Promise<void>;
  /** The call `rawId` (JSON text of the request id) of `session`, while in flight. */
  call(session: string, rawId: string): Promise<CallRoute | undefined>;
  /** The session's most recent call still within its time to live. */
  latestCall(session: string): Promise<CallRoute | undefined>;
  /** Records a backend's request to the client; returns the gateway id (JSON text) the client will see. */
  relay(request: RelayedRequest): Promise<string>;
  /** Takes the relayed request a client's answer is for; only the session it was sent to may take it. */
  takeRelayed(session: string, id: unknown): Promise<RelayedRequest | undefined>;
  setLogLevel(session: string, level: string): Promise<void>;
  logLevel(session: string): Promise<string | undefined>;
  /** Forgets everything about a session (DELETE, expiry). */
  dropSession(session: string): Promise<void>;
  /**
   * The backend session of (`session`, `server`), opened once by every process sharing this store: `open`
   * runs when none is recorded and no other process is opening one; otherwise the one another process opened
   * (or is opening) is returned. Every process uses the one backend session per client and server, so the backend's
   * per-session state (subscriptions, elicitations in flight) is never split between replicas.
   */
  bindOnce(session: string, server: string, open: () => Promise<BackendBinding>): Promise<BindResult>;
  /**
   * Records a resource subscription of `session` on `server` (its updates come on that backend session's
   * GET stream, which whichever process holds it must keep open).
   */
  addSubscription(session: string, server: string, uri: string): Promise<void>;
  removeSubscription(session: string, server: string, uri: string): Promise<void>;
  /** Servers on which `session` holds resource subscriptions. */
  subscribedServers(session: string): Promise<string[]>;
  /**
   * The backend session held on `server` for 2026 callers with `key` (one caller, one set of declared
   * capabilities), while its time to live lasts.
   */
  heldSession(key: string, server: string): Promise<HeldBackendSession | undefined>;
  holdSession(key: string, server: string, session: HeldBackendSession, ttlMs: number): Promise<void>;
  /** Forgets a held session, if it is still `backendSession` (the backend no longer knows it). */
  releaseSession(key: string, server: string, backendSession: string): Promise<void>;
  /** Records which backend created task `taskId`, for whom. */
  recordTask(taskId: string, route: TaskRoute, ttlMs: number): Promise<void>;
  task(taskId: string): Promise<TaskRoute | undefined>;
  /** Records (or updates) a held call waiting for its client's input, for `ttlMs`. */
  holdInput(id: string, held: HeldInput, ttlMs: number): Promise<void>;
  /** The held call `id`, while it waits. */
  heldInput(id: string): Promise<HeldInput | undefined>;
  /** The held call ended (answered, timed out, cancelled). */
  releaseInput(id: string): Promise<void>;
}

/** How long a call's route is kept when its end is not seen, and how long a client may take to answer. */
export const CALL_TTL_MS = 15 * 60_000;

/** How long a backend session held for 2026 callers is reused before a fresh one is opened. */
export const HELD_SESSION_TTL_MS = 30 * 60_000;

/** How long the gateway remembers where a task lives (tasks outliving this are answered "unknown task"). */
export const TASK_TTL_MS = 24 * 60 * 60_000;

/** Entries kept per map before expired ones are swept (and, past twice that, the oldest dropped). */
const SWEEP_AT = 10_000;

interface Expiring<T> {
  value: T;
  expires: number;
}

/** A Map whose entries expire, bounded in size; insertion order is age order. */
class ExpiringMap<K, V> {
  #map = new Map<K, Expiring<V>>();

  set(key: K, value: V, ttlMs: number, now = Date.now()) {
    this.#map.delete(key);
    this.#map.set(key, { value, expires: now + ttlMs });
    if (this.#map.size > SWEEP_AT) this.#sweep(now);
  }

  get(key: K, now = Date.now()): V | undefined {
    const entry = this.#map.get(key);
    if (!entry) return undefined;
    if (entry.expires > now) return entry.value;
    this.#map.delete(key);
    return undefined;
  }

  delete(key: K) {
    this.#map.delete(key);
  }

  deleteWhere(match: (key: K, value: V) => boolean) {
    for (const [key, entry] of this.#map) if (match(key, entry.value)) this.#map.delete(key);
  }

  #sweep(now: number) {
    for (const [key, entry] of this.#map) if (entry.expires <= now) this.#map.delete(key);
    // Still full of live entries: a flood, not traffic. Drop the oldest rather than grow without bound.
    for (const key of this.#map.keys()) {
      if (this.#map.size <= 2 * SWEEP_AT) break;
      this.#map.delete(key);
    }
  }

  get size() {
    return this.#map.size;
  }
}

/** The embedded default: one process's memory. */
export class InMemorySessionStore implements SessionStore {
  #calls = new ExpiringMap<string, CallRoute>();
  #latest = new ExpiringMap<string, CallRoute>();
  #relayed = new ExpiringMap<string, RelayedRequest>();
  #levels = new Map<string, string>();
  /** session → server → subscribed URIs. */
  #subscriptions = new Map<string, Map<string, Set<string>>>();
  #held = new ExpiringMap<string, HeldBackendSession>();
  #tasks = new ExpiringMap<string, TaskRoute>();
  #inputs = new ExpiringMap<string, HeldInput>();

  beginCall(session: string, rawId: string, route: CallRoute, ttlMs = CALL_TTL_MS): Promise<void> {
    this.#calls.set(`${session}\0${rawId}`, route, ttlMs);
    this.#latest.set(session, route, ttlMs);
    return Promise.resolve();
  }

  endCall(session: string, rawId: string): Promise<void> {
    this.#calls.delete(`${session}\0${rawId}`);
    return Promise.resolve();
  }

  call(session: string, rawId: string): Promise<CallRoute | undefined> {
    return Promise.resolve(this.#calls.get(`${session}\0${rawId}`));
  }

  latestCall(session: string): Promise<CallRoute | undefined> {
    return Promise.resolve(this.#latest.get(session));
  }

  relay(request: RelayedRequest): Promise<string> {
    const id = `${RELAYED_REQUEST_ID_PREFIX}${crypto.randomUUID()}`;
    this.#relayed.set(id, request, CALL_TTL_MS);
    return Promise.resolve(JSON.stringify(id));
  }

  takeRelayed(session: string, id: unknown): Promise<RelayedRequest | undefined> {
    if (typeof id !== "string") return Promise.resolve(undefined);
    const request = this.#relayed.get(id);
    if (!request || request.session !== session) return Promise.resolve(undefined);
    this.#relayed.delete(id);
    return Promise.resolve(request);
  }

  setLogLevel(session: string, level: string): Promise<void> {
    this.#levels.set(session, level);
    return Promise.resolve();
  }

  logLevel(session: string): Promise<string | undefined> {
    return Promise.resolve(this.#levels.get(session));
  }

  dropSession(session: string): Promise<void> {
    this.#calls.deleteWhere((key) => key.startsWith(`${session}\0`));
    this.#latest.delete(session);
    this.#relayed.deleteWhere((_, request) => request.session === session);
    this.#levels.delete(session);
    this.#subscriptions.delete(session);
    return Promise.resolve();
  }

  /** One process: the binder already shares one `initialize` between concurrent first calls. */
  async bindOnce(
    _session: string,
    _server: string,
    open: () => Promise<BackendBinding>,
  ): Promise<BindResult> {
    return { binding: await open(), opened: true };
  }

  addSubscription(session: string, server: string, uri: string): Promise<void> {
    let servers = this.#subscriptions.get(session);
    if (!servers) this.#subscriptions.set(session, servers = new Map());
    let uris = servers.get(server);
    if (!uris) servers.set(server, uris = new Set());
    uris.add(uri);
    return Promise.resolve();
  }

  removeSubscription(session: string, server: string, uri: string): Promise<void> {
    const servers = this.#subscriptions.get(session);
    const uris = servers?.get(server);
    uris?.delete(uri);
    if (uris?.size === 0) servers!.delete(server);
    if (servers?.size === 0) this.#subscriptions.delete(session);
    return Promise.resolve();
  }

  subscribedServers(session: string): Promise<string[]> {
    return Promise.resolve([...this.#subscriptions.get(session)?.keys() ?? []]);
  }

  heldSession(key: string, server: string): Promise<HeldBackendSession | undefined> {
    return Promise.resolve(this.#held.get(`${key}\0${server}`));
  }

  holdSession(key: string, server: string, session: HeldBackendSession, ttlMs: number): Promise<void> {
    this.#held.set(`${key}\0${server}`, session, ttlMs);
    return Promise.resolve();
  }

  releaseSession(key: string, server: string, backendSession: string): Promise<void> {
    if (this.#held.get(`${key}\0${server}`)?.id === backendSession) this.#held.delete(`${key}\0${server}`);
    return Promise.resolve();
  }

  recordTask(taskId: string, route: TaskRoute, ttlMs: number): Promise<void> {
    this.#tasks.set(taskId, route, ttlMs);
    return Promise.resolve();
  }

  task(taskId: string): Promise<TaskRoute | undefined> {
    return Promise.resolve(this.#tasks.get(taskId));
  }

  holdInput(id: string, held: HeldInput, ttlMs: number): Promise<void> {
    this.#inputs.set(id, held, ttlMs);
    return Promise.resolve();
  }

  heldInput(id: string): Promise<HeldInput | undefined> {
    return Promise.resolve(this.#inputs.get(id));
  }

  releaseInput(id: string): Promise<void> {
    this.#inputs.delete(id);
    return Promise.resolve();
  }
}
