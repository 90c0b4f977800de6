/**
 * `GET /debug/overview`: what the console shows, in one answer — servers with health (and era, once
 * upstream events carry one), the aggregated catalog with conflicts, sessions by protocol version and era,
 * and per-server call counts and latency histograms read from the gateway's own Prometheus metrics (the
 * console turns successive answers into rates and quantiles).
 *
 * The catalog can be large: `?catalog=VERSION` leaves its item lists out while the client's copy is current.
 */
import type { BrokerContext } from "./context.ts";
import { SERVED_KINDS, sessionRecord } from "../observe/explain.ts";

/** Newest open sessions listed (the count covers all). */
const SESSIONS_LISTED = 25;
/** Health entries per server (the full history is on `/debug/explain`). */
const HEALTH_LISTED = 12;

interface ServerMetrics {
  calls: Record<string, number>;
  /** Cumulative counts per upper bound (seconds), as Prometheus buckets. */
  buckets: [number, number][];
  count: number;
  sum: number;
}

async function metricsByServer(ctx: BrokerContext): Promise<Record<string, ServerMetrics>> {
  const out: Record<string, ServerMetrics> = {};
  const of = (server: string) => out[server] ??= { calls: {}, buckets: [], count: 0, sum: 0 };
  for (const { labels, value } of (await ctx.metrics.toolCalls.get()).values) {
    const calls = of(String(labels.server)).calls;
    const outcome = String(labels.outcome);
    calls[outcome] = (calls[outcome] ?? 0) + value;
  }
  for (const sample of (await ctx.metrics.toolCallSeconds.get()).values) {
    const server = of(String(sample.labels.server));
    const name = (sample as { metricName?: string }).metricName ?? "";
    if (name.endsWith("_bucket")) {
      const bound = String((sample.labels as Record<string, unknown>).le);
      const le = bound === "+Inf" ? Infinity : Number(bound);
      server.buckets.push([le, sample.value]);
    } else if (name.endsWith("_sum")) server.sum = sample.value;
    else if (name.endsWith("_count")) server.count = sample.value;
  }
  return out;
}

export async function handleOverview(ctx: BrokerContext, url: URL): Promise<Response> {
  const explain = ctx.explain.state;
  const upstreams = ctx.upstreams.state;
  const catalog = ctx.routing.state.view.catalog;
  const servers = [...upstreams.servers.values()].map((s) => {
    const record = explain.servers.get(s.config.name);
    return {
      name: s.config.name,
      status: s.status,
      enabled: s.config.enabled,
      prefix: s.config.toolPrefix,
      hostname: s.config.hostname,
      era: record?.era,
      protocolVersion: s.protocolVersion,
      serverInfo: s.serverInfo,
      tools: s.tools.length,
      prompts: s.prompts.length,
      resources: s.resources.length,
      templates: s.templates.length,
      lastError: s.lastError ? { ...s.lastError, reason: ctx.redactor.text(s.lastError.reason) } : undefined,
      consecutiveFailures: s.consecutiveFailures,
      config: record?.config,
      health: (record?.health ?? []).slice(-HEALTH_LISTED).map((h) =>
        h.reason ? { ...h, reason: ctx.redactor.text(h.reason) } : h
      ),
    };
  });
  const version = catalog.tools.version;
  const current = url.searchParams.get("catalog") === String(version);
  const conflicts = SERVED_KINDS.flatMap((kind) =>
    [...explain.conflicts[kind].values()].map((c) => ({ kind, ...c }))
  );
  // Newest last in the map (insertion order); only the ids are copied.
  const ids = [...explain.sessions.keys()];
  const sessions = ids.slice(-SESSIONS_LISTED).reverse().map((id) => ({
    id,
    ...sessionRecord(explain, id),
    bindings: [...ctx.sessions.state.open.get(id)?.backends ?? []].map(([server, b]) => ({
      server,
      protocolVersion: b.protocolVersion,
    })),
  }));
  const { loaded, rejected } = explain.config;
  return Response.json({
    asOf: { seq: explain.seq, at: explain.at },
    config: {
      source: upstreams.configSource,
      digest: upstreams.configDigest,
      loaded,
      rejected: rejected ? { ...rejected, reason: ctx.redactor.text(rejected.reason) } : undefined,
    },
    servers,
    catalog: {
      version,
      totals: {
        tools: catalog.tools.size,
        prompts: catalog.prompts.size,
        resources: catalog.resources.size,
        templates: catalog.templates.size,
      },
      conflicts,
      ...(current ? {} : {
        tools: catalog.tools.items.map((t) => ({
          name: t.name,
          server: t.server,
          upstreamName: t.upstreamName,
        })),
        prompts: catalog.prompts.items.map((t) => ({
          name: t.name,
          server: t.server,
          upstreamName: t.upstreamName,
        })),
      }),
    },
    sessions: {
      open: ctx.sessions.state.open.size,
      closed: ctx.sessions.state.closed.size,
      byVersion: explain.sessionsByVersion,
      byEra: explain.sessionsByEra,
      newest: sessions,
    },
    metrics: { at: Date.now(), servers: await metricsByServer(ctx) },
  });
}
