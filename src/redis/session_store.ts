/**
 * The session store in Redis: what one replica records, any other finds (calls in flight, relayed request
 * ids, log levels, resource subscriptions, and which replica opens a backend session). Every write also goes
 * to this process's own in-memory store, and every read falls back to it, so that while the shared store is
 * away (`degraded`) the gateway keeps serving, as one process would: follow-ups that reach the replica that
 * recorded them still work, and a session this replica never saw gets fresh backend sessions.
 */
import type { Redis } from "ioredis";
import type { BackendBinding } from "../session/session_map.ts";
import {
  type BindResult,
  CALL_TTL_MS,
  type CallRoute,
  type HeldBackendSession,
  type HeldInput,
  InMemorySessionStore,
  type RelayedRequest,
  type SessionStore,
  type TaskRoute,
} from "../session/store.ts";
import { RELAYED_REQUEST_ID_PREFIX } from "../mcp/protocol.ts";
import type { StoreHealth } from "./health.ts";
import { bindingField, decodeBinding, keys, type Scripts, subscriptionField } from "./keys.ts";

/** How long a replica may take to open a backend session before another may try. */
export const CLAIM_TTL_MS = 15_000;

export interface RedisStoreOptions {
  /** This process's name among the replicas. */
  replica: string;
  /** Gateway session lifetime: bounds a session hash the store never saw open. */
  sessionTtlMs: number;
  /** Waits between looks while another replica opens a backend session (tests shorten nothing). */
  pollMs?: number;
  /**
   * Tells this replica's projection of a binding found in the store that it did not know (opened elsewhere
   * before it started listening, or forgotten after its server failed here): later calls then find it there.
   */
  adopt?: (session: string, server: string, binding: BackendBinding, expiresAt: number) => void;
}

export class RedisSessionStore implements SessionStore {
  readonly #local = new InMemorySessionStore();

  constructor(
    private readonly redis: Redis,
    private readonly scripts: Scripts,
    private readonly health: StoreHealth,
    private readonly options: RedisStoreOptions,
  ) {}

  /** Runs `op` on the store while it is reachable; `fallback` otherwise, or when `op` fails. */
  async #shared<T>(what: string, op: () => Promise<T>, fallback: () => T | Promise<T>): Promise<T> {
    if (!this.health.link) return fallback();
    try {
      return await op();
    } catch (e) {
      this.health.fail(e, what);
      return fallback();
    }
  }

  /**
   * Resolves once the call is recorded here and queued for the store, without waiting for the store's answer:
   * the call is on its way to the backend before any follow-up to it can exist, and the store applies one
   * connection's commands in order, so a follow-up reaching another replica finds it. The call does not pay
   * a round trip.
   */
  async beginCall(session: string, rawId: string, route: CallRoute, ttlMs = CALL_TTL_MS): Promise<void> {
    await this.#local.beginCall(session, rawId, route, ttlMs);
    const json = JSON.stringify(route);
    void this.#shared("beginCall", async () => {
      await Promise.all([
        this.redis.set(keys.call(session, rawId), json, "PX", ttlMs),
        this.redis.set(keys.latest(session), json, "PX", ttlMs),
      ]);
    }, () => {});
  }

  async endCall(session: string, rawId: string): Promise<void> {
    await this.#local.endCall(session, rawId);
    await this.#shared("endCall", async () => void await this.redis.del(keys.call(session, rawId)), () => {});
  }

  call(session: string, rawId: string): Promise<CallRoute | undefined> {
    return this.#shared(
      "call",
      async () => parse<CallRoute>(await this.redis.get(keys.call(session, rawId))),
      () => this.#local.call(session, rawId),
    ).then((found) => found ?? this.#local.call(session, rawId));
  }

  latestCall(session: string): Promise<CallRoute | undefined> {
    return this.#shared(
      "latestCall",
      async () => parse<CallRoute>(await this.redis.get(keys.latest(session))),
      () => this.#local.latestCall(session),
    ).then((found) => found ?? this.#local.latestCall(session));
  }

  async relay(request: RelayedRequest): Promise<string> {
    const id = await this.#local.relay(request);
    const key = keys.relay(request.session, JSON.parse(id));
    await this.#shared(
      "relay",
      async () => void await this.redis.set(key, JSON.stringify(request), "PX", CALL_TTL_MS),
      () => {},
    );
    return id;
  }

  async takeRelayed(session: string, id: unknown): Promise<RelayedRequest | undefined> {
    if (typeof id !== "string" || !id.startsWith(RELAYED_REQUEST_ID_PREFIX)) return undefined;
    // Keyed by session: another session's answer finds nothing, as the in-process store says.
    const shared = await this.#shared(
      "takeRelayed",
      async () => parse<RelayedRequest>(await this.redis.getdel(keys.relay(session, id))),
      () => undefined,
    );
    const local = await this.#local.takeRelayed(session, id);
    return shared ?? local;
  }

  async setLogLevel(session: string, level: string): Promise<void> {
    await this.#local.setLogLevel(session, level);
    await this.#shared(
      "setLogLevel",
      () =>
        this.scripts.setSessionField(keys.session(session), ["l", level, String(this.options.sessionTtlMs)]),
      () => 0,
    );
  }

  logLevel(session: string): Promise<string | undefined> {
    return this.#shared(
      "logLevel",
      async () => (await this.redis.hget(keys.session(session), "l")) ?? undefined,
      () => this.#local.logLevel(session),
    ).then((found) => found ?? this.#local.logLevel(session));
  }

  async dropSession(session: string): Promise<void> {
    await this.#local.dropSession(session);
    // The session's hash goes with its SessionClosed event; calls and relayed requests expire by themselves
    // (a closed session can no longer send follow-ups).
    await this.#shared("dropSession", async () => void await this.redis.del(keys.latest(session)), () => {});
  }

  async bindOnce(session: string, server: string, open: () => Promise<BackendBinding>): Promise<BindResult> {
    const replica = this.options.replica;
    const claimKey = keys.claim(session, server);
    const deadline = Date.now() + CLAIM_TTL_MS + 1_000;
    let wait = this.options.pollMs ?? 5;
    while (this.health.link) {
      let found: string[];
      try {
        found = await this.scripts.claimBinding(
          [keys.session(session), keys.closed(session), claimKey],
          [bindingField(server), replica, String(CLAIM_TTL_MS), keys.alivePrefix],
        );
      } catch (e) {
        this.health.fail(e, "bindOnce");
        break;
      }
      if (found[0] === "closed") return { closed: true };
      if (found[0] === "bound") {
        const binding = decodeBinding(found[1]);
        this.options.adopt?.(session, server, binding, Number(found[2]));
        return { binding, opened: false };
      }
      if (found[0] === "claimed") {
        try {
          return { binding: await open(), opened: true };
        } catch (e) {
          // Free it at once: the next replica to try need not wait for the claim to expire.
          await this.scripts.release(claimKey, replica).catch(() => {});
          throw e;
        }
      }
      // Another live replica is opening it: its binding appears in the session's hash within moments.
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 100);
    }
    // Degraded (or a stuck claim): a backend session of this process's own, as a single gateway would.
    return { binding: await open(), opened: true };
  }

  async addSubscription(session: string, server: string, uri: string): Promise<void> {
    await this.#local.addSubscription(session, server, uri);
    await this.#shared(
      "addSubscription",
      () =>
        this.scripts.setSessionField(keys.session(session), [
          subscriptionField(server, uri),
          "1",
          String(this.options.sessionTtlMs),
        ]),
      () => 0,
    );
  }

  async removeSubscription(session: string, server: string, uri: string): Promise<void> {
    await this.#local.removeSubscription(session, server, uri);
    await this.#shared(
      "removeSubscription",
      () => this.redis.hdel(keys.session(session), subscriptionField(server, uri)),
      () => 0,
    );
  }

  async subscribedServers(session: string): Promise<string[]> {
    const shared = await this.#shared("subscribedServers", async () => {
      const fields = await this.redis.hkeys(keys.session(session));
      return fields.filter((f) => f.startsWith("u:")).map((f) => f.slice(2, f.indexOf("\n")));
    }, () => []);
    return [...new Set([...shared, ...await this.#local.subscribedServers(session)])];
  }

  /** Any replica reuses the backend session held for a 2026 caller, so its state is not split. */
  heldSession(key: string, server: string): Promise<HeldBackendSession | undefined> {
    return this.#shared(
      "heldSession",
      async () => parse<HeldBackendSession>(await this.redis.get(keys.held(key, server))),
      () => this.#local.heldSession(key, server),
    ).then((found) => found ?? this.#local.heldSession(key, server));
  }

  async holdSession(key: string, server: string, session: HeldBackendSession, ttlMs: number): Promise<void> {
    await this.#local.holdSession(key, server, session, ttlMs);
    await this.#shared(
      "holdSession",
      async () => void await this.redis.set(keys.held(key, server), JSON.stringify(session), "PX", ttlMs),
      () => {},
    );
  }

  async releaseSession(key: string, server: string, backendSession: string): Promise<void> {
    await this.#local.releaseSession(key, server, backendSession);
    await this.#shared("releaseSession", async () => {
      const held = parse<HeldBackendSession>(await this.redis.get(keys.held(key, server)));
      if (held?.id === backendSession) await this.redis.del(keys.held(key, server));
    }, () => {});
  }

  /** A task created through one replica is polled through any other. */
  async recordTask(taskId: string, route: TaskRoute, ttlMs: number): Promise<void> {
    await this.#local.recordTask(taskId, route, ttlMs);
    await this.#shared(
      "recordTask",
      async () => void await this.redis.set(keys.task(taskId), JSON.stringify(route), "PX", ttlMs),
      () => {},
    );
  }

  task(taskId: string): Promise<TaskRoute | undefined> {
    return this.#shared(
      "task",
      async () => parse<TaskRoute>(await this.redis.get(keys.task(taskId))),
      () => this.#local.task(taskId),
    ).then((found) => found ?? this.#local.task(taskId));
  }

  /** A retry reaching any replica finds the call held for it, and which replica reads it. */
  async holdInput(id: string, held: HeldInput, ttlMs: number): Promise<void> {
    await this.#local.holdInput(id, held, ttlMs);
    await this.#shared(
      "holdInput",
      async () => void await this.redis.set(keys.input(id), JSON.stringify(held), "PX", ttlMs),
      () => {},
    );
  }

  heldInput(id: string): Promise<HeldInput | undefined> {
    return this.#shared(
      "heldInput",
      async () => parse<HeldInput>(await this.redis.get(keys.input(id))),
      () => this.#local.heldInput(id),
    ).then((found) => found ?? this.#local.heldInput(id));
  }

  async releaseInput(id: string): Promise<void> {
    await this.#local.releaseInput(id);
    await this.#shared("releaseInput", async () => void await this.redis.del(keys.input(id)), () => {});
  }
}

function parse<T>(text: string | null): T | undefined {
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
