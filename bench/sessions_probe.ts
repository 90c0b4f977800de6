/**
 * Scenario 5, in a process of its own (run with `--v8-flags=--expose-gc` so heap figures are after a full
 * collection): the cost of minting and verifying a gateway session token, and the heap a number of open
 * sessions (one backend session each) takes in the session-map projection, the token-verification cache,
 * and what is left after they close. Prints one JSON line.
 *
 * Run: `deno run -A --v8-flags=--expose-gc bench/sessions_probe.ts --counts 10000,100000 --token-ops 5000`
 */
import { parseArgs } from "node:util";
import { InMemoryEventLog } from "../src/events/log.ts";
import { sessionMapProjection } from "../src/session/session_map.ts";
import { TokenService } from "../src/session/tokens.ts";
import { summarize } from "./stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    counts: { type: "string", default: "10000,100000" },
    "token-ops": { type: "string", default: "5000" },
  },
});
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");
const heap = () => {
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
};
const us = (samples: number[]) => {
  const s = summarize(samples.map((ms) => ms * 1000));
  return { p50: s.p50, p99: s.p99, mean: s.mean };
};

// --- token costs
const tokens = new TokenService({
  signingKey: "bench-signing-key-0123456789abcdef0123456789",
  sessionMinutes: 60,
});
const ops = Number(values["token-ops"]);
const minted: string[] = [];
const mint: number[] = [];
for (let i = 0; i < ops + 200; i++) {
  const t = performance.now();
  const { token } = await tokens.mintSession("2025-11-25", {});
  if (i >= 200) mint.push(performance.now() - t);
  minted.push(token);
}
const verifyCold: number[] = [];
const verifyWarm: number[] = [];
let verifyErrors = 0;
for (let i = 0; i < minted.length; i++) {
  const t = performance.now();
  const r = await tokens.verifySession(minted[i]);
  if (i >= 200) verifyCold.push(performance.now() - t);
  if (!r.ok) verifyErrors++;
}
for (let i = 0; i < ops; i++) {
  const t = performance.now();
  const r = await tokens.verifySession(minted[i % 100]);
  verifyWarm.push(performance.now() - t);
  if (!r.ok) verifyErrors++;
}
minted.length = 0;

// --- memory per open session
const memory = [];
for (const count of values.counts.split(",").map(Number)) {
  const expiresAt = Date.now() + 3_600_000;
  const before = heap();
  const log = new InMemoryEventLog(1024);
  const sessions = log.project(sessionMapProjection);
  const empty = heap();
  // Ids are made here, inside the measured window: in the gateway they arrive with each request and the
  // projection is what keeps them.
  for (let i = 0; i < count; i++) {
    const session = crypto.randomUUID();
    log.append({ type: "SessionOpened", session, protocolVersion: "2025-11-25", expiresAt });
    log.append({
      type: "BackendSessionBound",
      session,
      server: "fast",
      backendSession: crypto.randomUUID(),
      protocolVersion: "2025-11-25",
      expiresAt,
    });
  }
  const open = heap();
  if (sessions.state.open.size !== count) throw new Error("projection lost sessions");
  // DELETE leaves a tombstone until the token would have expired; the sweeper then drops it.
  const ids = [...sessions.state.open.keys()];
  const idsBytes = heap() - open;
  for (const session of ids) log.append({ type: "SessionClosed", session, reason: "deleted", expiresAt });
  const deleted = heap() - idsBytes;
  for (const session of ids) log.append({ type: "SessionClosed", session, reason: "expired", expiresAt });
  ids.length = 0;
  const swept = heap();
  if (sessions.state.open.size !== 0 || sessions.state.closed.size !== 0) {
    throw new Error("sessions left over");
  }

  // The verification cache holds one entry per token verified (the broker verifies on every request).
  const cache = new TokenService({
    signingKey: "bench-signing-key-0123456789abcdef0123456789",
    sessionMinutes: 60,
  });
  const toks: string[] = [];
  for (let i = 0; i < Math.min(count, 100_000); i++) {
    toks.push((await cache.mintSession("2025-11-25", {})).token);
  }
  const beforeCache = heap();
  // A fresh string per token, as a request header is: the cache is what keeps it alive.
  for (const t of toks) await cache.verifySession(JSON.parse(JSON.stringify(t)));
  const cached = heap();
  for (const t of toks) cache.forget(t);
  const forgotten = heap();
  memory.push({
    sessions: count,
    // Strings are part of the cost: ids arrive as event fields and the projection keeps them.
    projectionBytesPerSession: (open - empty) / count,
    tombstoneBytesPerSession: (deleted - empty) / count,
    retainedAfterSweepBytes: swept - empty,
    tokenCacheBytesPerSession: (cached - beforeCache) / toks.length,
    retainedAfterForgetBytes: forgotten - beforeCache,
    logOverheadBytes: empty - before,
  });
  toks.length = 0;
}

console.log(JSON.stringify({
  tokenOps: ops,
  mintUs: us(mint),
  verifyColdUs: us(verifyCold),
  verifyCachedUs: us(verifyWarm),
  verifyErrors,
  memory,
}));
