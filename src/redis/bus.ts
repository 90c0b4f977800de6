/**
 * Delivery between replicas through the store: a message for a session whose GET stream is open on another
 * replica is published on the session's channel, which only replicas holding one of its streams listen to;
 * a backend session's GET stream is held by one replica (a key naming it, taken over once that replica's
 * heartbeat stops). Heartbeats also tell when a replica is gone, so the backend streams it held are opened
 * again elsewhere.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../observe/log.ts";
import type { SessionBus } from "../session/bus.ts";
import type { StoreHealth } from "./health.ts";
import { keys, type Scripts } from "./keys.ts";

/** A replica whose heartbeat is older than this is gone. */
export const HEARTBEAT_TTL_MS = 3_000;
const HEARTBEAT_EVERY_MS = 1_000;
/** A backend stream's holder key lives this long without renewal (its holder renews it on every claim). */
const OWNER_TTL_MS = 24 * 60 * 60_000;

export class RedisBus implements SessionBus {
  readonly shared = true;
  /** channel → receivers on this process. */
  #receivers = new Map<string, Set<(json: string) => void>>();
  /** Backend streams this process holds, as `owner` keys. */
  #held = new Set<string>();
  #peerLost = new Set<() => void>();
  /** Other replicas alive at the last heartbeat. */
  #seen = new Set<string>();
  #timer?: ReturnType<typeof setInterval>;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly scripts: Scripts,
    private readonly health: StoreHealth,
    readonly replica: string,
    private readonly logger: Logger,
  ) {
    subscriber.on("message", (channel: string, json: string) => {
      for (const receive of this.#receivers.get(channel) ?? []) receive(json);
    });
  }

  publish(session: string, json: string): Promise<boolean> {
    return this.#publish(keys.channel(session), json);
  }

  /** Whether anyone was subscribed to the channel; false without a link to the store. */
  async #publish(channel: string, json: string): Promise<boolean> {
    if (!this.health.link) return false;
    try {
      return await this.redis.publish(channel, json) > 0;
    } catch (e) {
      this.health.fail(e, "publish");
      return false;
    }
  }

  listen(session: string, receive: (json: string) => void): () => void {
    const channel = keys.channel(session);
    let receivers = this.#receivers.get(channel);
    if (!receivers) {
      this.#receivers.set(channel, receivers = new Set());
      if (this.health.link) this.subscriber.subscribe(channel).catch((e) => this.health.fail(e, "subscribe"));
    }
    receivers.add(receive);
    return () => {
      receivers.delete(receive);
      if (receivers.size || this.#receivers.get(channel) !== receivers) return;
      this.#receivers.delete(channel);
      if (this.health.link) this.subscriber.unsubscribe(channel).catch(() => {});
    };
  }

  async isAlive(replica: string): Promise<boolean> {
    if (replica === this.replica) return true;
    // Without the store nobody can tell: assume alive, so a follow-up fails on delivery rather than here.
    if (!this.health.link) return true;
    try {
      return await this.redis.exists(keys.alive(replica)) === 1;
    } catch (e) {
      this.health.fail(e, "isAlive");
      return true;
    }
  }

  async openBox(box: string, receive: (json: string) => void): Promise<() => void> {
    const channel = keys.box(box);
    let receivers = this.#receivers.get(channel);
    if (!receivers) {
      this.#receivers.set(channel, receivers = new Set());
      // Awaited: a message published before the subscription is in place would be lost.
      if (this.health.link) {
        await this.subscriber.subscribe(channel).catch((e) => this.health.fail(e, "subscribe"));
      }
    }
    receivers.add(receive);
    return () => {
      receivers.delete(receive);
      if (receivers.size || this.#receivers.get(channel) !== receivers) return;
      this.#receivers.delete(channel);
      if (this.health.link) this.subscriber.unsubscribe(channel).catch(() => {});
    };
  }

  sendToBox(box: string, json: string): Promise<boolean> {
    return this.#publish(keys.box(box), json);
  }

  async claimBackendStream(session: string, server: string): Promise<boolean> {
    const key = keys.owner(session, server);
    // Without the store each replica acts alone: it holds the streams of the backend sessions it opened.
    if (!this.health.link) {
      this.#held.add(key);
      return true;
    }
    try {
      const mine =
        await this.scripts.claimOwner(key, [this.replica, String(OWNER_TTL_MS), keys.alivePrefix]) === 1;
      if (mine) this.#held.add(key);
      return mine;
    } catch (e) {
      this.health.fail(e, "claimBackendStream");
      this.#held.add(key);
      return true;
    }
  }

  releaseBackendStream(session: string, server: string): void {
    const key = keys.owner(session, server);
    this.#held.delete(key);
    if (this.health.link) this.scripts.release(key, this.replica).catch(() => {});
  }

  onPeerLost(listener: () => void): () => void {
    this.#peerLost.add(listener);
    return () => this.#peerLost.delete(listener);
  }

  /**
   * After a (re-)sync: this replica's heartbeat, the channels it listens to and the backend streams it holds
   * are written again (a restarted store has none of them).
   */
  async restore(): Promise<void> {
    await this.#beat();
    const channels = [...this.#receivers.keys()];
    if (channels.length) await this.subscriber.subscribe(...channels);
    await Promise.all(
      [...this.#held].map((key) =>
        this.scripts.claimOwner(key, [this.replica, String(OWNER_TTL_MS), keys.alivePrefix])
      ),
    );
  }

  /** Heartbeats from now on (while the store is reachable), watching for replicas that stopped. */
  start(): void {
    this.#timer = setInterval(() => {
      if (!this.health.link) return;
      this.#beat().catch((e) => this.health.fail(e, "heartbeat"));
    }, HEARTBEAT_EVERY_MS);
  }

  async #beat(): Promise<void> {
    await Promise.all([
      this.redis.set(keys.alive(this.replica), String(Date.now()), "PX", HEARTBEAT_TTL_MS),
      this.redis.sadd(keys.replicas, this.replica),
    ]);
    const replicas = await this.redis.smembers(keys.replicas);
    const others = replicas.filter((r) => r !== this.replica);
    const alive = others.length ? await this.redis.mget(others.map((r) => keys.alive(r))) : [];
    const living = new Set(others.filter((_, i) => alive[i] !== null));
    // Judged against what this replica saw alive last time, so each replica notices every loss itself,
    // whoever tidies the set.
    const lost = [...this.#seen].filter((r) => !living.has(r));
    this.#seen = living;
    this.health.replicas = living.size + 1;
    const dead = others.filter((r) => !living.has(r));
    if (dead.length) await this.redis.srem(keys.replicas, ...dead);
    if (!lost.length) return;
    this.logger.info("replica gone: taking over the backend streams it held", { replicas: lost });
    for (const listener of this.#peerLost) listener();
  }

  /** Stops the heartbeat and says goodbye, so other replicas take over this one's streams at once. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    if (!this.health.link) return;
    await Promise.all([
      this.redis.del(keys.alive(this.replica)),
      this.redis.srem(keys.replicas, this.replica),
    ]).catch(() => {});
  }
}
