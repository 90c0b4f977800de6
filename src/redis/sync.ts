/**
 * Keeps this replica's session projection in step with the others': a snapshot of the store's state to start
 * from (never the whole history: the stream is bounded), then the stream's tail from the position read just
 * before the snapshot (an event seen in both folds to the same state). After an outage the same re-sync
 * runs, but first writes back what this replica served meanwhile, without overwriting another's: where two
 * replicas each opened a backend session for one client, the one in the store wins everywhere.
 */
import type { Redis } from "ioredis";
import type { ProjectionView } from "../events/log.ts";
import type { GatewayEvent } from "../events/types.ts";
import type { Logger } from "../observe/log.ts";
import type { SessionMapState } from "../session/session_map.ts";
import type { SharedEventLog } from "./event_log.ts";
import type { StoreHealth } from "./health.ts";
import { decodeBinding, encodeBinding, keys, type Scripts } from "./keys.ts";

/** Events of the stream's entries are read in batches of this many. */
const READ_COUNT = 256;
/** Sessions read or written back per round trip during a re-sync. */
const BATCH = 500;
/** `origin` of events folded from the store's state (a snapshot), not from another replica's append. */
export const SNAPSHOT_ORIGIN = "store";

export class StreamFollower {
  #lastId = "$";
  #generation = 0;
  #wake?: () => void;
  #stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly reader: Redis,
    private readonly scripts: Scripts,
    private readonly log: SharedEventLog,
    private readonly health: StoreHealth,
    private readonly replica: string,
    private readonly logger: Logger,
    private readonly onSynced: () => Promise<void>,
  ) {}

  /** Events received from other replicas since start. */
  received = 0;

  /**
   * One re-sync: position, write back, snapshot, then the follower resumes from the position. Throws when the
   * store cannot be reached (the caller retries).
   */
  async resync(sessions: ProjectionView<SessionMapState>): Promise<void> {
    for (const client of [this.redis, this.reader]) {
      if (client.status !== "ready") throw new Error(`not connected (${client.status})`);
    }
    this.health.link = true;
    const newest = await this.redis.xrevrange(keys.stream, "+", "-", "COUNT", 1);
    const position = newest[0]?.[0] ?? "0-0";
    const now = Date.now();
    await this.#writeBack(sessions.state, now);
    const counts = await this.#readSnapshot(sessions, now);
    await this.onSynced();
    this.#lastId = position;
    this.#generation++;
    this.health.synced();
    this.logger.debug("shared session state loaded", { ...counts, position });
    this.#wake?.();
  }

  /** This replica's sessions and bindings, where the store has none (after an outage; nothing at start). */
  async #writeBack(state: SessionMapState, now: number): Promise<void> {
    const writes: Promise<unknown>[] = [];
    const flush = async () => void await Promise.all(writes.splice(0));
    for (const [id, session] of state.open) {
      if (session.expiresAt <= now) continue;
      const bindings = [...session.backends ?? []].flatMap((
        [server, b],
      ) => [`b:${server}`, encodeBinding(b)]);
      writes.push(this.scripts.restoreSession(
        [keys.session(id), keys.closed(id)],
        [String(session.expiresAt), "", session.answersRequests ? "1" : "", ...bindings],
      ));
      if (writes.length >= BATCH) await flush();
    }
    for (const [id, expiresAt] of state.closed) {
      if (expiresAt <= now) continue;
      writes.push(this.redis.set(keys.closed(id), String(expiresAt), "PXAT", expiresAt, "NX"));
      writes.push(this.redis.del(keys.session(id)));
      if (writes.length >= BATCH) await flush();
    }
    await flush();
  }

  /** Folds the store's sessions and tombstones into `sessions`; the store wins where they differ. */
  async #readSnapshot(sessions: ProjectionView<SessionMapState>, now: number) {
    let opened = 0, bound = 0, closed = 0;
    for await (const batch of this.#scan(`${keys.sessionPrefix}*`)) {
      const hashes = await Promise.all(batch.map((key) => this.redis.hgetall(key)));
      batch.forEach((key, i) => {
        const id = key.slice(keys.sessionPrefix.length);
        const fields = hashes[i];
        const expiresAt = Number(fields.x);
        if (!(expiresAt > now) || sessions.state.closed.has(id)) return;
        if (!sessions.state.open.has(id)) {
          this.#ingest({
            type: "SessionOpened",
            session: id,
            protocolVersion: fields.v ?? "",
            expiresAt,
            answersRequests: fields.a === "1" || undefined,
          });
          opened++;
        }
        for (const [field, value] of Object.entries(fields)) {
          if (!field.startsWith("b:")) continue;
          const server = field.slice(2);
          const binding = decodeBinding(value);
          const mine = sessions.state.open.get(id)?.backends?.get(server);
          if (mine?.id === binding.id) continue;
          if (mine) {
            this.#ingest({
              type: "BackendSessionInvalidated",
              session: id,
              server,
              backendSession: mine.id,
              reason: "another replica's backend session for this client was recorded first",
            });
          }
          this.#ingest({
            type: "BackendSessionBound",
            session: id,
            server,
            backendSession: binding.id,
            protocolVersion: binding.protocolVersion,
            expiresAt,
          });
          bound++;
        }
      });
    }
    for await (const batch of this.#scan(`${keys.closedPrefix}*`)) {
      const values = await this.redis.mget(batch);
      batch.forEach((key, i) => {
        const id = key.slice(keys.closedPrefix.length);
        const expiresAt = Number(values[i]);
        if (!(expiresAt > now) || sessions.state.closed.has(id)) return;
        this.#ingest({ type: "SessionClosed", session: id, reason: "deleted", expiresAt });
        closed++;
      });
    }
    return { opened, bound, closed };
  }

  async *#scan(match: string): AsyncGenerator<string[]> {
    let cursor = "0";
    do {
      const [next, found] = await this.redis.scan(cursor, "MATCH", match, "COUNT", BATCH);
      cursor = next;
      if (found.length) yield found;
    } while (cursor !== "0");
  }

  #ingest(event: GatewayEvent) {
    this.log.ingest(event, SNAPSHOT_ORIGIN);
  }

  /** Reads other replicas' events until stopped; after a failure, waits for the next re-sync. */
  async follow(): Promise<void> {
    while (!this.#stopped) {
      if (!this.health.link || this.#generation === 0) {
        await new Promise<void>((resolve) => this.#wake = resolve);
        continue;
      }
      const generation = this.#generation;
      let entries;
      try {
        entries = await this.reader.xread(
          "COUNT",
          READ_COUNT,
          "BLOCK",
          1_000,
          "STREAMS",
          keys.stream,
          this.#lastId,
        );
      } catch (e) {
        if (this.#stopped) return;
        this.health.fail(e, "reading shared events");
        continue;
      }
      // A re-sync ran meanwhile: its position supersedes what this read started from.
      if (generation !== this.#generation || !entries) continue;
      for (const [, items] of entries) {
        for (const [id, fields] of items) {
          this.#lastId = id;
          const origin = fields[1];
          if (fields[0] !== "r" || origin === this.replica) continue;
          try {
            this.log.ingest(JSON.parse(fields[3]) as GatewayEvent, origin);
            this.received++;
          } catch (e) {
            this.logger.warn("unreadable shared event skipped", { id, error: e });
          }
        }
      }
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }
}
