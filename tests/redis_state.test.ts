/**
 * The shared state in Redis, in-process against a real `redis-server`: several "replicas" (each its own log,
 * projections and connections) binding backend sessions, starting late from the store's state, and running
 * without the store. The end-to-end behaviour is in scale_replicas.test.ts; this pins the mechanisms.
 */
import { InMemoryEventLog } from "../src/events/log.ts";
import { silentLogger } from "../src/observe/log.ts";
import { openRedisState } from "../src/redis/mod.ts";
import { BackendBinder } from "../src/session/backend_binder.ts";
import { sessionMapProjection } from "../src/session/session_map.ts";
import type { SessionClaims } from "../src/session/tokens.ts";
import type { ServerConfig } from "../src/config/schema.ts";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { waitFor } from "./helpers/ports.ts";
import { startRedis } from "./helpers/redis.ts";

const SERVER = { name: "backend", url: "http://127.0.0.1:9/mcp" } as ServerConfig;

function claims(id = crypto.randomUUID()): SessionClaims {
  return { id, expiresAt: Date.now() + 3_600_000, protocolVersion: "2025-11-25", clientCapabilities: {} };
}

/** One replica's shared state, with a binder whose opener counts the backend sessions it opens. */
async function replica(
  url: string,
  open: () => Promise<string> = () => Promise.resolve(crypto.randomUUID()),
) {
  const log = new InMemoryEventLog();
  const state = openRedisState(log, { url, sessionTtlMs: 3_600_000, logger: silentLogger });
  const sessions = state.log.project(sessionMapProjection);
  let opened = 0;
  const binder = new BackendBinder(state.log, sessions, state.store, async () => {
    opened++;
    return { id: await open(), protocolVersion: "2025-11-25" };
  });
  await state.start(sessions);
  return { state, sessions, binder, opened: () => opened, [Symbol.asyncDispose]: () => state.close() };
}

Deno.test("replicas sharing Redis: one backend session per client, late starts, outages", async (t) => {
  await using redis = await startRedis();
  await using a = await replica(redis.url, async () => {
    await new Promise((r) => setTimeout(r, 50)); // a backend's initialize takes a while
    return crypto.randomUUID();
  });
  await using b = await replica(redis.url);

  await t.step("concurrent first calls on two replicas open one backend session", async () => {
    const session = claims();
    a.state.log.append({
      type: "SessionOpened",
      session: session.id,
      protocolVersion: "2025-11-25",
      expiresAt: session.expiresAt,
    });
    const [fromA, fromB] = await Promise.all([
      a.binder.acquire(session, SERVER),
      new Promise((r) => setTimeout(r, 10)).then(() => b.binder.acquire(session, SERVER)),
    ]);
    assertEquals(fromA, fromB);
    assertEquals(a.opened() + b.opened(), 1);
    // B learns it from A's event too: its next call needs no store round trip.
    await waitFor(
      () => b.sessions.state.open.get(session.id)?.backends?.get("backend")?.id === fromA.id,
      "B's projection",
    );
  });

  await t.step("a binding this replica forgot is taken from the store, and known again", async () => {
    const session = claims();
    const bound = await a.binder.acquire(session, SERVER);
    await waitFor(() => b.sessions.state.open.get(session.id)?.backends?.has("backend"), "B knows it");
    // The server failed here (a ping timed out): this replica forgets its bindings; the store keeps them.
    b.state.log.append({
      type: "UpstreamFailed",
      server: "backend",
      upstreamKey: "k",
      stage: "ping",
      reason: "x",
      retryInMs: 1,
    });
    assertEquals(b.sessions.state.open.get(session.id)?.backends?.has("backend"), false);
    const opened = b.opened();
    assertEquals((await b.binder.acquire(session, SERVER)).id, bound.id);
    assertEquals(b.opened(), opened, "no new backend session");
    assertEquals(b.sessions.state.open.get(session.id)?.backends?.get("backend")?.id, bound.id);
  });

  await t.step("a replica whose open fails frees the claim at once", async () => {
    await using failing = await replica(redis.url, () => Promise.reject(new Error("backend down")));
    const session = claims();
    await assertRejects(() => failing.binder.acquire(session, SERVER));
    const started = Date.now();
    const binding = await b.binder.acquire(session, SERVER);
    assert(binding.id && Date.now() - started < 1_000, "B opened it without waiting for the claim to expire");
  });

  await t.step("a replica that starts late starts from the store's state, not the stream", async () => {
    const open = claims();
    const closed = claims();
    const bound = await a.binder.acquire(open, SERVER);
    a.state.log.append({
      type: "SessionClosed",
      session: closed.id,
      reason: "deleted",
      expiresAt: closed.expiresAt,
    });
    await waitFor(
      async () => await redis.client().exists(`mcpgw:closed:${closed.id}`),
      "the tombstone stored",
    );
    await redis.client().xtrim("mcpgw:events", "MAXLEN", 0); // the tail is gone: only state remains
    await using late = await replica(redis.url);
    assertEquals(late.sessions.state.open.get(open.id)?.backends?.get("backend")?.id, bound.id);
    assert(late.sessions.state.closed.has(closed.id), "a DELETEd session is known closed");
    assertEquals(late.state.status().state, "ok");
    await assertRejects(() => late.binder.acquire(closed, SERVER), "no backend session for a closed session");
  });

  await t.step(
    "without the store: degraded, served from the replica's own state, then merged back",
    async () => {
      const known = claims();
      const bound = await a.binder.acquire(known, SERVER);
      await waitFor(() => b.sessions.state.open.get(known.id)?.backends?.has("backend"), "B knows it");
      await redis.kill();
      await b.state.store.beginCall(known.id, "1", {
        server: "backend",
        backendSession: bound.id,
        protocolVersion: "2025-11-25",
      });
      await waitFor(() => b.state.status().state === "degraded", "B degraded");
      assertEquals(
        (await b.state.store.call(known.id, "1"))?.backendSession,
        bound.id,
        "its own record serves",
      );
      assertEquals((await b.binder.acquire(known, SERVER)).id, bound.id, "a known binding is kept");
      const fresh = claims();
      const before = b.opened();
      await b.binder.acquire(fresh, SERVER);
      assertEquals(b.opened(), before + 1, "an unknown session gets a backend session of this replica's own");
      await redis.restart();
      await waitFor(
        () => a.state.status().state === "ok" && b.state.status().state === "ok",
        "both back",
        15_000,
      );
      const store = redis.client();
      assertEquals(await store.hexists(`mcpgw:s:${fresh.id}`, "b:backend"), 1, "B wrote back what it served");
      assertEquals(await store.hexists(`mcpgw:s:${known.id}`, "b:backend"), 1);
    },
  );
});
