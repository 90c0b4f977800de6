/**
 * Renders bench results as Markdown: one table per scenario, then the targets with met/missed and what
 * bounds a missed figure. Pure: results in, text out.
 */
import type { LatencyRow, PeerResult, ThroughputRow } from "./scenario_calls.ts";
import type { RouterRun } from "./scenario_router.ts";
import type { ScaleResult } from "./scenario_scale.ts";
import type { StoreResult } from "./scenario_store.ts";
import type { TracingResult } from "./scenario_tracing.ts";
import type { SoakResult } from "./soak.ts";
import { round } from "./stats.ts";
import type { ProcUsage } from "./proc_stats.ts";

export interface SessionsResult {
  tokenOps: number;
  mintUs: { p50: number; p99: number; mean: number };
  verifyColdUs: { p50: number; p99: number; mean: number };
  verifyCachedUs: { p50: number; p99: number; mean: number };
  verifyErrors: number;
  memory: {
    sessions: number;
    projectionBytesPerSession: number;
    tombstoneBytesPerSession: number;
    retainedAfterSweepBytes: number;
    tokenCacheBytesPerSession: number;
    retainedAfterForgetBytes: number;
    logOverheadBytes: number;
  }[];
}

export interface Target {
  name: string;
  target: string;
  measured: string;
  met: boolean | null;
  note?: string;
}

export interface BenchResults {
  meta: {
    date: string;
    mode: "quick" | "full";
    deno: string;
    cpu: string;
    cores: number;
    durationSeconds?: number;
    notes: string[];
  };
  baselineRssMiB?: number;
  callOverhead?: LatencyRow[];
  throughput?: ThroughputRow[];
  router?: RouterRun[];
  scale?: ScaleResult;
  sessions?: SessionsResult;
  peer?: PeerResult;
  store?: StoreResult;
  tracing?: TracingResult;
  /** The last `--soak` run's figures (bench/soak.json), with its date. */
  soak?: SoakResult & { date: string };
  targets: Target[];
  skipped: Record<string, string>;
  errors: string[];
}

const f = (v: number | undefined, d = 3) => v === undefined || Number.isNaN(v) ? "–" : String(round(v, d));
const signed = (v: number | undefined) => v === undefined ? "–" : `${v >= 0 ? "+" : ""}${f(v)}`;
/** Peak RSS and CPU per call of each sampled process (`client` is the load generator itself). */
const usage = (u: Record<string, ProcUsage | undefined>, calls: number) =>
  Object.entries(u).filter(([, x]) => x).map(([k, x]) =>
    `${k} ${f(x!.peakRssMiB, 0)} MiB, ${f((x!.cpuSeconds * 1e6) / Math.max(1, calls), 0)} µs/call`
  ).join("; ") || "–";

const errorsCell = (x: { errors: number; emulatorErrors?: number }) =>
  x.emulatorErrors ? `${x.errors} (${x.emulatorErrors} in the emulator's gRPC client)` : String(x.errors);

function table(head: string[], rows: (string | number)[][]): string {
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

const PATH_NAMES: Record<string, string> = {
  direct: "direct",
  "proxy-floor": "floor: bare Deno fetch proxy, no MCP logic",
  broker: "gateway: broker data path",
  envoy: "gateway: Envoy emulator + ext_proc router",
  "mcp-hub": "mcp-hub (legacy SSE downstream)",
  "proxy-floor-js": "floor: bare Deno fetch proxy reading the answer in JS (as a relay must)",
  "direct-sdk": "MCP SDK client: direct",
  "broker-sdk": "MCP SDK client: gateway, broker data path",
  "direct-2026": "2026-07-28: direct (stateless, enveloped)",
  "broker-2026": "2026-07-28: gateway, broker data path",
  "envoy-2026": "2026-07-28: gateway, Envoy emulator + ext_proc router",
};

/** The direct path a path compares with: the same backend in the same protocol era. */
export function directOf(path: string): string {
  return path.endsWith("-2026") ? "direct-2026" : path.endsWith("-sdk") ? "direct-sdk" : "direct";
}

/** Which ext_proc server a scenario 3 row measured. */
const SERVER_NAMES: Record<string, string> = {
  router: "gateway router",
  "no-op": "floor: no-op processor, same gRPC stack (grpc-js on Deno)",
  "no-op-node": "no-op processor, grpc-js on Node",
};

/** What a scenario 3 row decided. */
const DECISION_KINDS: Record<string, string> = {
  "2025-call": "2025 `tools/call` (session), routed",
  "2026-call": "2026 `tools/call`, routed to a 2026 backend",
  "2026-list": "2026 `tools/list`, to the broker",
};

export function renderMarkdown(r: BenchResults): string {
  const out: string[] = [];
  out.push(`# MCP Gateway benchmark results`);
  out.push(
    `${r.meta.date} · ${r.meta.mode} run${
      r.meta.durationSeconds ? ` (${Math.round(r.meta.durationSeconds)} s)` : ""
    } · ` +
      `Deno ${r.meta.deno} · ${r.meta.cpu} × ${r.meta.cores} · everything on 127.0.0.1, one machine. ` +
      `Reproduce: \`deno task bench\` (\`--quick\` for the CI smoke run). Latencies in ms unless noted.`,
  );
  if (r.errors.length) {
    out.push(`\n**Errors (the run failed):**\n${r.errors.map((e) => `- ${e}`).join("\n")}`);
  }

  out.push(`\n## Targets\n`);
  out.push(table(
    ["Target", "Goal", "Measured", "Met", "Note"],
    r.targets.map((
      t,
    ) => [t.name, t.target, t.measured, t.met === null ? "n/a" : t.met ? "yes" : "**no**", t.note ?? ""]),
  ));

  if (r.callOverhead?.length || r.peer?.latency.length) {
    out.push(`\n## 1. Call overhead: sequential \`tools/call\` of echo over one session\n`);
    const rows = [...(r.callOverhead ?? []), ...(r.peer?.latency ?? [])];
    out.push(table(
      [
        "Backend",
        "Path",
        "n",
        "p50",
        "p90",
        "p99",
        "mean",
        "added p50",
        "added p99",
        "mean ratio",
        "errors",
        "peak RSS, CPU per call",
      ],
      rows.map((x) => {
        const direct = rows.find((d) => d.backend === x.backend && d.path === directOf(x.path));
        const added = x.addedP50 !== undefined || !direct || x === direct ? x : {
          ...x,
          addedP50: x.latency.p50 - direct.latency.p50,
          addedP99: x.latency.p99 - direct.latency.p99,
          ratioMean: x.latency.mean / direct.latency.mean,
        };
        return [
          x.backend,
          PATH_NAMES[x.path] ?? x.path,
          x.latency.n,
          f(x.latency.p50),
          f(x.latency.p90),
          f(x.latency.p99),
          f(x.latency.mean),
          signed(added.addedP50),
          signed(added.addedP99),
          added.ratioMean ? `${f(added.ratioMean, 2)}×` : "–",
          errorsCell(x),
          usage(x.usage, x.latency.n),
        ];
      }),
    ));
  }

  if (r.throughput?.length || r.peer?.throughput.length) {
    out.push(`\n## 2. Throughput: closed-loop clients, one session each, fast-echo backend\n`);
    const rows = [...(r.throughput ?? []), ...(r.peer?.throughput ?? [])];
    out.push(table(
      [
        "Clients",
        "Path",
        "requests/s",
        "vs direct",
        "p50",
        "p99",
        "requests",
        "errors",
        "peak RSS, CPU per call",
      ],
      rows.sort((a, b) => a.concurrency - b.concurrency).map((x) => {
        const direct = rows.find((d) => d.path === "direct" && d.concurrency === x.concurrency);
        const vs = x.vsDirect ?? (direct && direct !== x ? x.rps / direct.rps : undefined);
        return [
          x.concurrency,
          PATH_NAMES[x.path] ?? x.path,
          f(x.rps, 0),
          vs === undefined ? "–" : `${f(vs, 2)}×`,
          f(x.p50),
          f(x.p99),
          x.requests,
          errorsCell(x),
          usage(x.usage, x.requests),
        ];
      }),
    ));
  }

  if (r.router?.length) {
    out.push(
      `\n## 3. Router decisions: ext_proc over gRPC, as many messages as the router asks Envoy for\n`,
    );
    out.push(table(
      [
        "ext_proc server",
        "Request",
        "messages",
        "Concurrent streams",
        "decisions/s",
        "p50",
        "p90",
        "p99",
        "server CPU µs/decision",
        "load generator CPU",
        "errors",
      ],
      r.router.map((x) => [
        SERVER_NAMES[x.server] ?? x.server,
        (DECISION_KINDS[x.kind ?? "2025-call"] ?? x.kind ?? "") +
        (x.audit === false ? " (no audit log)" : ""),
        x.messagesPerDecision === undefined ? "3" : f(x.messagesPerDecision, 2),
        x.concurrency,
        f(x.perSecond, 0),
        f(x.latency.p50),
        f(x.latency.p90),
        f(x.latency.p99),
        x.usage ? f((x.usage.cpuSeconds * 1e6) / (x.decisions + 200), 0) : "–",
        x.loadGeneratorCores === undefined ? "–" : `${f(x.loadGeneratorCores * 100, 0)}% of a core`,
        x.errors,
      ]),
    ));
  }

  if (r.scale) {
    const s = r.scale;
    out.push(`\n## 4. Aggregated view at scale: ${s.servers} backends × ${s.toolsPerServer} tools\n`);
    out.push(table(["Measure", "Value"], [
      ["tools discovered", s.totalTools],
      ["process spawn → endpoint up", `${f(s.startMs, 0)} ms`],
      ["endpoint up → every tool discovered", `${f(s.discoverMs, 0)} ms`],
      ["the fleet's last `tools/list` answer → every tool served", `${f(s.servedAfterLastListMs, 0)} ms`],
      [
        `\`tools/list\` (${s.totalTools} tools, ${
          f(s.listBytes / 1024, 0)
        } KiB): request → last byte, p50 / p99`,
        `${f(s.toolsListBytes.p50)} / ${f(s.toolsListBytes.p99)} ms (n=${s.toolsListBytes.n})`,
      ],
      [
        "floor: the same bytes from a bare Deno.serve handler, p50 / p99",
        s.transferFloor ? `${f(s.transferFloor.p50)} / ${f(s.transferFloor.p99)} ms` : "–",
      ],
      [
        "the same, client JSON.parse of the answer included, p50 / p99",
        `${f(s.toolsList.p50)} / ${f(s.toolsList.p99)} ms (n=${s.toolsList.n})`,
      ],
      [
        "gateway RSS with the view",
        `${f(s.rssMiB, 0)} MiB${r.baselineRssMiB ? ` (empty config: ${f(r.baselineRssMiB, 0)} MiB)` : ""}`,
      ],
      ["config change (one server added) → its tool answers", `${f(s.configToRoutableMs, 0)} ms`],
      ["errors", s.errors],
    ]));
    if (s.fold?.length) {
      const sizes = Object.keys(s.fold[0].changeMs);
      out.push(
        `\nThe catalog fold alone, in process (\`bench/catalog_fold.ts\`: the routing-table and explain ` +
          `projections, each folding the catalog): every server's discovery, then one server listing again ` +
          `with every definition changed (median ms), by the size of the catalog and of that server.\n`,
      );
      out.push(table(
        ["Catalog", "every discovery folded", ...sizes.map((n) => `one server of ${n} tools changes`)],
        s.fold.map((x) => [
          `${x.servers} × ${x.toolsPerServer} tools`,
          `${f(x.discoveryMs, 1)} ms`,
          ...sizes.map((n) => `${f(x.changeMs[n])} ms`),
        ]),
      ));
    }
  }

  if (r.sessions) {
    const s = r.sessions;
    out.push(`\n## 5. Sessions\n`);
    out.push(table(["Operation", "p50 µs", "p99 µs", "mean µs"], [
      ["mint session token (HS256 JWT)", f(s.mintUs.p50, 1), f(s.mintUs.p99, 1), f(s.mintUs.mean, 1)],
      [
        "verify, first time (signature)",
        f(s.verifyColdUs.p50, 1),
        f(s.verifyColdUs.p99, 1),
        f(s.verifyColdUs.mean, 1),
      ],
      ["verify, cached", f(s.verifyCachedUs.p50, 2), f(s.verifyCachedUs.p99, 2), f(s.verifyCachedUs.mean, 2)],
    ]));
    out.push("");
    out.push(table(
      [
        "Open sessions",
        "session map B/session",
        "token cache B/session",
        "total KiB/session",
        "after DELETE (tombstones) B/session",
        "left after sweep",
        "left after cache forget",
      ],
      s.memory.map((m) => [
        m.sessions,
        f(m.projectionBytesPerSession, 0),
        f(m.tokenCacheBytesPerSession, 0),
        f((m.projectionBytesPerSession + m.tokenCacheBytesPerSession) / 1024, 2),
        f(m.tombstoneBytesPerSession, 0),
        `${f(Math.max(0, m.retainedAfterSweepBytes) / 1024, 0)} KiB`,
        `${f(Math.max(0, m.retainedAfterForgetBytes) / 1024, 0)} KiB`,
      ]),
    ));
  }

  if (r.peer) {
    out.push(`\n## 6. Peer: ${r.peer.peer}\n`);
    out.push(
      r.peer.skipped
        ? `Skipped: ${r.peer.skipped}`
        : `Rows marked mcp-hub above: same backend processes, same calls, same run. mcp-hub speaks only the ` +
          `legacy HTTP+SSE transport downstream (each answer arrives on a long-lived GET stream, the POST gets 202), ` +
          `so its client side differs from ours; its errors are reported, not counted as a bench failure.`,
    );
  }

  if (r.store) {
    const s = r.store;
    out.push(`\n## 8. Shared session store (Redis ${s.redisVersion} on loopback) and local workers\n`);
    out.push(table(
      ["Store", "Calls", "p50 ms", "p99 ms"],
      s.latency.map((
        x,
      ) => [x.store === "redis" ? "Redis (--session-store)" : "embedded", x.calls, f(x.p50), f(x.p99)]),
    ));
    out.push(
      `\nAdded by the store: ${signed(s.addedP50)} ms p50 per call; the store's own work per call ` +
        `(\`beginCall\` + \`endCall\`, in-process) ${f(s.storeOps.p50)} ms p50, ${
          f(s.storeOps.p99)
        } ms p99.\n`,
    );
    out.push(
      `Memory in Redis: ${
        f(s.memory.bytesPerSession, 0)
      } bytes per session (${s.memory.sessions} sessions, one call ` +
        `each: session hash with its binding ${
          f(s.memory.hashBytes, 0)
        } bytes, latest-call key, share of the event ` +
        `stream of ${s.memory.streamEntries} entries, bounded at 10,000).\n`,
    );
    out.push(table(
      ["Workers", "Clients", "req/s", "p50 ms", "Errors"],
      s.workers.map((w) => [w.workers, w.concurrency, w.rps, f(w.p50), w.errors]),
    ));
  }

  if (r.tracing) {
    const t = r.tracing;
    out.push(`\n## 9. Traces: tracing off and on (every call sampled and exported), broker path\n`);
    out.push(table(
      ["Client", "Tracing", "Calls", "p50 ms", "p99 ms", "Gateway CPU µs/call (median)", "Rounds"],
      t.rows.map((x) => [
        x.era,
        x.tracing,
        x.calls,
        f(x.p50),
        f(x.p99),
        f(x.cpuUsPerCall, 1),
        x.rounds.map(Math.round).join(" "),
      ]),
    ));
    out.push(
      `\nAdded by tracing (the median of each round's on − off, measured back to back): ${
        Object.entries(t.addedCpuUs).map(([era, us]) => `${signed(us)} µs CPU per call (${era} client)`).join(
          ", ",
        )
      }; the sink received ${t.exports.requests} OTLP/HTTP exports, ${
        f(t.exports.bytes / 1024, 0)
      } KiB. Off means no OTLP endpoint: no tracer provider, the SDK not loaded. Both gateways run without ` +
        `the audit log.\n`,
    );
  }

  if (Object.keys(r.skipped).length) {
    out.push(`\n## Skipped\n`);
    for (const [k, v] of Object.entries(r.skipped)) out.push(`- ${k}: ${v}`);
  }
  if (r.meta.notes.length) {
    out.push(`\n## Notes\n`);
    for (const n of r.meta.notes) out.push(`- ${n}`);
  }
  return out.join("\n") + "\n";
}

/** The soak's own page (`deno task bench --soak` writes it next to its JSON). */
export function renderSoak(
  s: SoakResult,
  meta: { date: string; deno: string; cpu: string; cores: number },
): string {
  const o = s.options;
  const out: string[] = [];
  out.push(`# MCP Gateway soak`);
  out.push(
    `${meta.date} · Deno ${meta.deno} · ${meta.cpu} × ${meta.cores} · everything on 127.0.0.1, one machine. ` +
      `Reproduce: \`deno task bench --soak\` (not in CI; about ${
        Math.max(1, Math.round((o.seconds + s.rampSeconds) / 60))
      } min).`,
  );
  out.push(
    `\n${o.sessions} 2025-era sessions and ${o.modern} 2026-era clients, each calling \`tools/call\` of echo every ` +
      `${o.periodSeconds} s through the broker (fast echo backend), for ${o.seconds} s after a ${
        f(s.rampSeconds, 0)
      } s ramp-up that opened them; calls paced by a clock (open loop).\n`,
  );
  out.push(table(["Measure", "Value"], [
    ["calls answered in the window", `${s.calls} (${f(s.callsPerSecond, 0)} /s)`],
    ["errors (ramp-up and window)", s.errors + (s.firstError ? ` (${s.firstError})` : "")],
    [
      "latency p50 / p90 / p99 / max",
      `${f(s.latency.p50)} / ${f(s.latency.p90)} / ${f(s.latency.p99)} / ${f(s.latency.max)} ms`,
    ],
    ["2025 sessions: p50 / p99", `${f(s.latency2025.p50)} / ${f(s.latency2025.p99)} ms`],
    ["2026 clients: p50 / p99", `${f(s.latency2026.p50)} / ${f(s.latency2026.p99)} ms`],
    ["calls fired while the client's previous one was still out", s.overlapping],
    [
      "gateway RSS, first minute → last minute (mean)",
      `${f(s.firstMinuteMiB, 0)} → ${f(s.lastMinuteMiB, 0)} MiB (${s.memoryFlat ? "flat" : "growing"})`,
    ],
    ["gateway CPU", `${f(s.gatewayCpuCores * 100, 0)} % of a core`],
    ["backend RSS at the end", `${f(s.backendRssMiB, 0)} MiB`],
  ]));
  out.push(`\n## Per minute\n`);
  out.push(table(
    ["Minute", "calls", "p50 ms", "p99 ms", "errors"],
    s.minutes.map((m) => [m.minute, m.calls, f(m.p50), f(m.p99), m.errors]),
  ));
  out.push(`\n## Gateway RSS (MiB) every 5 s\n`);
  out.push(s.rss.map((r) => `${r.atSeconds}s ${f(r.gatewayMiB, 0)}`).join(" · "));
  return out.join("\n") + "\n";
}
