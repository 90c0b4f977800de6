/**
 * Scenario 9, traces (issue 14): what tracing costs the gateway. The same sequential echo calls go through a
 * gateway without tracing (no OTLP endpoint: no tracer provider, every hook skipped) and through one that
 * traces every call (sampler always_on, the default OTLP/HTTP JSON exporter, spans exported to a sink in
 * this process), for a 2025 client (a backend session) and a 2026 client (stateless: the context also
 * spliced into `_meta`); both without the audit log, whose stdout lines would dominate the difference. The
 * figure that matters is the gateway process's own CPU per call (every thread's, from /proc schedstat;
 * export included: the batch processor is told to export every 100 ms, and each measurement waits for that
 * before reading the CPU). Off and on are measured back to back in each round (in alternating order), and
 * the added cost is the median of those paired differences: on a machine shared with other work the rounds
 * drift, and a pair sees the same drift.
 */
import { echoCall, runSequential } from "./load.ts";
import { readCpuSeconds } from "./proc_stats.ts";
import { type GatewayChild, startFastEchoProcess, startGatewayProcess, waitUntil } from "./processes.ts";
import { ModernClient, type RpcClient, StreamableClient } from "./rpc_client.ts";
import { summarize } from "./stats.ts";

export interface TracingRow {
  era: "2025" | "2026";
  tracing: "off" | "on";
  calls: number;
  p50: number;
  p99: number;
  /** The gateway process's CPU (every thread) per call, µs: the median over the rounds. */
  cpuUsPerCall: number;
  /** The same, round by round. */
  rounds: number[];
}

export interface TracingResult {
  rows: TracingRow[];
  /** CPU per call with tracing on minus off, µs, per era: the median of the rounds' paired differences. */
  addedCpuUs: Record<string, number>;
  /** Export requests and bytes the sink received from the traced gateway. */
  exports: { requests: number; bytes: number };
  errors: number;
  firstError?: string;
}

/** An OTLP/HTTP endpoint that accepts every export and counts it (not decoded). */
function startSink() {
  let requests = 0;
  let bytes = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    requests++;
    bytes += (await req.arrayBuffer()).byteLength;
    return Response.json({});
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    counts: () => ({ requests, bytes }),
    close: () => server.shutdown(),
  };
}

const EXPORT_DELAY_MS = 100;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function tracingScenario(p: { calls: number; rounds: number }): Promise<TracingResult> {
  const sink = startSink();
  const backend = await startFastEchoProcess({ dual: true });
  const gateways: GatewayChild[] = [];
  const out: TracingResult = { rows: [], addedCpuUs: {}, exports: { requests: 0, bytes: 0 }, errors: 0 };
  try {
    const servers = [{ name: "fast", url: backend.url, toolPrefix: "f_" }];
    const args = ["--audit-log", "off"];
    const off = await startGatewayProcess({ servers }, { args });
    gateways.push(off);
    const on = await startGatewayProcess({ servers }, {
      args,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
        OTEL_TRACES_SAMPLER: "always_on",
        OTEL_BSP_SCHEDULE_DELAY: String(EXPORT_DELAY_MS),
        // BENCH_OTEL_X=v gives the traced gateway OTEL_X=v, e.g. BENCH_OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
        // measures that encoding instead of the default JSON.
        ...Object.fromEntries(
          Object.entries(Deno.env.toObject()).filter(([k]) => k.startsWith("BENCH_OTEL_")).map((
            [k, v],
          ) => [k.slice("BENCH_".length), v]),
        ),
      },
    });
    gateways.push(on);
    for (const gw of gateways) {
      await waitUntil(async () => (await gw.status()).healthyServers >= 1, "the backend ready");
    }
    const eras = ["2025", "2026"] as const;
    const clientFor = (era: "2025" | "2026", gw: GatewayChild): RpcClient =>
      era === "2026" ? new ModernClient(gw.mcpUrl) : new StreamableClient(gw.mcpUrl);
    const acc = new Map<string, { samples: number[]; rounds: number[]; calls: number }>();
    for (let round = 0; round < p.rounds; round++) {
      for (const era of eras) {
        const pair = [["off", off], ["on", on]] as const;
        for (const [tracing, gw] of round % 2 ? [...pair].reverse() : pair) {
          const client = clientFor(era, gw);
          await client.initialize();
          // Warm-up outside the measured window (JIT, connections, a backend session).
          await runSequential(client, echoCall("f_echo"), 50, 0);
          await new Promise((r) => setTimeout(r, EXPORT_DELAY_MS * 2));
          const before = readCpuSeconds(gw.pid);
          const res = await runSequential(client, echoCall("f_echo"), p.calls, 0);
          // The spans of the last calls are exported within the delay: their cost belongs to these calls.
          await new Promise((r) => setTimeout(r, EXPORT_DELAY_MS * 2));
          const after = readCpuSeconds(gw.pid);
          await client.close();
          if (res.errors) {
            out.errors += res.errors;
            out.firstError ??= res.firstError;
          }
          const key = `${era}/${tracing}`;
          const a = acc.get(key) ?? { samples: [], rounds: [], calls: 0 };
          a.samples.push(...res.samples);
          a.calls += res.samples.length;
          if (before !== undefined && after !== undefined) {
            a.rounds.push(((after - before) * 1e6) / Math.max(1, res.samples.length));
          }
          acc.set(key, a);
        }
      }
    }
    for (const era of eras) {
      for (const tracing of ["off", "on"] as const) {
        const a = acc.get(`${era}/${tracing}`)!;
        const s = summarize(a.samples);
        out.rows.push({
          era,
          tracing,
          calls: a.calls,
          p50: s.p50,
          p99: s.p99,
          cpuUsPerCall: median(a.rounds),
          rounds: a.rounds,
        });
      }
      const [o, n] = out.rows.slice(-2);
      out.addedCpuUs[era] = median(n.rounds.map((us, i) => us - o.rounds[i]));
    }
    out.exports = sink.counts();
    if (out.exports.requests === 0) {
      out.errors++;
      out.firstError ??= "the traced gateway exported nothing";
    }
    return out;
  } finally {
    for (const gw of gateways) await gw.stop().catch(() => {});
    await backend.stop();
    await sink.close();
  }
}
