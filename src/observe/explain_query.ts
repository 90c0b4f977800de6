/**
 * Answers "why?" about a served name or a session, from projection state alone: the `explain` projection's
 * provenance, the routing table it folded, the session map and the log's bounded tail. The same function
 * answers `GET /debug/explain` in a live gateway and `deno task replay --explain` over a recorded log, so
 * both give the same answer for the same events.
 */
import { z } from "zod";
import type { LoggedEvent } from "../events/types.ts";
import { prefixUri } from "../routing/aggregate.ts";
import { resolveResource, templateMatches } from "../routing/routing_table.ts";
import type { SessionMapState } from "../session/session_map.ts";
import {
  type ConflictRecord,
  type EventRef,
  type ExplainState,
  type NameRecord,
  routingOf,
  type ServedKind,
  sessionRecord,
} from "./explain.ts";

const name = z.string().min(1, "must not be empty").max(2048, "is longer than 2048 characters");

/** One of `tool`, `prompt`, `uri` or `session`, as `/debug/explain?tool=NAME` and replay's `--explain` take it. */
export const ExplainQuerySchema = z.object({
  tool: name.optional(),
  prompt: name.optional(),
  uri: name.optional(),
  session: name.optional(),
}).strict().refine(
  (q) => Object.values(q).filter((v) => v !== undefined).length === 1,
  "give exactly one of tool=NAME, prompt=NAME, uri=URI or session=ID",
);
export type ExplainQuery = z.infer<typeof ExplainQuerySchema>;

/** Parses query parameters (or `key=value` pairs) into a query, or a message saying what is wrong. */
export function parseExplainQuery(
  params: Iterable<[string, string]>,
): { ok: true; query: ExplainQuery } | { ok: false; error: string } {
  const parsed = ExplainQuerySchema.safeParse(Object.fromEntries(params));
  if (parsed.success) return { ok: true, query: parsed.data };
  return {
    ok: false,
    error: parsed.error.issues.map((i) =>
      i.code === "unrecognized_keys"
        ? `unknown parameter ${i.keys.join(", ")}: give tool=, prompt=, uri= or session=`
        : i.path.length
        ? `${i.path.join(".")} ${i.message}`
        : i.message
    ).join("; "),
  };
}

/** What an answer draws on. */
export interface ExplainSources {
  explain: ExplainState;
  sessions: SessionMapState;
  /** The events the log still holds, oldest first. */
  recent: readonly LoggedEvent[];
}

function iso(at: number): string {
  return new Date(at).toISOString();
}

function describeRef(r: EventRef & { cause?: string }): string {
  return `seq ${r.seq} (${r.type}, ${iso(r.at)})${r.cause ? `: ${r.cause}` : ""}`;
}

/** The facts about one server: current status from the routing state, provenance from the projection. */
function serverFacts(sources: ExplainSources, server: string) {
  const state = routingOf(sources.explain).base.servers.get(server);
  const record = sources.explain.servers.get(server);
  if (!state && !record) return undefined;
  return {
    name: server,
    status: state?.status ?? "removed",
    prefix: state?.config.toolPrefix ?? record?.prefix,
    hostname: state?.config.hostname,
    enabled: state?.config.enabled,
    era: record?.era,
    protocolVersion: state?.protocolVersion,
    lastError: state?.lastError,
    consecutiveFailures: state?.consecutiveFailures,
    unavailableSince: state?.unavailableSince,
    nextAttemptAt: state?.nextAttemptAt,
    added: record?.added,
    config: record?.config,
    removed: record?.removed,
    health: record?.health ?? [],
  };
}

function conflictFacts(conflict: ConflictRecord | undefined, server: string | undefined) {
  if (!conflict) return undefined;
  return {
    winner: conflict.winner,
    shadowed: conflict.shadowed,
    won: conflict.winner === server,
    since: conflict.since,
    rule: "the first server in config order keeps a name that several offer",
  };
}

function asOf(state: ExplainState) {
  return { seq: state.seq, at: state.at };
}

/** Served names of `kind` that look like what was asked for: the same upstream name, or a suffix. */
function candidates(state: ExplainState, kind: ServedKind, asked: string): string[] {
  const out: string[] = [];
  for (const record of state.names[kind].values()) {
    if (record.upstreamName === asked || record.name.endsWith(asked)) out.push(record.name);
    if (out.length >= 10) break;
  }
  return out.sort();
}

function explainName(sources: ExplainSources, kind: ServedKind, asked: string) {
  const state = sources.explain;
  const routing = routingOf(state);
  const record: NameRecord | undefined = state.names[kind].get(asked) ?? state.gone[kind].get(asked);
  const conflict = conflictFacts(state.conflicts[kind].get(asked), record?.server);
  // A known tool of a server that is not serving: calls are answered "unavailable", not "unknown".
  const dormantServer = kind === "tool" ? routing.view.table.dormantTools.get(asked) : undefined;
  const dormant = dormantServer ? serverFacts(sources, dormantServer) : undefined;
  if (!record) {
    const similar = candidates(state, kind, asked);
    return {
      asOf: asOf(state),
      kind,
      name: asked,
      found: false,
      served: false,
      summary: `${kind} ${asked} has not been served since the gateway started` +
        (dormant ? `; ${dormant.name} knew it but is ${dormant.status}` : "") +
        (similar.length ? `; served names like it: ${similar.join(", ")}` : ""),
      dormant,
      candidates: similar,
    };
  }
  const server = serverFacts(sources, record.server);
  const summary = record.served
    ? `${kind} ${asked} is served by ${record.server} (its "${record.upstreamName}", prefix "${record.prefix}") ` +
      `since ${describeRef(record.since)}` +
      (server?.config
        ? `; the server's entry comes from config seq ${server.config.seq} (${server.config.source})`
        : "") +
      (conflict
        ? `; ${conflict.won ? "it won a conflict against" : "it lost a conflict to"} ${
          conflict.won ? conflict.shadowed.join(", ") : conflict.winner
        } (first in config order)`
        : "")
    : `${kind} ${asked} is not served since ${describeRef(record.since)}; ${record.server} served it before` +
      (dormant ? ` and is ${dormant.status}` : "");
  return {
    asOf: asOf(state),
    kind,
    name: asked,
    found: true,
    served: record.served,
    server: record.server,
    prefix: record.prefix,
    upstreamName: record.upstreamName,
    since: record.since,
    firstServed: record.firstServed,
    lastChange: record.lastChange,
    conflict,
    history: record.history,
    summary,
    serverFacts: server,
    dormant,
  };
}

function explainUri(sources: ExplainSources, uri: string) {
  const state = sources.explain;
  if (state.names.resource.has(uri) || state.gone.resource.has(uri)) {
    const listed = explainName(sources, "resource", uri);
    if (listed.served) return listed;
  }
  const routing = routingOf(state);
  const route = resolveResource(routing.base, routing.view.table, uri);
  if (!route) return explainName(sources, "resource", uri);
  const candidate = routing.view.table.uriPrefixes.find((c) => c.server === route.server);
  const template = candidate?.templates.find((t) => templateMatches(t, route.upstreamUri));
  const servedTemplate = template !== undefined ? prefixUri(candidate!.prefix, template) : undefined;
  const record = servedTemplate !== undefined ? state.names.template.get(servedTemplate) : undefined;
  return {
    asOf: asOf(state),
    kind: "resource" as const,
    name: uri,
    found: true,
    served: true,
    server: route.server,
    prefix: candidate?.prefix,
    upstreamName: route.upstreamUri,
    resolvedBy: template !== undefined ? "template" : "prefix",
    template: servedTemplate,
    since: record?.since,
    conflict: conflictFacts(
      servedTemplate !== undefined ? state.conflicts.template.get(servedTemplate) : undefined,
      route.server,
    ),
    summary: `resource ${uri} is not listed; it goes to ${route.server} as ${route.upstreamUri}, ` +
      (template !== undefined
        ? `matching its template ${servedTemplate}` +
          (record ? ` (served since ${describeRef(record.since)})` : "")
        : `by its prefix "${candidate?.prefix ?? ""}"`),
    serverFacts: serverFacts(sources, route.server),
  };
}

function explainSession(sources: ExplainSources, session: string) {
  const state = sources.explain;
  const open = sources.sessions.open.get(session);
  const closedUntil = sources.sessions.closed.get(session);
  const opened = sessionRecord(state, session);
  const events = sources.recent.filter((e) => "session" in e && e.session === session);
  const bindings = [...open?.backends ?? []].map(([server, b]) => ({
    server,
    backendSession: b.id,
    protocolVersion: b.protocolVersion,
  }));
  const status = open ? "open" : closedUntil !== undefined ? "closed" : "unknown";
  return {
    asOf: asOf(state),
    session,
    status,
    opened,
    expiresAt: open?.expiresAt ?? closedUntil,
    answersRequests: open?.answersRequests ?? false,
    bindings,
    events,
    tail: { from: sources.recent[0]?.seq ?? 0, to: sources.recent.at(-1)?.seq ?? 0 },
    summary: status === "open"
      ? `session ${session} is open` +
        (opened ? ` since ${iso(opened.at)} (${opened.protocolVersion})` : "") +
        `; bound to ${bindings.length ? bindings.map((b) => b.server).join(", ") : "no backend yet"}`
      : status === "closed"
      ? `session ${session} was closed; its token is refused until ${iso(closedUntil!)}`
      : `session ${session} is not open here, and the log's tail (seq ${sources.recent[0]?.seq ?? 0}–${
        sources.recent.at(-1)?.seq ?? 0
      }) does not name it` + (events.length ? " (but has events for it)" : ""),
  };
}

/** The answer to one query, as plain JSON-ready data (Maps already turned into lists). */
export function explain(sources: ExplainSources, query: ExplainQuery) {
  if (query.tool !== undefined) return explainName(sources, "tool", query.tool);
  if (query.prompt !== undefined) return explainName(sources, "prompt", query.prompt);
  if (query.uri !== undefined) return explainUri(sources, query.uri);
  return explainSession(sources, query.session!);
}
