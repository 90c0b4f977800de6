/**
 * deploy/observability/: every metric (and label) the Grafana dashboard and the PrometheusRule alerts query
 * exists on a running gateway's `/metrics`, except the ones other work adds (listed, with where they come
 * from); the manifests hang together (kustomize resources, collector pipelines, rule fields).
 */
import { parse, parseAllDocuments } from "yaml";
import { assert, assertEquals } from "./helpers/assert.ts";
import { parseCli } from "../src/cli.ts";
import { startGateway } from "../src/gateway.ts";
import { silentLogger } from "../src/observe/log.ts";
import { connectClient } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startFastEcho } from "./servers/fast_echo.ts";

const DIR = new URL("../deploy/observability/", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, DIR));

/** Metrics queried before the gateway exports them: name → the work that adds it. */
const FROM_OTHER_WORK: Record<string, string> = {
  mcp_gateway_session_store_up:
    "the Redis session store (scale work): 1 while the store is reachable, label store",
};

const FUNCTIONS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "count",
  "group",
  "stddev",
  "stdvar",
  "topk",
  "bottomk",
  "quantile",
  "count_values",
  "rate",
  "irate",
  "increase",
  "delta",
  "idelta",
  "changes",
  "resets",
  "histogram_quantile",
  "absent",
  "absent_over_time",
  "label_values",
  "clamp_min",
  "clamp_max",
  "abs",
  "ceil",
  "floor",
  "round",
  "sort",
  "sort_desc",
  "time",
  "vector",
  "scalar",
  "avg_over_time",
  "max_over_time",
  "min_over_time",
  "sum_over_time",
  "count_over_time",
]);
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan"]);
const GROUPING = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);

/** The metric names and label names a PromQL expression (or Grafana `label_values(...)`) refers to. */
export function promqlRefs(expr: string): { metrics: Set<string>; labels: Set<string> } {
  const metrics = new Set<string>();
  const labels = new Set<string>();
  const ident = /[A-Za-z_:][A-Za-z0-9_:]*/y;
  let i = 0;
  const skipSpace = () => {
    while (i < expr.length && /\s/.test(expr[i])) i++;
  };
  const readIdent = () => {
    ident.lastIndex = i;
    const m = ident.exec(expr);
    if (!m) return undefined;
    i += m[0].length;
    return m[0];
  };
  const skipString = () => {
    const quote = expr[i++];
    while (i < expr.length && expr[i] !== quote) i += expr[i] === "\\" ? 2 : 1;
    i++;
  };
  while (i < expr.length) {
    const c = expr[i];
    if (c === '"' || c === "'" || c === "`") skipString();
    else if (c === "[") i = expr.indexOf("]", i) + 1;
    else if (c === "$") {
      i++;
      if (expr[i] === "{") i = expr.indexOf("}", i) + 1;
      else readIdent();
    } else if (c === "{") {
      i++;
      while (i < expr.length && expr[i] !== "}") {
        skipSpace();
        if (expr[i] === '"' || expr[i] === "'") skipString();
        else if (/[A-Za-z_]/.test(expr[i])) labels.add(readIdent()!);
        else i++;
      }
      i++;
    } else if (/[A-Za-z_:]/.test(c)) {
      const word = readIdent()!;
      skipSpace();
      if (GROUPING.has(word) && expr[i] === "(") {
        const end = expr.indexOf(")", i);
        for (const label of expr.slice(i + 1, end).split(",")) if (label.trim()) labels.add(label.trim());
        i = end + 1;
      } else if (FUNCTIONS.has(word) || KEYWORDS.has(word.toLowerCase()) || GROUPING.has(word)) continue;
      else if (expr[i] === "(") continue; // a function this list does not know: never a metric
      else metrics.add(word);
    } else if (/[0-9.]/.test(c)) {
      while (i < expr.length && /[0-9.eE+\-a-z]/.test(expr[i]) && !/\s/.test(expr[i])) i++;
    } else i++;
  }
  return { metrics, labels };
}

/** Every query in the dashboard (panels, variables, annotations) and the rules, with where it is. */
function queries(): { where: string; expr: string }[] {
  const dashboard = JSON.parse(read("grafana-dashboard.json"));
  const out: { where: string; expr: string }[] = [];
  for (const panel of dashboard.panels) {
    for (const t of panel.targets ?? []) out.push({ where: `panel "${panel.title}"`, expr: t.expr });
  }
  for (const v of dashboard.templating.list) {
    if (v.type === "query") out.push({ where: `variable ${v.name}`, expr: v.query.query ?? v.query });
  }
  for (const a of dashboard.annotations.list) {
    if (a.expr) out.push({ where: `annotation ${a.name}`, expr: a.expr });
  }
  const rules = parse(read("prometheus-rules.yaml"));
  for (const group of rules.spec.groups) {
    for (const rule of group.rules) out.push({ where: `alert ${rule.alert}`, expr: rule.expr });
  }
  return out;
}

/** Metric names and, per metric, the label names its samples carry, from a Prometheus text exposition. */
function exposition(text: string): Map<string, Set<string>> {
  const metrics = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name, kind] = type;
      metrics.set(name, new Set());
      const suffixes = kind === "histogram"
        ? ["_bucket", "_sum", "_count"]
        : kind === "summary"
        ? ["_sum", "_count"]
        : [];
      for (const s of suffixes) metrics.set(name + s, new Set());
      continue;
    }
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    if (!sample) continue;
    const labels = metrics.get(sample[1]) ?? new Set();
    for (const m of (sample[2] ?? "").matchAll(/([A-Za-z_][A-Za-z0-9_]*)="/g)) labels.add(m[1]);
    metrics.set(sample[1], labels);
  }
  return metrics;
}

Deno.test("promql refs: metric and label names, not functions, keywords, durations or variables", () => {
  const refs = promqlRefs(
    'histogram_quantile(0.99, sum by (server, le) (rate(a_bucket{server=~"$server",x!="y{z}"}[$__rate_interval]))) ' +
      "> 2 and on (server) b_total offset 5m / ignoring(tool) c unless absent(d) or topk(10, e) > bool 1e3",
  );
  assertEquals([...refs.metrics].sort(), ["a_bucket", "b_total", "c", "d", "e"]);
  assertEquals([...refs.labels].sort(), ["le", "server", "tool", "x"]);
  assertEquals([...promqlRefs("label_values(mcp_gateway_upstream_up, server)").metrics], [
    "mcp_gateway_upstream_up",
    "server",
  ]);
});

Deno.test("dashboards and alerts query only metrics and labels a running gateway exports", async () => {
  const a = await startFastEcho();
  const b = await startFastEcho();
  const dir = await Deno.makeTempDir({ prefix: "mcp-gw-dash-" });
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    `servers:\n  - name: a\n    url: ${a.url}\n  - name: b\n    url: ${b.url}\n`,
  );
  const cli = parseCli([
    "--mcp-gateway-config",
    `${dir}/config.yaml`,
    "--mcp-broker-address",
    "127.0.0.1:0",
    "--mcp-router-address",
    "off",
    "--audit-log",
    "off",
  ], () => undefined);
  assert(cli.ok);
  const gateway = await startGateway(cli.options, silentLogger);
  try {
    await waitFor(
      () => [...gateway.context.upstreams.state.servers.values()].every((s) => s.status === "ready"),
      "both servers ready",
    );
    // A session and a call, so every series the queries read has samples (and labels to check).
    await using client = await connectClient(`${gateway.brokerUrl}/mcp`);
    await client.client.callTool({ name: "echo", arguments: { message: "x" } });
    const exported = exposition(await (await fetch(`${gateway.brokerUrl}/metrics`)).text());

    const problems: string[] = [];
    const external = new Set<string>();
    for (const { where, expr } of queries()) {
      const refs = promqlRefs(expr);
      // label_values(metric, label): the second argument is a label.
      const labelValues = /^label_values\(\s*([^,\s]+)\s*,\s*([^)\s]+)\s*\)$/.exec(expr.trim());
      if (labelValues) {
        refs.metrics.delete(labelValues[2]);
        refs.labels.add(labelValues[2]);
      }
      assert(refs.metrics.size > 0, `${where} queries no metric: ${expr}`);
      const known = [...refs.metrics].filter((m) => exported.has(m));
      for (const m of refs.metrics) {
        if (exported.has(m)) continue;
        if (FROM_OTHER_WORK[m]) external.add(m);
        else problems.push(`${where}: ${m} is not exported`);
      }
      // Labels are checked where every metric of the query is exported (another's may carry the label).
      if (known.length < refs.metrics.size) continue;
      const labels = new Set(known.flatMap((m) => [...exported.get(m)!]));
      for (const label of refs.labels) {
        if (!labels.has(label)) {
          problems.push(`${where}: no series of ${known.join(", ")} has label ${label}`);
        }
      }
    }
    assertEquals(problems, []);
    // The exceptions are used, and still needed: once a gateway exports one, it leaves this list.
    assertEquals([...external].sort(), Object.keys(FROM_OTHER_WORK).sort());
    for (const m of external) {
      assert(!exported.has(m), `${m} is exported now: remove it from FROM_OTHER_WORK`);
    }
  } finally {
    await gateway.close();
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("observability manifests hang together: kustomize, rules, collector pipelines, dashboard", () => {
  const kustomization = parse(read("kustomization.yaml"));
  for (const resource of kustomization.resources) {
    for (const doc of parseAllDocuments(read(resource))) {
      const object = doc.toJS();
      assert(object.apiVersion && object.kind && object.metadata?.name, `${resource}: incomplete object`);
    }
  }
  for (const generator of kustomization.configMapGenerator) for (const file of generator.files) read(file);

  const rules = parse(read("prometheus-rules.yaml"));
  assertEquals(rules.kind, "PrometheusRule");
  const alerts = rules.spec.groups.flatMap((g: any) => g.rules);
  for (const rule of alerts) {
    assert(
      rule.alert && rule.expr && rule.labels?.severity && rule.annotations?.summary,
      JSON.stringify(rule),
    );
  }
  for (
    const wanted of [
      "MCPGatewayBackendDown",
      "MCPGatewayToolCallErrorRate",
      "MCPGatewayToolCallLatencyHigh",
      "MCPGatewayConfigRejected",
      "MCPGatewayConflicts",
      "MCPGatewaySessionStoreDegraded",
    ]
  ) assert(alerts.some((r: any) => r.alert === wanted), `missing alert ${wanted}`);

  const collector = parse(read("otel-collector.yaml"));
  for (const [name, pipeline] of Object.entries<any>(collector.service.pipelines)) {
    for (const kind of ["receivers", "processors", "exporters"]) {
      for (const component of pipeline[kind] ?? []) {
        assert(component in collector[kind], `pipeline ${name}: ${kind} ${component} is not defined`);
      }
    }
  }
  const scrape = collector.receivers.prometheus.config.scrape_configs[0];
  assertEquals(scrape.metrics_path, "/metrics");

  const dashboard = JSON.parse(read("grafana-dashboard.json"));
  const ids = dashboard.panels.map((p: any) => p.id);
  assertEquals(new Set(ids).size, ids.length, "panel ids are unique");
  assert(dashboard.panels.every((p: any) => p.gridPos), "every panel is placed");
});
