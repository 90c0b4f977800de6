/** The pure parts of scale-out: store URLs, flags, which events replicas share, and folding a replay. */
import { assert, assertEquals } from "./helpers/assert.ts";
import { parseCli } from "../src/cli.ts";
import { fold } from "../src/events/projection.ts";
import type { GatewayEvent } from "../src/events/types.ts";
import { parseStoreUrl } from "../src/redis/connection.ts";
import { isShared } from "../src/redis/event_log.ts";
import { sessionMapProjection } from "../src/session/session_map.ts";
import { withoutWorkersFlag } from "../src/workers/supervisor.ts";

Deno.test("store URLs: host, port, db, TLS and credentials, never shown", () => {
  const url = parseStoreUrl("rediss://gw:s%40cret@redis.example:6380/2");
  assertEquals(
    [url.host, url.port, url.db, url.tls, url.username, url.password],
    ["redis.example", 6380, 2, true, "gw", "s@cret"],
  );
  assertEquals(url.redacted, "rediss://***:***@redis.example:6380/2");
  assertEquals([parseStoreUrl("redis://127.0.0.1").port, parseStoreUrl("redis://127.0.0.1").db], [6379, 0]);
  for (
    const [bad, why] of [["http://x", /memory, redis/], ["redis://h/x", /database must be a number/]] as const
  ) {
    let message = "";
    try {
      parseStoreUrl(bad);
    } catch (e) {
      message = (e as Error).message;
    }
    assert(why.test(message), message);
  }
});

Deno.test("flags: --session-store and SESSION_STORE_URL, --workers N and auto", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const fromEnv = parseCli([], env({ SESSION_STORE_URL: "redis://r:6379/0" }));
  assert(fromEnv.ok && fromEnv.options.sessionStore === "redis://r:6379/0" && fromEnv.options.workers === 1);
  const auto = parseCli(["--workers", "auto", "--session-store", "redis://r"], env({}));
  assert(auto.ok && auto.options.workers === navigator.hardwareConcurrency);
  const bad = parseCli(["--session-store", "memcached://x"], env({}));
  assert(!bad.ok && !bad.help && /--session-store must be memory/.test(bad.error));
  const zero = parseCli(["--workers", "0"], env({}));
  assert(!zero.ok && !zero.help && /--workers must be a whole number/.test(zero.error));
  assertEquals(withoutWorkersFlag(["--workers", "2", "--x", "--workers=3", "y"]), ["--x", "y"]);
});

Deno.test("replicas share session events, not config, discovery or expiry", () => {
  const events: GatewayEvent[] = [
    { type: "SessionOpened", session: "s", protocolVersion: "2025-11-25", expiresAt: 1 },
    {
      type: "BackendSessionBound",
      session: "s",
      server: "a",
      backendSession: "b",
      protocolVersion: "v",
      expiresAt: 1,
    },
    { type: "BackendSessionInvalidated", session: "s", server: "a", backendSession: "b", reason: "404" },
    { type: "SessionClosed", session: "s", reason: "deleted", expiresAt: 1 },
    { type: "SessionClosed", session: "s", reason: "expired", expiresAt: 1 },
    { type: "ConfigRejected", source: "x", reason: "y" },
    { type: "UpstreamRemoved", server: "a", upstreamKey: "k" },
  ];
  assertEquals(events.map(isShared), [true, true, true, true, false, false, false]);
});

Deno.test("a session opened again in a replay keeps the backend sessions learnt since", () => {
  const opened = { type: "SessionOpened", session: "s", protocolVersion: "v", expiresAt: 9e12 } as const;
  const state = fold(sessionMapProjection, [
    opened,
    {
      type: "BackendSessionBound",
      session: "s",
      server: "a",
      backendSession: "b1",
      protocolVersion: "v",
      expiresAt: 9e12,
    },
    opened,
  ]);
  assertEquals(state.open.get("s")?.backends?.get("a")?.id, "b1");
});
