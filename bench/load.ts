/**
 * Load generators over `RpcClient`s: N sequential calls on one session (latency), and C concurrent
 * sessions calling in a closed loop for a fixed time (throughput). Every answer is checked, so a fast
 * wrong answer counts as an error, not as speed.
 */
import type { RpcClient } from "./rpc_client.ts";
import { type LatencySummary, summarize } from "./stats.ts";

/** One call and the check of its answer; throws when the answer is wrong. */
export type Call = (client: RpcClient, i: number) => Promise<void>;

/** `tools/call` of an echo tool, checking the text comes back. */
export function echoCall(tool: string, expectPrefix = "Echo: "): Call {
  return async (client, i) => {
    const message = `m${i}`;
    const result = await client.request("tools/call", { name: tool, arguments: { message } });
    const text = result?.content?.[0]?.text;
    if (result?.isError || text !== `${expectPrefix}${message}`) {
      throw new Error(`unexpected answer: ${JSON.stringify(result).slice(0, 200)}`);
    }
  };
}

export interface SequentialResult {
  latency: LatencySummary;
  /** Raw per-call latencies (ms), for merging rounds. */
  samples: number[];
  errors: number;
  firstError?: string;
}

/** `n` calls one after another on one client, after `warmup` unmeasured ones. */
export async function runSequential(client: RpcClient, call: Call, n: number, warmup = 50) {
  for (let i = 0; i < warmup; i++) await call(client, -i - 1).catch(() => {});
  const samples: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    try {
      await call(client, i);
      samples.push(performance.now() - t0);
    } catch (e) {
      errors++;
      firstError ??= (e as Error).message;
    }
  }
  return { latency: summarize(samples), samples, errors, firstError } satisfies SequentialResult;
}

export interface ConcurrentResult {
  concurrency: number;
  requests: number;
  seconds: number;
  rps: number;
  latency: LatencySummary;
  errors: number;
  firstError?: string;
}

/**
 * `concurrency` clients (each its own session), each calling in a closed loop for `durationMs`.
 * Sessions are opened and warmed before the clock starts, and closed after.
 */
export async function runConcurrent(
  newClient: () => RpcClient,
  call: Call,
  concurrency: number,
  durationMs: number,
): Promise<ConcurrentResult> {
  const clients: RpcClient[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const fail = (e: unknown) => {
    errors++;
    firstError ??= (e as Error).message;
  };
  try {
    for (let i = 0; i < concurrency; i++) {
      const c = newClient();
      await c.initialize();
      clients.push(c);
    }
    await Promise.all(clients.map((c, w) => call(c, -w - 1).catch(fail)));
    // Warm-up failures (a backend session being opened) are part of the run's correctness too.
    const samples: number[] = [];
    const started = performance.now();
    const deadline = started + durationMs;
    await Promise.all(clients.map(async (c, w) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const t0 = performance.now();
        try {
          await call(c, w * 1_000_000 + i);
          samples.push(performance.now() - t0);
        } catch (e) {
          fail(e);
        }
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    return {
      concurrency,
      requests: samples.length,
      seconds,
      rps: samples.length / seconds,
      latency: summarize(samples),
      errors,
      firstError,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
  }
}
