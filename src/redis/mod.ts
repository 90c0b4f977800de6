/**
 * The shared state of replicas (and local workers) in Redis or Valkey: the session events of the log, the
 * session store, delivery between replicas, and what happens when the store goes away and comes back.
 * `src/gateway.ts` builds it from `--session-store`; nothing else in the gateway knows it is Redis.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { Logger } from "../observe/log.ts";
import type { SessionMapState } from "../session/session_map.ts";
import type { SessionStoreStatus, SharedState } from "../session/shared_state.ts";
import { RedisBus } from "./bus.ts";
import { openConnection, parseStoreUrl } from "./connection.ts";
import { type SharedEvent, SharedEventLog } from "./event_log.ts";
import { StoreHealth } from "./health.ts";
import { defineScripts, keys } from "./keys.ts";
import { RedisSessionStore } from "./session_store.ts";
import { SNAPSHOT_ORIGIN, StreamFollower } from "./sync.ts";

/** Shared events the stream keeps (about; trimmed by whole nodes): the tail a replica that fell behind reads. */
export const STREAM_MAXLEN = 10_000;
/** How long startup waits for the store before serving degraded. */
const START_TIMEOUT_MS = 5_000;

export interface RedisStateOptions {
  url: string;
  /** Gateway session lifetime in ms. */
  sessionTtlMs: number;
  logger: Logger;
  /** This process's name among the replicas (default: host name, pid and a random suffix). */
  replica?: string;
}

/** A replica's name: readable in logs (the pod's host name), unique across restarts. */
function replicaName(): string {
  let host = "gateway";
  try {
    host = Deno.hostname();
  } catch { /* no permission: a generic name */ }
  return `${host}/${Deno.pid}/${crypto.randomUUID().slice(0, 6)}`;
}

/** The events' fields as the append script takes them. */
function appendArgs(replica: string, event: SharedEvent, now: number): string[] {
  const server = "server" in event ? event.server : "";
  const backend = "backendSession" in event ? event.backendSession : "";
  const version = "protocolVersion" in event ? event.protocolVersion : "";
  const expiresAt = "expiresAt" in event ? String(event.expiresAt) : "0";
  const answers = event.type === "SessionOpened" && event.answersRequests ? "1" : "";
  return [
    replica,
    JSON.stringify(event),
    String(STREAM_MAXLEN),
    event.type,
    server,
    backend,
    version,
    expiresAt,
    answers,
    String(now),
  ];
}

/** Connects (in the background) and returns the shared state; `start` loads it. */
export function openRedisState(local: EventLog, options: RedisStateOptions): SharedState {
  const url = parseStoreUrl(options.url);
  const replica = options.replica ?? replicaName();
  const logger = options.logger.with({ component: "session-store" });
  const health = new StoreHealth(logger);
  const redis = openConnection(url, "commands", replica);
  const reader = openConnection(url, "reader", replica);
  const subscriber = openConnection(url, "subscriber", replica);
  const scripts = defineScripts(redis);
  let published = 0;
  let unpublished = 0;

  const publish = (event: SharedEvent) => {
    // Not sent while the store is away: the re-sync writes back the state these events built.
    if (!health.link) return void unpublished++;
    const session = event.session;
    const server = "server" in event ? event.server : "";
    scripts.appendEvent(
      [keys.stream, keys.session(session), keys.closed(session), keys.claim(session, server)],
      appendArgs(replica, event, Date.now()),
    ).then(() => published++, (e) => {
      unpublished++;
      health.fail(e, "publishing a session event");
    });
  };
  const log = new SharedEventLog(local, publish);
  const store = new RedisSessionStore(redis, scripts, health, {
    replica,
    sessionTtlMs: options.sessionTtlMs,
    adopt: (session, server, binding, expiresAt) =>
      expiresAt > Date.now() && log.ingest({
        type: "BackendSessionBound",
        session,
        server,
        backendSession: binding.id,
        protocolVersion: binding.protocolVersion,
        expiresAt,
      }, SNAPSHOT_ORIGIN),
  });
  const bus = new RedisBus(redis, subscriber, scripts, health, replica, logger);
  const follower = new StreamFollower(
    redis,
    reader,
    scripts,
    log,
    health,
    replica,
    logger,
    () => bus.restore(),
  );

  let sessions: ProjectionView<SessionMapState> | undefined;
  let closed = false;
  let recovering: Promise<void> | undefined;
  const resync = () => follower.resync(sessions!);
  /** Retries the re-sync until it succeeds: the gateway recovers by itself. */
  const recover = () =>
    recovering ??= (async () => {
      for (let attempt = 0; !closed && health.state !== "ok"; attempt++) {
        await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** attempt, 2_000)));
        if (closed) break;
        try {
          await resync();
        } catch (e) {
          health.fail(e, "re-sync");
        }
      }
      recovering = undefined;
    })();
  health.onDegraded(() => void recover());

  let following: Promise<void> | undefined;
  return {
    log,
    store,
    bus,
    status(): SessionStoreStatus {
      return {
        kind: "redis",
        state: health.state,
        since: new Date(health.since).toISOString(),
        url: url.redacted,
        replica,
        replicas: health.replicas,
        lastError: health.lastError
          ? { message: health.lastError.message, at: new Date(health.lastError.at).toISOString() }
          : undefined,
      };
    },
    async start(view) {
      sessions = view;
      const connecting = Promise.all([redis.connect(), reader.connect(), subscriber.connect()]);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${START_TIMEOUT_MS} ms`)),
          START_TIMEOUT_MS,
        );
      });
      try {
        await Promise.race([connecting.then(resync), timeout]);
        logger.info("session store connected", { url: url.redacted, replica });
      } catch (e) {
        connecting.catch(() => {});
        health.fail(e, "connecting");
      } finally {
        clearTimeout(timer);
      }
      bus.start();
      following = follower.follow();
    },
    instrument(registry: Registry) {
      new Gauge({
        name: "mcp_gateway_session_store_up",
        help: "1 while the shared session store is reachable and this replica is in sync with it, else 0.",
        registers: [registry],
        collect() {
          this.set(health.state === "ok" ? 1 : 0);
        },
      });
      new Gauge({
        name: "mcp_gateway_session_store_degraded",
        help:
          "1 while the session store is unreachable and sessions are served from this replica's own state.",
        registers: [registry],
        collect() {
          this.set(health.state === "degraded" ? 1 : 0);
        },
      });
      new Counter({
        name: "mcp_gateway_session_store_errors_total",
        help: "Session store commands that failed (each one turns the state degraded until a re-sync).",
        registers: [registry],
        collect() {
          this.reset();
          this.inc(health.errors);
        },
      });
      new Counter({
        name: "mcp_gateway_shared_events_total",
        help:
          "Session events sent to other replicas (published), received from them, or not sent (unpublished).",
        labelNames: ["direction"],
        registers: [registry],
        collect() {
          this.reset();
          this.inc({ direction: "published" }, published);
          this.inc({ direction: "received" }, follower.received);
          this.inc({ direction: "unpublished" }, unpublished);
        },
      });
      new Gauge({
        name: "mcp_gateway_replicas",
        help: "Replicas (processes) sharing the session store, this one included, as last seen.",
        registers: [registry],
        collect() {
          this.set(health.replicas);
        },
      });
    },
    async close() {
      closed = true;
      follower.stop();
      await bus.stop();
      for (const client of [redis, reader, subscriber]) client.disconnect();
      await following;
    },
  };
}
