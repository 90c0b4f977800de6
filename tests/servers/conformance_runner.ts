/**
 * Runs the official MCP conformance suite (`@modelcontextprotocol/conformance@0.1.16`, server scenarios)
 * against a URL and reports which scenarios passed. Used directly against our conformance backend and,
 * by the gateway tests, through the gateway: the same scenarios must pass both ways.
 *
 * ```ts
 * const { passed, failed } = await runConformance("http://127.0.0.1:PORT/mcp");
 * ```
 * The suite runs from the global Deno npm cache with `--no-config --no-lock`, so it never touches this
 * project's `deno.json`, lock file or `node_modules`.
 */

export const CONFORMANCE_PACKAGE = "npm:@modelcontextprotocol/conformance@0.1.16";

/** Scenarios of the suite's default ("active") server run, in its order (see `list --server`). */
export const ACTIVE_SERVER_SCENARIOS = [
  "server-initialize",
  "logging-set-level",
  "ping",
  "completion-complete",
  "tools-list",
  "tools-call-simple-text",
  "tools-call-image",
  "tools-call-audio",
  "tools-call-embedded-resource",
  "tools-call-mixed-content",
  "tools-call-with-logging",
  "tools-call-error",
  "tools-call-with-progress",
  "tools-call-sampling",
  "tools-call-elicitation",
  "elicitation-sep1034-defaults",
  "server-sse-multiple-streams",
  "elicitation-sep1330-enums",
  "resources-list",
  "resources-read-text",
  "resources-read-binary",
  "resources-templates-read",
  "resources-subscribe",
  "resources-unsubscribe",
  "prompts-list",
  "prompts-get-simple",
  "prompts-get-with-args",
  "prompts-get-embedded-resource",
  "prompts-get-with-image",
  "dns-rebinding-protection",
] as const;

/** Scenarios the suite marks pending (not in the active run) but our backend implements. */
export const PENDING_SERVER_SCENARIOS = ["json-schema-2020-12", "server-sse-polling"] as const;

export interface ConformanceOptions {
  /**
   * Run only these scenarios, one suite process each (the suite's `--scenario`). Default: one process
   * running the whole suite selected by `suite`.
   */
  scenarios?: readonly string[];
  /** `active` (default), `all` (active + pending) or `pending`. Ignored when `scenarios` is given. */
  suite?: "active" | "all" | "pending";
  /**
   * Kill a whole-suite run after this long (default 30 s; directly against our backend it takes ~1 s).
   * The suite reports only at the end, so a killed run is retried one scenario at a time.
   */
  timeoutMs?: number;
  /**
   * Kill a single-scenario run after this long (default 15 s). A scenario whose request the server never
   * answers (say, sampling through a gateway that drops server-to-client requests) would otherwise wait
   * for the SDK's 60 s request timeout.
   */
  scenarioTimeoutMs?: number;
}

export interface ConformanceResult {
  /** Scenario names whose checks all passed (warnings allowed, as the suite counts them). */
  passed: string[];
  /** Scenario names with at least one failed check, or that did not report at all. */
  failed: string[];
  /** The suite's combined stdout and stderr, for assertion messages. */
  output: string;
}

async function runSuite(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; output: string; killed: boolean }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", "--no-lock", CONFORMANCE_PACKAGE, ...args],
    cwd: Deno.env.get("TMPDIR") ?? "/tmp",
    env: { NO_COLOR: "1", FORCE_COLOR: "0" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, timeoutMs);
  try {
    const { code, stdout, stderr } = await child.output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code, output: decode(stdout) + decode(stderr), killed };
  } finally {
    clearTimeout(timer);
  }
}

/** Parses the summary lines `✓ name: N passed, M failed` / `✗ name: ...` of a whole-suite run. */
export function parseSummary(output: string): { passed: string[]; failed: string[] } {
  const passed: string[] = [];
  const failed: string[] = [];
  const summary = output.slice(output.lastIndexOf("=== SUMMARY ==="));
  for (const line of summary.split("\n")) {
    const m = /^([✓✗])\s+(\S+):\s+(\d+) passed, (\d+) failed/.exec(line.trim());
    if (!m) continue;
    (m[1] === "✓" && m[4] === "0" ? passed : failed).push(m[2]);
  }
  return { passed, failed };
}

async function runEach(
  url: string,
  scenarios: readonly string[],
  timeoutMs: number,
): Promise<ConformanceResult> {
  const passed: string[] = [];
  const failed: string[] = [];
  let output = "";
  for (const scenario of scenarios) {
    const run = await runSuite(["server", "--url", url, "--scenario", scenario], timeoutMs);
    const note = run.killed ? `killed after ${timeoutMs} ms` : `exit ${run.code}`;
    output += `\n### ${scenario} (${note})\n${run.output}`;
    // A single-scenario run prints `Passed: i/n, f failed, w warnings` and exits 1 on any failure.
    const counts = /Passed: (\d+)\/(\d+), (\d+) failed/.exec(run.output);
    (run.code === 0 && counts && counts[3] === "0" ? passed : failed).push(scenario);
  }
  return { passed, failed, output };
}

/** Runs conformance server scenarios against `url` (an MCP endpoint on 127.0.0.1 or localhost). */
export async function runConformance(url: string, opts: ConformanceOptions = {}): Promise<ConformanceResult> {
  const scenarioTimeoutMs = opts.scenarioTimeoutMs ?? 15_000;
  if (opts.scenarios) return await runEach(url, opts.scenarios, scenarioTimeoutMs);

  const suite = opts.suite ?? "active";
  const expected: readonly string[] = suite === "active"
    ? ACTIVE_SERVER_SCENARIOS
    : suite === "pending"
    ? PENDING_SERVER_SCENARIOS
    : [...ACTIVE_SERVER_SCENARIOS, ...PENDING_SERVER_SCENARIOS];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const run = await runSuite(["server", "--url", url, "--suite", suite], timeoutMs);
  if (!run.output.includes("=== SUMMARY ===")) {
    // Killed or crashed before its summary: nothing is known, so run each scenario on its own.
    const each = await runEach(url, expected, scenarioTimeoutMs);
    const why = run.killed ? `killed after ${timeoutMs} ms` : `exited ${run.code} without a summary`;
    return {
      ...each,
      output: `${run.output}\n### whole suite ${why}; one scenario at a time:\n${each.output}`,
    };
  }
  const { passed, failed } = parseSummary(run.output);
  // A scenario that never reported counts as failed.
  for (const name of expected) if (!passed.includes(name) && !failed.includes(name)) failed.push(name);
  if (run.code !== 0 && failed.length === 0) failed.push(`(suite exited ${run.code})`);
  return { passed, failed, output: run.output };
}

if (import.meta.main) {
  const url = Deno.args[0];
  if (!url) {
    console.error("usage: deno run -A tests/servers/conformance_runner.ts URL [scenario...]");
    Deno.exit(2);
  }
  const scenarios = Deno.args.slice(1);
  const result = await runConformance(url, scenarios.length ? { scenarios } : {});
  console.log(result.output);
  console.log(`passed: ${result.passed.length}, failed: ${result.failed.join(", ") || "none"}`);
  Deno.exit(result.failed.length ? 1 : 0);
}
