/**
 * Runs the official MCP conformance suite (`@modelcontextprotocol/conformance@0.1.16`, server scenarios, and
 * the frozen requirement sets of 0.2.0-alpha.12 via {@link runRequirementSet}) against a URL and reports
 * which scenarios passed. Used directly against our conformance backend and,
 * by the gateway tests, through the gateway: the same scenarios must pass both ways.
 *
 * ```ts
 * const { passed, failed } = await runConformance("http://127.0.0.1:PORT/mcp");
 * ```
 * The suite runs from the global Deno npm cache with `--no-config --no-lock`, so it never touches this
 * project's `deno.json`, lock file or `node_modules`.
 */

import { assertEquals } from "../helpers/assert.ts";

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
  pkg = CONFORMANCE_PACKAGE,
): Promise<{ code: number; output: string; killed: boolean }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", "--no-lock", pkg, ...args],
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

/**
 * The suite's next line, with frozen per-revision requirement sets (`server --requirements REV`): it runs
 * each scenario at that revision's wire (2026-07-28: stateless, `_meta` on every request; 2025-11-25: the
 * `initialize` handshake and sessions).
 */
export const CONFORMANCE_NEXT_PACKAGE = "npm:@modelcontextprotocol/conformance@0.2.0-alpha.12";

/** A protocol revision with a frozen requirement set in {@link CONFORMANCE_NEXT_PACKAGE}. */
export type Revision = "2026-07-28" | "2025-11-25";

/** Scored server scenarios per revision (`list --server --requirements REV`), in the suite's order. */
export const REQUIRED_SERVER_SCENARIOS: Record<Revision, readonly string[]> = {
  "2026-07-28": [
    "server-stateless",
    "completion-complete",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-error",
    "tools-call-with-progress",
    "server-sse-multiple-streams",
    "resources-list",
    "resources-read-text",
    "resources-read-binary",
    "resources-templates-read",
    "sep-2164-resource-not-found",
    "prompts-list",
    "prompts-get-simple",
    "prompts-get-with-args",
    "prompts-get-embedded-resource",
    "prompts-get-with-image",
    "dns-rebinding-protection",
    "caching",
    "input-required-result-basic-elicitation",
    "input-required-result-basic-sampling",
    "input-required-result-basic-list-roots",
    "input-required-result-request-state",
    "input-required-result-multiple-input-requests",
    "input-required-result-multi-round",
    "input-required-result-missing-input-response",
    "input-required-result-non-tool-request",
    "input-required-result-result-type",
    "input-required-result-unsupported-methods",
    "input-required-result-tampered-state",
    "input-required-result-capability-check",
    "input-required-result-ignore-extra-params",
    "input-required-result-validate-input",
  ],
  "2025-11-25": ACTIVE_SERVER_SCENARIOS,
};

/**
 * Scenarios a requirement run also executes and reports but never scores (extension, pending or added
 * after the release). Our v2 backend passes all of them too (the tasks extension via tests/servers/tasks_ext.ts).
 */
export const UNSCORED_SERVER_SCENARIOS: Record<Revision, readonly string[]> = {
  "2026-07-28": [
    "tasks-lifecycle",
    "tasks-capability-negotiation",
    "tasks-wire-fields",
    "tasks-request-state-removal",
    "tasks-mrtr-input",
    "tasks-request-headers",
    "tasks-dispatch-and-envelope",
    "tasks-status-notifications",
    "tasks-required-task-error",
    "tasks-mrtr-composition",
    "json-schema-2020-12",
    "http-header-validation",
    "http-custom-header-server-validation",
  ],
  "2025-11-25": ["server-session-lifecycle", "json-schema-2020-12", "server-sse-polling"],
};

export interface RequirementRunResult {
  /** The suite's exit code: 0 exactly when every scored scenario passed. */
  code: number;
  /** Scored scenarios (the revision's requirement set) that passed / failed or never reported. */
  scored: { passed: string[]; failed: string[] };
  /** Scenarios run but not scored. */
  unscored: { passed: string[]; failed: string[] };
  output: string;
}

export interface RequirementRunOptions {
  /** Kill the run after this long (default 120 s; directly against our backend it takes about 2 s). */
  timeoutMs?: number;
  /** The suite's own per-scenario timeout (`--timeout`, default 30 s). */
  scenarioTimeoutMs?: number;
}

/**
 * Runs one frozen requirement set (`server --requirements REV`) in a single suite process and splits the
 * summary into scored and unscored scenarios.
 */
export async function runRequirementSet(
  url: string,
  revision: Revision,
  opts: RequirementRunOptions = {},
): Promise<RequirementRunResult> {
  const args = ["server", "--url", url, "--requirements", revision];
  if (opts.scenarioTimeoutMs) args.push("--timeout", String(opts.scenarioTimeoutMs));
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const run = await runSuite(args, timeoutMs, CONFORMANCE_NEXT_PACKAGE);
  const { passed, failed } = parseSummary(run.output);
  const notScored = new Set<string>();
  const section = run.output.indexOf("Not scored for");
  if (section >= 0) {
    for (const line of run.output.slice(section).split("\n")) {
      const m = /^\s*[✓✗]\s+(\S+)\s+\(/.exec(line);
      if (m) notScored.add(m[1]);
    }
  }
  const split = (names: string[], scored: boolean) => names.filter((n) => notScored.has(n) !== scored);
  const scored = { passed: split(passed, true), failed: split(failed, true) };
  for (const name of REQUIRED_SERVER_SCENARIOS[revision]) {
    if (!scored.passed.includes(name) && !scored.failed.includes(name)) scored.failed.push(name);
  }
  if (run.killed) scored.failed.push(`(suite killed after ${timeoutMs} ms)`);
  return {
    code: run.code,
    scored,
    unscored: { passed: split(passed, false), failed: split(failed, false) },
    output: run.output,
  };
}

/** The client scenarios gateway tests run with the gateway between client and scenario server. */
export const CLIENT_SCENARIOS = [
  "tools_call",
  "request-metadata",
  "http-standard-headers",
  "http-custom-headers",
  "http-invalid-tool-headers",
  "sep-2322-client-request-state",
] as const;

export interface ClientScenarioResult {
  passed: boolean;
  /** The suite's `Passed: i/n, f failed, w warnings` line. */
  summary: string;
  output: string;
}

/**
 * Runs one client scenario (`client --command CMD --scenario NAME`): the suite starts the scenario's server
 * (on `localhost`, an ephemeral port, every interface), runs `command` split on spaces with the server URL
 * appended, and sets `MCP_CONFORMANCE_SCENARIO`, `MCP_CONFORMANCE_PROTOCOL_VERSION` (the `specVersion`, or
 * the scenario's own revision) and, for some scenarios, `MCP_CONFORMANCE_CONTEXT` in its environment.
 */
export async function runClientScenario(
  command: string,
  scenario: string,
  opts: { specVersion?: Revision; timeoutMs?: number } = {},
): Promise<ClientScenarioResult> {
  const args = ["client", "--command", command, "--scenario", scenario];
  if (opts.specVersion) args.push("--spec-version", opts.specVersion);
  const run = await runSuite(args, opts.timeoutMs ?? 60_000, CONFORMANCE_NEXT_PACKAGE);
  const summary = /Passed: \d+\/\d+, \d+ failed, \d+ warnings/.exec(run.output)?.[0] ?? "(no summary)";
  const failed = /Passed: \d+\/\d+, (\d+) failed/.exec(run.output)?.[1];
  return { passed: run.code === 0 && failed === "0", summary, output: run.output };
}

if (import.meta.main) {
  const url = Deno.args[0];
  if (!url) {
    console.error(
      "usage: deno run -A tests/servers/conformance_runner.ts URL [scenario...] | URL --requirements 2026-07-28|2025-11-25",
    );
    Deno.exit(2);
  }
  if (Deno.args[1] === "--requirements") {
    const revision = Deno.args[2] as Revision;
    if (!(revision in REQUIRED_SERVER_SCENARIOS)) throw new Error(`unknown revision ${revision}`);
    const result = await runRequirementSet(url, revision);
    console.log(result.output);
    console.log(
      `scored: ${result.scored.passed.length}/${REQUIRED_SERVER_SCENARIOS[revision].length} passed, failed: ${
        result.scored.failed.join(", ") || "none"
      }; unscored failing: ${result.unscored.failed.join(", ") || "none"}`,
    );
    Deno.exit(result.scored.failed.length ? 1 : 0);
  }
  const scenarios = Deno.args.slice(1);
  const result = await runConformance(url, scenarios.length ? { scenarios } : {});
  console.log(result.output);
  console.log(`passed: ${result.passed.length}, failed: ${result.failed.join(", ") || "none"}`);
  Deno.exit(result.failed.length ? 1 : 0);
}

const sorted = (names: readonly string[]) => [...names].sort();

/**
 * Every scored scenario of the revision's set passed, and the suite exits 0; unless `scoredOnly`, every
 * unscored one passed too.
 */
export function assertRequirementSetPasses(
  result: RequirementRunResult,
  revision: Revision,
  { scoredOnly = false } = {},
): void {
  assertEquals(result.scored.failed, [], result.output);
  assertEquals(sorted(result.scored.passed), sorted(REQUIRED_SERVER_SCENARIOS[revision]));
  if (!scoredOnly) {
    assertEquals(result.unscored.failed, [], result.output);
    assertEquals(sorted(result.unscored.passed), sorted(UNSCORED_SERVER_SCENARIOS[revision]));
  }
  assertEquals(result.code, 0, result.output);
}
