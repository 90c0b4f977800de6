/**
 * Reads a V8 `.cpuprofile` (what `deno run --cpu-prof` writes) into a flame summary: where the samples
 * fell, by bucket (the gateway's own modules, each npm package, Deno's runtime and node: compatibility
 * layer, GC, idle) and by function, self and inclusive. Pure: a profile in, numbers out.
 *
 * Run: `deno run -A bench/cpu_profile.ts FILE.cpuprofile [--top=25] [--window]` → the summary as Markdown
 * (`--window`: only the measured window, see {@link measuredWindow}).
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface FlameSummary {
  /** Sampled wall time (ms), idle included, the profiler's own work left out. */
  totalMs: number;
  /**
   * Left out (ms): work only a profiled process does. With an inspector attached, Deno reports every
   * `fetch` to it as network events (`inspector_network_bridge`), which no production process pays.
   */
  profilerMs: number;
  /** Time on the CPU (ms): total less idle. */
  busyMs: number;
  /** Bucket → self ms, busiest first. */
  buckets: [string, number][];
  /** Function → self ms, busiest first. */
  selfTop: [string, number][];
  /** Function → inclusive ms (the function and everything it called), busiest first (src/ only). */
  inclusiveTop: [string, number][];
}

/** Which part of the process a frame belongs to. */
export function bucketOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === "(idle)") return "(idle)";
    if (functionName === "(garbage collector)") return "GC";
    if (functionName === "(program)") return "V8/native (program)";
    return `native ${functionName || "(anonymous)"}`;
  }
  const npm = /node_modules\/(?:\.deno\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (npm) return `npm:${npm[1]}`;
  const src = /\/(src|bench|tests)\/(.+)$/.exec(url);
  if (src) {
    const parts = src[2].split("/");
    return `${src[1]}/${parts.length > 1 ? parts[0] + "/" : ""}${parts.at(-1)}`;
  }
  if (url.startsWith("node:") || url.includes("ext:deno_node") || url.includes("/ext/node/")) {
    return "deno: node compat (node:*)";
  }
  if (url.startsWith("ext:")) {
    const ext = /^ext:(deno_[a-z_]+|core|runtime)/.exec(url)?.[1] ?? url.slice(4, 24);
    return `deno: ${ext}`;
  }
  return url.slice(0, 60);
}

function frameName(frame: CallFrame): string {
  const file = frame.url.split("/").slice(-2).join("/") || "(native)";
  return `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
}

/** Frames that exist only because a profiler (an inspector session) is attached. */
function isProfilerFrame(frame: CallFrame): boolean {
  return frame.url.includes("inspector_network_bridge") ||
    frame.functionName === "op_inspector_emit_protocol_event" ||
    frame.functionName.endsWith("ForCdp");
}

/**
 * The measured window of a profile that covers a whole process: the samples between its two longest
 * quiet stretches of at least `quietMs` (a load generator pauses before and after its load; startup,
 * warm-up and shutdown fall outside). Quiet: no 200 ms more than 5 % busy, and the stretch under 1.5 %
 * busy on average (a slow backend leaves a proxy mostly idle, but not that idle; a timer may still tick).
 * The whole profile when there are not two.
 */
export function measuredWindow(profile: CpuProfile, quietMs = 1_500): CpuProfile {
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (!samples.length) return profile;
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
  const times: number[] = [];
  let t = profile.startTime;
  for (let i = 0; i < samples.length; i++) times.push(t += deltas[i] ?? 0);
  const BIN = 200_000;
  const bins = Math.ceil((t - profile.startTime) / BIN) + 1;
  const busy = new Array(bins).fill(0);
  const all = new Array(bins).fill(0);
  for (let i = 0; i < samples.length; i++) {
    const b = Math.floor((times[i] - profile.startTime) / BIN);
    all[b]++;
    if (!idle.has(samples[i])) busy[b]++;
  }
  const share = (b: number) => busy[b] / Math.max(1, all[b]);
  const need = Math.ceil(quietMs * 1000 / BIN);
  const stretches: [number, number][] = [];
  for (let b = 0; b < bins;) {
    if (share(b) > 0.05) {
      b++;
      continue;
    }
    let e = b;
    let sum = 0;
    while (e < bins && share(e) <= 0.05) sum += share(e++);
    if (e - b >= need && sum / (e - b) <= 0.015) stretches.push([b, e]);
    b = e;
  }
  if (stretches.length < 2) return profile;
  const [first, second] = stretches.sort((x, y) => (y[1] - y[0]) - (x[1] - x[0])).slice(0, 2)
    .sort((x, y) => x[0] - y[0]);
  const from = profile.startTime + first[1] * BIN;
  const to = profile.startTime + second[0] * BIN;
  const kept: number[] = [];
  const keptDeltas: number[] = [];
  let last = from;
  for (let i = 0; i < samples.length; i++) {
    if (times[i] < from || times[i] >= to) continue;
    kept.push(samples[i]);
    keptDeltas.push(times[i] - last);
    last = times[i];
  }
  return { ...profile, startTime: from, endTime: to, samples: kept, timeDeltas: keptDeltas };
}

/** Sums a profile: self time per sample from `timeDeltas`, attributed to the sampled node. */
export function summarize(profile: CpuProfile, top = 25): FlameSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length) {
    // A sample's time is the delta to the next sample (the last one gets the mean).
    const mean = (profile.endTime - profile.startTime) / samples.length;
    for (let i = 0; i < samples.length; i++) {
      const us = i + 1 < deltas.length ? deltas[i + 1] : mean;
      self.set(samples[i], (self.get(samples[i]) ?? 0) + us);
    }
  } else {
    const interval = (profile.endTime - profile.startTime) /
      Math.max(1, profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0));
    for (const n of profile.nodes) if (n.hitCount) self.set(n.id, n.hitCount * interval);
  }
  const buckets = new Map<string, number>();
  const selfByFn = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let profiler = 0;
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    let excluded = false;
    for (let at: number | undefined = id; at !== undefined && !excluded; at = parent.get(at)) {
      excluded = isProfilerFrame(byId.get(at)!.callFrame);
    }
    if (excluded) {
      profiler += us;
      continue;
    }
    total += us;
    const bucket = bucketOf(node.callFrame);
    if (bucket === "(idle)") idle += us;
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + us);
    const name = frameName(node.callFrame);
    selfByFn.set(name, (selfByFn.get(name) ?? 0) + us);
    // Inclusive: once per distinct function on the stack (recursion counted once), gateway frames only.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (!/\/src\//.test(frame.url)) continue;
      const key = frameName(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  const sorted = (m: Map<string, number>, n: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => [k, v / 1000] as [string, number]);
  return {
    totalMs: total / 1000,
    profilerMs: profiler / 1000,
    busyMs: (total - idle) / 1000,
    buckets: sorted(buckets, 1000).filter(([k]) => k !== "(idle)"),
    selfTop: sorted(selfByFn, top + 1).filter(([k]) => !k.startsWith("(idle)")).slice(0, top),
    inclusiveTop: sorted(inclusive, top),
  };
}

/** The summary as Markdown, shares of busy time; `per` divides times into µs per unit (e.g. per call). */
export function renderSummary(s: FlameSummary, per?: { count: number; unit: string }): string {
  const pct = (ms: number) => `${(100 * ms / Math.max(1e-9, s.busyMs)).toFixed(1)} %`;
  const each = (ms: number) => per ? ` | ${(ms * 1000 / per.count).toFixed(1)}` : "";
  const head = (what: string) =>
    `| ${what} | share of CPU${per ? ` | µs per ${per.unit}` : ""} |\n|---|---|${per ? "---|" : ""}`;
  const rows = (list: [string, number][]) =>
    list.map(([k, ms]) => `| ${k.replaceAll("|", "\\|")} | ${pct(ms)}${each(ms)} |`).join("\n");
  return [
    `CPU busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled` +
    (per
      ? ` (${(s.busyMs * 1000 / per.count).toFixed(1)} µs per ${per.unit}, ${per.count} ${per.unit}s)`
      : "") +
    (s.profilerMs ? `; ${s.profilerMs.toFixed(0)} ms of the profiler's own left out` : ""),
    "",
    head("Where (self time)"),
    rows(s.buckets.slice(0, 14)),
    "",
    head("Function (self time)"),
    rows(s.selfTop),
    "",
    head("Gateway function (inclusive)"),
    rows(s.inclusiveTop),
  ].join("\n");
}

if (import.meta.main) {
  const file = Deno.args.find((a) => !a.startsWith("--"));
  if (!file) throw new Error("usage: bench/cpu_profile.ts FILE.cpuprofile [--top N]");
  const top = Number(Deno.args.find((a) => a.startsWith("--top="))?.slice(6) ?? 25);
  const profile = JSON.parse(await Deno.readTextFile(file));
  const windowed = Deno.args.includes("--window") ? measuredWindow(profile) : profile;
  console.log(renderSummary(summarize(windowed, top)));
}
