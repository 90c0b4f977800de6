/**
 * Rebuilds every projection from an event log file (`--event-log-file`) and prints the state, as
 * `/debug/projections` printed it in the live process at that point — or explains a name as of then:
 *
 *   deno task replay events.jsonl                       # every projection after the last event
 *   deno task replay events.jsonl --at 120              # … after event 120
 *   deno task replay events.jsonl --explain tool=a_echo # /debug/explain?tool=a_echo, as of then
 *   deno task replay events.jsonl --projection upstreams
 *   deno task replay events.jsonl --runs                # the runs (gateway processes) in the file
 *
 * A file holds one run per process that wrote it; the last run is replayed unless `--run N` (1-based, or
 * the run's id) picks another. The state goes to stdout as JSON; what was replayed goes to stderr.
 */
import { parseArgs } from "node:util";
import { debugReplacer } from "../src/broker/debug.ts";
import { renderExplain } from "../src/broker/explain_route.ts";
import { readEventFile } from "../src/observe/event_file.ts";
import { parseExplainQuery } from "../src/observe/explain_query.ts";
import { EventRedactor } from "../src/observe/redact_event.ts";
import { replay } from "../src/observe/replay.ts";

const USAGE =
  "usage: deno task replay FILE [--at SEQ] [--run N|ID] [--explain tool=NAME|prompt=NAME|uri=URI|session=ID] " +
  "[--projection NAME] [--runs] [--compact]";

function fail(message: string): never {
  console.error(`replay: ${message}\n${USAGE}`);
  Deno.exit(2);
}

function main() {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: {
        at: { type: "string" },
        run: { type: "string" },
        explain: { type: "string" },
        projection: { type: "string" },
        runs: { type: "boolean" },
        compact: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    fail((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1) fail("give exactly one event log file");
  let text: string;
  try {
    text = Deno.readTextFileSync(positionals[0]);
  } catch (e) {
    fail(`cannot read ${positionals[0]}: ${(e as Error).message}`);
  }
  let read;
  try {
    read = readEventFile(text);
  } catch (e) {
    fail(`${positionals[0]}: ${(e as Error).message}`);
  }
  for (const warning of read.warnings) console.error(`replay: ${warning}`);
  const indent = values.compact ? undefined : 2;
  if (values.runs) {
    const runs = read.runs.map((r, i) => ({
      run: i + 1,
      id: r.header.run,
      startedAt: new Date(r.header.startedAt).toISOString(),
      gateway: r.header.gateway,
      events: r.events.length,
      lastSeq: r.events.at(-1)?.seq ?? 0,
    }));
    console.log(JSON.stringify(runs, null, indent));
    return;
  }
  if (!read.runs.length) fail(`${positionals[0]} holds no events`);
  const run = values.run === undefined
    ? read.runs.at(-1)!
    : /^\d+$/.test(values.run)
    ? read.runs[Number(values.run) - 1]
    : read.runs.find((r) => r.header.run === values.run);
  if (!run) fail(`no run ${values.run} (the file holds ${read.runs.length}; see --runs)`);
  let at: number | undefined;
  if (values.at !== undefined) {
    at = Number(values.at);
    if (!Number.isInteger(at) || at < 0) fail(`--at must be a sequence number, got ${values.at}`);
  }
  const replayed = replay(run.events, { at });
  console.error(
    `replay: run ${run.header.run}, ${
      run.events.filter((e) => at === undefined || e.seq <= at).length
    } events, ` +
      `state after seq ${replayed.lastSeq}`,
  );
  if (values.explain !== undefined) {
    const eq = values.explain.indexOf("=");
    const query = parseExplainQuery(
      eq < 0 ? [] : [[values.explain.slice(0, eq), values.explain.slice(eq + 1)]],
    );
    if (!query.ok) fail(`--explain: ${query.error}`);
    const redactor = new EventRedactor();
    const answer = renderExplain(replayed.explain(query.query), (t) => redactor.text(t));
    console.log(indent ? JSON.stringify(JSON.parse(answer), null, indent) : answer);
    return;
  }
  const states = Object.fromEntries(
    replayed.log.projections()
      .filter((p) => values.projection === undefined || p.name === values.projection)
      .map((p) => [p.name, p.state]),
  );
  if (values.projection !== undefined && !Object.keys(states).length) {
    fail(
      `no projection ${values.projection}; there are ${
        replayed.log.projections().map((p) => p.name).join(", ")
      }`,
    );
  }
  console.log(JSON.stringify(states, debugReplacer, indent));
}

main();
