/**
 * The soak (`deno task bench --soak`, not in CI): many sessions held open for minutes, each calling at a
 * steady pace, against one gateway (broker path) over the fast echo backend serving both eras. Defaults:
 * 10,000 2025-era sessions and 1,000 2026-era clients, each calling `tools/call` every 10 s (1,100 calls/s),
 * for 5 minutes after a ramp-up that opens the sessions (each session's first call binds its backend
 * session). Every answer is checked; the gateway's RSS is sampled every 5 s, and memory is flat when the
 * last minute holds no more than the first minute after the ramp-up (within 5 %).
 *
 * Calls are paced by a clock, not chained: a slot every 10 ms fires the calls due in it, whether or not a
 * client's previous call has returned (an open-loop load, so a slow gateway shows as latency, never as a
 * lower rate).
 */
import { echoCall } from "./load.ts";
import { readProc } from "./proc_stats.ts";
import { startFastEchoProcess, startGatewayProcess, waitUntil } from "./processes.ts";
import { ModernClient, type RpcClient, StreamableClient } from "./rpc_client.ts";
import { type LatencySummary, summarize } from "./stats.ts";

export interface SoakOptions {
  /** 2025-era sessions. */
  sessions: number;
  /** 2026-era clients (stateless). */
  modern: number;
  /** Seconds between two calls of one client. */
  periodSeconds: number;
  /** Seconds of steady load measured (after the ramp-up). */
  seconds: number;
  /** Sessions opened per second during the ramp-up. */
  rampPerSecond: number;
}

export const SOAK_DEFAULTS: SoakOptions = {
  sessions: 10_000,
  modern: 1_000,
  periodSeconds: 10,
  seconds: 300,
  rampPerSecond: 500,
};

export interface SoakResult {
  options: SoakOptions;
  /** Calls answered in the measured window, and their latency (ms). */
  calls: number;
  callsPerSecond: number;
  latency: LatencySummary;
  latency2025: LatencySummary;
  latency2026: LatencySummary;
  errors: number;
  firstError?: string;
  /** Calls fired while the same client's previous call was still out (the gateway falling behind). */
  overlapping: number;
  rampSeconds: number;
  /** Gateway RSS (MiB) every 5 s of the measured window, and the backend's at the end. */
  rss: { atSeconds: number; gatewayMiB: number }[];
  /** Mean gateway RSS of the first and of the last minute of the window (MiB), and whether it is flat. */
  firstMinuteMiB: number;
  lastMinuteMiB: number;
  memoryFlat: boolean;
  gatewayCpuCores: number;
  backendRssMiB: number;
  /** Per minute of the window: calls, p50 and p99 (ms), errors. */
  minutes: { minute: number; calls: number; p50: number; p99: number; errors: number }[];
}

const SLOT_MS = 10;

export async function soakScenario(o: SoakOptions, log: (line: string) => void): Promise<SoakResult> {
  const backend = await startFastEchoProcess({ dual: true });
  try {
    const gateway = await startGatewayProcess(
      { servers: [{ name: "fast", url: backend.url, toolPrefix: "f_" }] },
      { checkIntervalSeconds: 10 },
    );
    try {
      await waitUntil(async () => (await gateway.status()).healthyServers === 1, "the backend ready");
      return await run(o, gateway.mcpUrl, gateway.pid, backend.pid, log);
    } finally {
      await gateway.stop();
    }
  } finally {
    await backend.stop();
  }
}

interface Caller {
  client: RpcClient;
  era: "2025" | "2026";
  busy: boolean;
  n: number;
}

async function run(
  o: SoakOptions,
  url: string,
  gatewayPid: number,
  backendPid: number,
  log: (line: string) => void,
): Promise<SoakResult> {
  const call = echoCall("f_echo");
  const slots = Math.round((o.periodSeconds * 1000) / SLOT_MS);
  const schedule: Caller[][] = Array.from({ length: slots }, () => []);
  let errors = 0;
  let firstError: string | undefined;
  let overlapping = 0;
  let measuring = false;
  const latencies: number[] = [];
  const eras: ("2025" | "2026")[] = [];
  const finishedAt: number[] = [];
  const failedAt: number[] = [];
  let windowStart = 0;
  const fail = (e: unknown) => {
    errors++;
    firstError ??= (e as Error).message;
    if (measuring) failedAt.push(performance.now() - windowStart);
  };
  const fire = (c: Caller) => {
    if (c.busy) overlapping++;
    c.busy = true;
    const t0 = performance.now();
    call(c.client, c.n++).then(() => {
      if (!measuring) return;
      const now = performance.now();
      latencies.push(now - t0);
      eras.push(c.era);
      finishedAt.push(now - windowStart);
    }, fail).finally(() => c.busy = false);
  };

  // The clock: every slot fires the calls due in it.
  let slot = 0;
  let ticking = true;
  const clock = (async () => {
    let next = performance.now();
    while (ticking) {
      for (const c of schedule[slot]) fire(c);
      slot = (slot + 1) % slots;
      next += SLOT_MS;
      const wait = next - performance.now();
      await new Promise((r) => setTimeout(r, Math.max(0, wait)));
    }
  })();

  // Ramp-up: open sessions (2025: initialize; 2026: server/discover) at a steady rate, each joining the
  // schedule at a random phase once open.
  const rampStarted = performance.now();
  const total = o.sessions + o.modern;
  const batch = Math.max(1, Math.round(o.rampPerSecond / 20));
  let opened = 0;
  const callers: Caller[] = [];
  let modernLeft = o.modern;
  let legacyLeft = o.sessions;
  for (let i = 0; i < total; i += batch) {
    const started = performance.now();
    const wave: Promise<Caller | undefined>[] = [];
    for (let j = i; j < Math.min(total, i + batch); j++) {
      // Spread the 2026 clients evenly through the ramp.
      const modern = modernLeft > 0 && (legacyLeft === 0 || (j * o.modern) % total < o.modern);
      if (modern) modernLeft--;
      else legacyLeft--;
      wave.push(openAs(modern ? "2026" : "2025"));
    }
    for (const c of await Promise.all(wave)) if (c) callers.push(c);
    const wait = 50 - (performance.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if ((i / batch) % 40 === 0) log(`soak: ${opened}/${total} sessions open`);
  }
  async function openAs(era: "2025" | "2026"): Promise<Caller | undefined> {
    const client: RpcClient = era === "2026" ? new ModernClient(url) : new StreamableClient(url);
    try {
      await client.initialize();
      const caller: Caller = { client, era, busy: false, n: 0 };
      schedule[Math.floor(Math.random() * slots)].push(caller);
      opened++;
      return caller;
    } catch (e) {
      fail(e);
      return undefined;
    }
  }
  // One full period after the last session opened: every session has made its first call (the backend
  // binding) before the measured window starts.
  await new Promise((r) => setTimeout(r, o.periodSeconds * 1000));
  const rampSeconds = (performance.now() - rampStarted) / 1000;
  const errorsBefore = errors;
  log(
    `soak: ${opened} sessions open in ${
      rampSeconds.toFixed(0)
    } s (${errorsBefore} errors); measuring ${o.seconds} s`,
  );

  windowStart = performance.now();
  measuring = true;
  const cpuBefore = readProc(gatewayPid)?.cpuSeconds ?? NaN;
  const rss: { atSeconds: number; gatewayMiB: number }[] = [];
  const sampleRss = () => {
    const at = (performance.now() - windowStart) / 1000;
    rss.push({ atSeconds: Math.round(at), gatewayMiB: (readProc(gatewayPid)?.rssKiB ?? NaN) / 1024 });
  };
  sampleRss();
  const sampler = setInterval(() => {
    sampleRss();
    const at = rss.at(-1)!;
    if (at.atSeconds % 30 === 0) {
      log(
        `soak: ${at.atSeconds} s, ${latencies.length} calls, ${errors} errors, gateway ${
          at.gatewayMiB.toFixed(0)
        } MiB`,
      );
    }
  }, 5_000);
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  clearInterval(sampler);
  sampleRss();
  measuring = false;
  const windowSeconds = (performance.now() - windowStart) / 1000;
  const cpuSeconds = (readProc(gatewayPid)?.cpuSeconds ?? NaN) - cpuBefore;
  ticking = false;
  await clock;
  const backendRssMiB = (readProc(backendPid)?.rssKiB ?? NaN) / 1024;
  // Let calls in flight settle, then end the sessions.
  await new Promise((r) => setTimeout(r, 2_000));
  for (let i = 0; i < callers.length; i += 200) {
    await Promise.all(callers.slice(i, i + 200).map((c) => c.client.close().catch(() => {})));
  }

  // Whole minutes; the last takes the few calls past its end.
  const minuteCount = Math.max(1, Math.round(windowSeconds / 60));
  const minuteOf = (ms: number) => Math.min(minuteCount - 1, Math.floor(ms / 60_000));
  const minutes = Array.from({ length: minuteCount }, (_, m) => {
    const inMinute: number[] = [];
    for (let i = 0; i < latencies.length; i++) if (minuteOf(finishedAt[i]) === m) inMinute.push(latencies[i]);
    const s = summarize(inMinute);
    return {
      minute: m + 1,
      calls: inMinute.length,
      p50: s.p50,
      p99: s.p99,
      errors: failedAt.filter((t) => minuteOf(t) === m).length,
    };
  });
  const meanRss = (from: number, to: number) => {
    const xs = rss.filter((r) => r.atSeconds >= from && r.atSeconds <= to).map((r) => r.gatewayMiB);
    return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  };
  const firstMinuteMiB = meanRss(0, 60);
  const lastMinuteMiB = meanRss(windowSeconds - 60, windowSeconds + 1);
  return {
    options: o,
    calls: latencies.length,
    callsPerSecond: latencies.length / windowSeconds,
    latency: summarize(latencies),
    latency2025: summarize(latencies.filter((_, i) => eras[i] === "2025")),
    latency2026: summarize(latencies.filter((_, i) => eras[i] === "2026")),
    errors,
    firstError,
    overlapping,
    rampSeconds,
    rss,
    firstMinuteMiB,
    lastMinuteMiB,
    memoryFlat: lastMinuteMiB <= firstMinuteMiB * 1.05,
    gatewayCpuCores: cpuSeconds / windowSeconds,
    backendRssMiB,
    minutes,
  };
}
