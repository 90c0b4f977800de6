/**
 * Scenario 8, horizontal scale (issue 12): what the shared session store costs and what local workers buy.
 *
 * - Added latency per call: sequential echo calls over one session through a gateway with the embedded store
 *   and through one with Redis (`--session-store`), rounds interleaved; and the store's own per-call work
 *   (`beginCall` + `endCall`, in-process against the same Redis).
 * - Memory per session in Redis: `used_memory` before and after N sessions that each made one call (the
 *   session's hash with its binding, its latest-call key, its share of the event stream).
 * - Throughput with `--workers 1` and `--workers 2` (Redis store) at C closed-loop clients on the fast backend.
 */
import { InMemoryEventLog } from "../src/events/log.ts";
import { silentLogger } from "../src/observe/log.ts";
import { openRedisState } from "../src/redis/mod.ts";
import { sessionMapProjection } from "../src/session/session_map.ts";
import { startRedis } from "../tests/helpers/redis.ts";
import { echoCall, runConcurrent, runSequential } from "./load.ts";
import { type GatewayChild, startFastEchoProcess, startGatewayProcess, waitUntil } from "./processes.ts";
import { StreamableClient } from "./rpc_client.ts";
import { round, summarize } from "./stats.ts";

export interface StoreResult {
  redisVersion: string;
  latency: { store: "memory" | "redis"; p50: number; p99: number; calls: number }[];
  /** Redis p50 minus embedded p50, per call (ms). */
  addedP50: number;
  /** The store's own work per call, in-process (ms). */
  storeOps: { p50: number; p99: number };
  memory: { sessions: number; bytesPerSession: number; hashBytes: number; streamEntries: number };
  workers: {
    workers: number;
    concurrency: number;
    rps: number;
    p50: number;
    errors: number;
    firstError?: string;
  }[];
  errors: number;
  firstError?: string;
}

export interface StoreParams {
  calls: number;
  rounds: number;
  sessions: number;
  concurrency: number;
  durationMs: number;
}

/** Until `n` distinct workers answer `/status` on new connections, each with every backend ready. */
async function workersReady(gw: GatewayChild, n: number) {
  await waitUntil(async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6 * n; i++) {
      const client = Deno.createHttpClient({});
      try {
        const status = await (await fetch(`${gw.baseUrl}/status`, { client })).json();
        if (status.healthyServers >= 1 && status.sessionStore?.state === "ok") {
          seen.add(status.sessionStore.replica);
        }
      } finally {
        client.close();
      }
    }
    return seen.size >= n;
  }, `${n} workers ready`);
}

export async function storeScenario(p: StoreParams): Promise<StoreResult> {
  await using redis = await startRedis();
  const fast = await startFastEchoProcess();
  const cleanups: (() => Promise<void>)[] = [fast.stop];
  const out: StoreResult = {
    redisVersion: "",
    latency: [],
    addedP50: NaN,
    storeOps: { p50: NaN, p99: NaN },
    memory: { sessions: 0, bytesPerSession: NaN, hashBytes: NaN, streamEntries: 0 },
    workers: [],
    errors: 0,
  };
  const fail = (n: number, first?: string) => {
    out.errors += n;
    out.firstError ??= first;
  };
  try {
    const admin = redis.client();
    out.redisVersion = /redis_version:(\S+)/.exec(await admin.info("server"))?.[1] ?? "?";
    const servers = [{ name: "fast", url: fast.url, toolPrefix: "f_" }];
    const gateway = (args: string[] = []) => startGatewayProcess({ servers }, { args });

    // Added latency: the same calls through both stores, rounds interleaved so drift hits both alike.
    const memory = await gateway();
    cleanups.push(memory.stop);
    const shared = await gateway(["--session-store", redis.url]);
    cleanups.push(shared.stop);
    for (const gw of [memory, shared]) await workersReady(gw, 1);
    const samples: Record<"memory" | "redis", number[]> = { memory: [], redis: [] };
    for (let round = 0; round < p.rounds; round++) {
      for (const [store, gw] of [["memory", memory], ["redis", shared]] as const) {
        const client = new StreamableClient(gw.mcpUrl);
        await client.initialize();
        const res = await runSequential(client, echoCall("f_echo"), p.calls);
        samples[store].push(...res.samples);
        if (res.errors) fail(res.errors, res.firstError);
        await client.close();
      }
    }
    for (const store of ["memory", "redis"] as const) {
      const s = summarize(samples[store]);
      out.latency.push({ store, p50: s.p50, p99: s.p99, calls: samples[store].length });
    }
    out.addedP50 = out.latency[1].p50 - out.latency[0].p50;

    // Memory per session in Redis: N sessions, one call each, through the Redis-backed gateway.
    await admin.flushdb();
    const before = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1]);
    const opened: StreamableClient[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < p.sessions) {
        next++;
        const client = new StreamableClient(shared.mcpUrl);
        try {
          await client.initialize();
          await echoCall("f_echo")(client, 0);
          opened.push(client);
        } catch (e) {
          fail(1, (e as Error).message);
        }
      }
    }));
    // The call's own key goes once it ends; what stays is what a session costs while it lives.
    await new Promise((r) => setTimeout(r, 200));
    const after = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1]);
    const sampleKey = (await admin.scan("0", "MATCH", "mcpgw:s:*", "COUNT", 100))[1][0];
    out.memory = {
      sessions: opened.length,
      bytesPerSession: (after - before) / Math.max(1, opened.length),
      hashBytes: sampleKey ? Number(await admin.memory("USAGE", sampleKey)) : NaN,
      streamEntries: Number(await admin.xlen("mcpgw:events")),
    };

    // The store's own work per call, in-process against the same Redis.
    const log = new InMemoryEventLog();
    const state = openRedisState(log, { url: redis.url, sessionTtlMs: 3_600_000, logger: silentLogger });
    await state.start(log.project(sessionMapProjection));
    const route = { server: "fast", backendSession: "b", protocolVersion: "2025-11-25" };
    const ops: number[] = [];
    for (let i = 0; i < p.calls; i++) {
      const t0 = performance.now();
      await state.store.beginCall("bench-session", `${i}`, route);
      await state.store.endCall("bench-session", `${i}`);
      ops.push(performance.now() - t0);
    }
    await state.close();
    const opStats = summarize(ops.slice(Math.min(100, ops.length / 2)));
    out.storeOps = { p50: opStats.p50, p99: opStats.p99 };
    await Promise.all(opened.map((c) => c.close()));
    for (const gw of [memory, shared]) await gw.stop();
    cleanups.length = 1;

    // Throughput with 1 and 2 local workers sharing the port and the store.
    for (const workers of [1, 2]) {
      const gw = await gateway(["--session-store", redis.url, "--workers", String(workers)]);
      try {
        await workersReady(gw, workers);
        // Warm every worker up (JIT, connections) before measuring.
        await runConcurrent(() => new StreamableClient(gw.mcpUrl), echoCall("f_echo"), p.concurrency, 500);
        const res = await runConcurrent(
          () => new StreamableClient(gw.mcpUrl),
          echoCall("f_echo"),
          p.concurrency,
          p.durationMs,
        );
        out.workers.push({
          workers,
          concurrency: p.concurrency,
          rps: round(res.rps, 0),
          p50: res.latency.p50,
          errors: res.errors,
          firstError: res.firstError,
        });
        if (res.errors) fail(res.errors, res.firstError);
      } finally {
        await gw.stop();
      }
    }
    return out;
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}
