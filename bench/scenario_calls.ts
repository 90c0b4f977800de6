/**
 * Scenarios 1, 2 and 6: per-call latency over one session (direct, broker, Envoy path), throughput at
 * several concurrencies, and mcp-hub over the same backends. Each row carries the RSS/CPU of the
 * processes on its path (scenario 7).
 */
import { echoCall, runConcurrent, runSequential } from "./load.ts";
import { installMcpHub, MCP_HUB_VERSION, startMcpHub } from "./mcp_hub.ts";
import { type ProcUsage, sampleProc } from "./proc_stats.ts";
import { LegacySseClient, ModernClient, type RpcClient, SdkClient, StreamableClient } from "./rpc_client.ts";
import { directOf } from "./report.ts";
import { type LatencySummary, summarize } from "./stats.ts";
import type { Path, Topology } from "./topology.ts";

export interface LatencyRow {
  backend: string;
  path: string;
  latency: LatencySummary;
  errors: number;
  /** Of `errors`, those the Envoy emulator reports as its own gRPC transport failures (not a wrong answer). */
  emulatorErrors?: number;
  firstError?: string;
  /** Added over direct on the same backend (ms), and the ratio of the means. */
  addedP50?: number;
  addedP99?: number;
  addedMean?: number;
  ratioMean?: number;
  usage: Record<string, ProcUsage | undefined>;
}

export interface ThroughputRow {
  backend: string;
  path: string;
  concurrency: number;
  rps: number;
  p99: number;
  p50: number;
  requests: number;
  errors: number;
  /** Of `errors`, those the Envoy emulator reports as its own gRPC transport failures (not a wrong answer). */
  emulatorErrors?: number;
  firstError?: string;
  /** rps / direct rps at the same concurrency. */
  vsDirect?: number;
  usage: Record<string, ProcUsage | undefined>;
}

function sampleAll(pids: Record<string, number>) {
  const samplers = Object.entries(pids).map(([k, pid]) => [k, sampleProc(pid)] as const);
  return () => Object.fromEntries(samplers.map(([k, s]) => [k, s.stop()]));
}

/** A client for a path's era: a 2025 session, or stateless 2026-07-28; the SDK's own where the path says. */
function clientFor(path: Path): RpcClient {
  if (path.client === "sdk") return new SdkClient(path.url);
  return path.era === "2026" ? new ModernClient(path.url) : new StreamableClient(path.url);
}

function withDeltas<T extends { backend: string; path: string; latency: LatencySummary }>(
  rows: (T & Partial<LatencyRow>)[],
) {
  for (const row of rows) {
    const direct = rows.find((r) => r.backend === row.backend && r.path === directOf(row.path));
    if (!direct || row === direct) continue;
    row.addedP50 = row.latency.p50 - direct.latency.p50;
    row.addedP99 = row.latency.p99 - direct.latency.p99;
    row.addedMean = row.latency.mean - direct.latency.mean;
    row.ratioMean = row.latency.mean / direct.latency.mean;
  }
  return rows;
}

/** Scenario 1: `n` sequential echo calls per (backend, path), one session each, in interleaved rounds. */
export async function callOverhead(topo: Topology, n: number, rounds: number): Promise<LatencyRow[]> {
  const rows: LatencyRow[] = [];
  for (const backend of topo.backends) {
    // Rounds interleave the paths, so drift (CPU frequency, GC, other load) hits every path alike.
    const acc = new Map(backend.paths.map((p) => [p.name, {
      samples: [] as number[],
      errors: 0,
      emulatorErrors: 0,
      firstError: undefined as string | undefined,
      usage: [] as Record<string, ProcUsage | undefined>[],
    }]));
    const clients = new Map<string, RpcClient>();
    try {
      for (const path of backend.paths) {
        const c = clientFor(path);
        await c.initialize();
        clients.set(path.name, c);
      }
      const perRound = Math.ceil(n / rounds);
      for (let r = 0; r < rounds; r++) {
        for (const path of backend.paths) {
          const stop = sampleAll(path.pids);
          const before = topo.envoy?.counted() ?? 0;
          const res = await runSequential(
            clients.get(path.name)!,
            echoCall(path.tool),
            perRound,
            r === 0 ? 100 : 20,
          );
          const a = acc.get(path.name)!;
          a.usage.push(stop());
          a.samples.push(...res.samples);
          a.errors += res.errors;
          if (res.errors && path.name.startsWith("envoy")) {
            a.emulatorErrors += await emulatorErrors(topo, before);
          }
          a.firstError ??= res.firstError;
        }
      }
    } finally {
      for (const c of clients.values()) await c.close();
    }
    for (const path of backend.paths) {
      const a = acc.get(path.name)!;
      rows.push({
        backend: backend.name,
        path: path.name,
        latency: summarize(a.samples),
        errors: a.errors,
        emulatorErrors: Math.min(a.errors, a.emulatorErrors),
        firstError: a.firstError,
        usage: mergeUsage(a.usage),
      });
    }
  }
  return withDeltas(rows);
}

/** Averages CPU over the rounds and keeps the peak RSS. */
function mergeUsage(list: Record<string, ProcUsage | undefined>[]): Record<string, ProcUsage | undefined> {
  const out: Record<string, ProcUsage | undefined> = {};
  for (const key of new Set(list.flatMap((u) => Object.keys(u)))) {
    const xs = list.map((u) => u[key]).filter((u): u is ProcUsage => !!u);
    if (!xs.length) continue;
    const cpuSeconds = xs.reduce((a, u) => a + u.cpuSeconds, 0);
    out[key] = {
      rssMiB: xs[xs.length - 1].rssMiB,
      peakRssMiB: Math.max(...xs.map((u) => u.peakRssMiB)),
      cpuCores: xs.reduce((a, u) => a + u.cpuCores, 0) / xs.length,
      cpuSeconds,
    };
  }
  return out;
}

/** Scenario 2: closed-loop throughput on the fast backend at each concurrency, direct vs gateway paths. */
export async function throughput(
  topo: Topology,
  levels: number[],
  durationMs: number,
): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  const backend = topo.backends.find((b) => b.name === "fast-echo")!;
  for (const concurrency of levels) {
    // Throughput is measured in the 2025 era only (scenario 1 compares the eras call by call).
    for (const path of backend.paths.filter((p) => p.era === "2025" && !p.client)) {
      const stop = sampleAll(path.pids);
      const before = topo.envoy?.counted() ?? 0;
      const res = await runConcurrent(
        () => new StreamableClient(path.url),
        echoCall(path.tool),
        concurrency,
        durationMs,
      );
      const row = toThroughputRow(backend.name, path.name, res, stop());
      if (row.errors && path.name === "envoy") {
        row.emulatorErrors = Math.min(row.errors, await emulatorErrors(topo, before));
        row.firstError += envoyErrors(topo);
      }
      rows.push(row);
    }
  }
  for (const row of rows) {
    const direct = rows.find((r) => r.path === "direct" && r.concurrency === row.concurrency);
    if (direct && direct !== row) row.vsDirect = row.rps / direct.rps;
  }
  return rows;
}

/** Emulator transport failures since `before` (bench/envoy_proc.ts reports them every 500 ms). */
async function emulatorErrors(topo: Topology, before: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 700));
  return (topo.envoy?.counted() ?? 0) - before;
}

/** The Envoy emulator's last error lines (what it said about its 5xx answers). */
function envoyErrors(topo: Topology): string {
  const lines = (topo.envoy?.output() ?? "").split("\n").filter((l) => l.startsWith("error "));
  return lines.length ? ` [envoy: ${lines.slice(-3).join(" | ")}]` : "";
}

function toThroughputRow(
  backend: string,
  path: string,
  res: Awaited<ReturnType<typeof runConcurrent>>,
  usage: Record<string, ProcUsage | undefined>,
): ThroughputRow {
  return {
    backend,
    path,
    concurrency: res.concurrency,
    rps: res.rps,
    p50: res.latency.p50,
    p99: res.latency.p99,
    requests: res.requests,
    errors: res.errors,
    firstError: res.firstError,
    usage,
  };
}

export interface PeerResult {
  peer: string;
  skipped?: string;
  latency: LatencyRow[];
  throughput: ThroughputRow[];
}

/**
 * Scenario 6: mcp-hub aggregating the same two backends, driven with the same calls. Its downstream is
 * legacy HTTP+SSE (answers arrive on a long-lived GET stream), ours is Streamable HTTP; the table says so.
 */
export async function peerMcpHub(
  topo: Topology,
  n: number,
  levels: number[],
  durationMs: number,
): Promise<PeerResult> {
  const peer = `mcp-hub ${MCP_HUB_VERSION}`;
  const installed = await installMcpHub();
  if ("skipped" in installed) return { peer, skipped: installed.skipped, latency: [], throughput: [] };
  let hub;
  try {
    hub = await startMcpHub(installed.cli, { fast: topo.urls.fast, everything: topo.urls.everything });
  } catch (e) {
    return {
      peer,
      skipped: `mcp-hub did not start: ${(e as Error).message.slice(0, 300)}`,
      latency: [],
      throughput: [],
    };
  }
  try {
    const latency: LatencyRow[] = [];
    for (const [backend, tool] of [["fast-echo", "fast__echo"], ["server-everything", "everything__echo"]]) {
      const client: RpcClient = new LegacySseClient(hub.sseUrl);
      await client.initialize();
      const stop = sampleAll({ "mcp-hub": hub.pid });
      try {
        const res = await runSequential(client, echoCall(tool), n, 100);
        latency.push({
          backend,
          path: "mcp-hub",
          latency: res.latency,
          errors: res.errors,
          firstError: res.firstError,
          usage: stop(),
        });
      } finally {
        await client.close();
      }
    }
    const throughputRows: ThroughputRow[] = [];
    for (const concurrency of levels) {
      const stop = sampleAll({ "mcp-hub": hub.pid });
      const res = await runConcurrent(
        () => new LegacySseClient(hub.sseUrl),
        echoCall("fast__echo"),
        concurrency,
        durationMs,
      );
      throughputRows.push(toThroughputRow("fast-echo", "mcp-hub", res, stop()));
    }
    return { peer, latency, throughput: throughputRows };
  } finally {
    await hub.stop();
  }
}
