/**
 * Memory and CPU of a process from /proc (Linux): RSS and peak RSS from `status`, user+system CPU ticks
 * from `stat`. A sampler records the peak during a scenario and the CPU it used, per wall second.
 */

/** Clock ticks per second on Linux (`getconf CLK_TCK`, 100 on every mainstream kernel). */
const CLK_TCK = 100;

export interface ProcSnapshot {
  rssKiB: number;
  hwmKiB: number;
  cpuSeconds: number;
}

/** Reads one snapshot; undefined when the process is gone or /proc is not there. */
export function readProc(pid: number): ProcSnapshot | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the parenthesised command name (which may contain spaces): utime is 14th, stime 15th.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(rest[11]) + Number(rest[12]);
    return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM"), cpuSeconds: ticks / CLK_TCK };
  } catch {
    return undefined;
  }
}

/** What one process used during a scenario. */
export interface ProcUsage {
  /** RSS at the end, MiB. */
  rssMiB: number;
  /** Highest RSS sampled during the scenario, MiB. */
  peakRssMiB: number;
  /** CPU seconds used / wall seconds (1.0 = one core busy). */
  cpuCores: number;
  cpuSeconds: number;
}

/** Samples a process every `intervalMs` until `stop()`. */
export function sampleProc(pid: number, intervalMs = 100): { stop(): ProcUsage | undefined } {
  const first = readProc(pid);
  const started = performance.now();
  let peak = first?.rssKiB ?? 0;
  const timer = setInterval(() => {
    const s = readProc(pid);
    if (s && s.rssKiB > peak) peak = s.rssKiB;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const last = readProc(pid);
      if (!first || !last) return undefined;
      const wall = (performance.now() - started) / 1000;
      const cpu = last.cpuSeconds - first.cpuSeconds;
      return {
        rssMiB: last.rssKiB / 1024,
        peakRssMiB: Math.max(peak, last.rssKiB) / 1024,
        cpuCores: wall > 0 ? cpu / wall : 0,
        cpuSeconds: cpu,
      };
    },
  };
}

/**
 * CPU time of every thread of a process so far, in seconds at nanosecond resolution (the sum of
 * `/proc/PID/task/TID/schedstat`): for per-call figures over windows too short for `stat`'s 10 ms ticks.
 * Threads that ended during the window are missed (Deno's runtime threads live as long as the process).
 */
export function readCpuSeconds(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0]);
      } catch { /* the thread ended meanwhile */ }
    }
    return ns / 1e9;
  } catch {
    return undefined;
  }
}
