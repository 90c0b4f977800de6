/**
 * Projection: the provenance the gateway needs to explain itself. The in-process log keeps only a bounded
 * tail, so the facts behind "why is tool X served by Y, since when, after which event?" are folded here as
 * they happen: per served name, the event that made its current owner serve it and the last change; per
 * conflict, since when and against whom; per server, the config event that put its entry in effect and a
 * bounded health history; per open session, when it opened and with which protocol version.
 *
 * It folds the routing table itself (kept under a symbol, so it is left out of JSON: it duplicates the
 * `routingTable` projection), diffs the catalog whenever it changes, and records the event that caused each
 * difference. Session events are the high-rate part: like the session map, this fold updates the maps it
 * owns in place (O(1) per session event; upstream and config events cost O(catalog)), takes time only from
 * events, and stays deterministic — readers must not rely on reference changes; `revision` moves instead.
 */
import type { Projection } from "../events/projection.ts";
import type { EventType, LoggedEvent } from "../events/types.ts";
import type { AggregatedView, Conflict, ServedChange } from "../routing/aggregate.ts";
import { type RoutingState, routingTableProjection } from "../routing/routing_table.ts";
import type { UpstreamsState, UpstreamStatus } from "../routing/upstreams.ts";

/** The lists a name can be served in. */
export const SERVED_KINDS = ["tool", "prompt", "resource", "template"] as const;
export type ServedKind = typeof SERVED_KINDS[number];

/** Where a fact comes from: one logged event. */
export interface EventRef {
  seq: number;
  /** Milliseconds since the epoch, as logged. */
  at: number;
  type: EventType;
}

/** A config event that put something in effect. */
export interface ConfigRef extends EventRef {
  source: string;
  digest: string;
}

/** One step in a served name's life. */
export interface NameChange extends EventRef {
  change: "served" | "owner" | "definition" | "removed" | "conflict" | "conflict-ended";
  /** The server serving it after this change (or, when removed, the one that served it). */
  server: string;
  /** What the event was, in words ("listed by a", "a failed (connect): …"). */
  cause: string;
}

/** Everything remembered about one served (or formerly served) name. */
export interface NameRecord {
  kind: ServedKind;
  /** The name (or URI, URI template) clients use. */
  name: string;
  server: string;
  /** The name the server knows it by. */
  upstreamName: string;
  prefix: string;
  served: boolean;
  /** When served: the event from which this server has served it without a break. Else: since when not. */
  since: EventRef & { cause: string };
  /** The first time the gateway served this name. */
  firstServed: EventRef;
  /** The last event that changed who serves it, what it is, or whether it is served. */
  lastChange: EventRef;
  /** Newest last, at most {@link NAME_HISTORY} entries. */
  history: NameChange[];
}

/** A conflict and since when it has stood as it is. */
export interface ConflictRecord extends Conflict {
  since: EventRef;
}

/** One step of a server's health. Repeated identical failures are folded into one entry. */
export interface HealthEntry extends EventRef {
  status: UpstreamStatus | "removed";
  stage?: string;
  reason?: string;
  protocolVersion?: string;
  /** The protocol era the server speaks, when the events carry it. */
  era?: string;
  /** Further identical failures after this one, and the last of them. */
  repeats?: number;
  lastSeq?: number;
  lastAt?: number;
}

export interface ServerRecord {
  name: string;
  prefix: string;
  /** The config event that first listed the server. */
  added: ConfigRef;
  /** The config event that put the server's current entry (URL, prefix, credential, enabled) in effect. */
  config: ConfigRef;
  /** Set once the server left the configuration. */
  removed?: ConfigRef;
  era?: string;
  /** Newest last, at most {@link HEALTH_HISTORY} entries. */
  health: HealthEntry[];
}

/** An open gateway session, as far as this log saw it open. */
export interface SessionRecord {
  /** When it opened (ms). */
  at: number;
  protocolVersion: string;
  era?: string;
}

const ROUTING = Symbol("routing");

export interface ExplainState {
  /** Served names and, in {@link ExplainState.gone}, formerly served ones: kind → name → record. */
  names: Record<ServedKind, Map<string, NameRecord>>;
  /** Names no longer served, oldest first, at most {@link MAX_GONE} per kind. */
  gone: Record<ServedKind, Map<string, NameRecord>>;
  conflicts: Record<ServedKind, Map<string, ConflictRecord>>;
  servers: Map<string, ServerRecord>;
  config: { loaded?: ConfigRef; rejected?: EventRef & { source: string; reason: string } };
  /**
   * Open sessions: id → when it opened, its protocol version and era, packed into one number (see
   * {@link sessionRecord}). Sessions are the gateway's bulk: a number costs nothing beyond the map entry,
   * an object about 70 bytes more per session.
   */
  sessions: Map<string, number>;
  /** Protocol versions and eras seen, so a packed session names them by index; index 0 is "none". */
  labels: { versions: string[]; eras: string[] };
  /** Open sessions by protocol version. */
  sessionsByVersion: Record<string, number>;
  /** Open sessions by protocol era, counting those whose events carry one (none before the era work). */
  sessionsByEra: Record<string, number>;
  /** The last event folded. */
  seq: number;
  at: number;
  revision: number;
  /** The routing table as of `seq` (the same fold as the `routingTable` projection). Not serialized. */
  [ROUTING]: { base: UpstreamsState; view: RoutingState };
}

/** History entries kept per name. */
export const NAME_HISTORY = 8;
/** Health entries kept per server. */
export const HEALTH_HISTORY = 32;
/** Formerly served names remembered per kind; the oldest are forgotten first. */
export const MAX_GONE = 2_000;
/** Servers that left the configuration remembered; the oldest are forgotten first. */
export const MAX_REMOVED_SERVERS = 100;

const KIND_VIEW: Record<ServedKind, keyof RoutingState["catalog"]> = {
  tool: "tools",
  prompt: "prompts",
  resource: "resources",
  template: "templates",
};

/** The routing state the explain projection folded alongside (equal to the `routingTable` projection's). */
export function routingOf(state: ExplainState): { base: UpstreamsState; view: RoutingState } {
  return state[ROUTING];
}

function byKind<T>(make: () => T): Record<ServedKind, T> {
  return { tool: make(), prompt: make(), resource: make(), template: make() };
}

function ref(event: LoggedEvent): EventRef {
  return { seq: event.seq, at: event.at, type: event.type };
}

function configRef(event: Extract<LoggedEvent, { type: "ConfigLoaded" }>): ConfigRef {
  return { ...ref(event), source: event.source, digest: event.digest };
}

/** The era a logged event carries, once the era work adds one (an optional field; absent today). */
function eraOf(event: LoggedEvent): string | undefined {
  const era = (event as { era?: unknown }).era;
  return typeof era === "string" ? era : undefined;
}

/** What an event did, in words, for a name served (or not) by `server`. */
function cause(event: LoggedEvent, server: string): string {
  switch (event.type) {
    case "ConfigLoaded":
      return `configuration loaded from ${event.source}`;
    case "ToolsDiscovered":
    case "PromptsDiscovered":
    case "ResourcesDiscovered":
      return `${event.server} listed its ${event.type.slice(0, -"Discovered".length).toLowerCase()}`;
    case "UpstreamFailed":
      return `${event.server} failed (${event.stage}): ${event.reason}`;
    case "UpstreamRemoved":
      return `${event.server} was removed`;
    case "UpstreamConnected":
      return `${event.server} connected`;
    default:
      return `${event.type} (${server})`;
  }
}

/** The server whose listing an event is, if it is one. */
function listedBy(event: LoggedEvent): string | undefined {
  switch (event.type) {
    case "ToolsDiscovered":
    case "PromptsDiscovered":
    case "ResourcesDiscovered":
      return event.server;
    default:
      return undefined;
  }
}

function push<T>(list: T[], entry: T, max: number) {
  list.push(entry);
  if (list.length > max) list.splice(0, list.length - max);
}

/**
 * The names whose owner or definition changed from `previous` to `next`: the view's own record of its last
 * step when it was built from `previous` (a change costs in proportion to the server that changed), else
 * every name either serves.
 */
function changedNames(previous: AggregatedView, next: AggregatedView): ReadonlyMap<string, ServedChange> {
  if (next.changes.from === previous.id) return next.changes.names;
  const names = new Map<string, ServedChange>();
  for (const [name, before] of previous.owners) {
    names.set(name, { before, after: next.get(name), same: false });
  }
  for (const [name, after] of next.owners) if (!names.has(name)) names.set(name, { after, same: false });
  return names;
}

function diffNames(
  state: ExplainState,
  kind: ServedKind,
  previous: AggregatedView,
  next: AggregatedView,
  base: UpstreamsState,
  event: LoggedEvent,
) {
  const names = state.names[kind];
  const gone = state.gone[kind];
  const at = ref(event);
  const discoveredBy = listedBy(event);
  const changes = changedNames(previous, next);
  for (const name of [...changes.keys()].sort()) {
    const { before, after: item } = changes.get(name)!;
    if (!item) {
      const record = names.get(name);
      if (!before || !record) continue;
      names.delete(name);
      const why = cause(event, before.server);
      record.served = false;
      record.since = { ...at, cause: why };
      record.lastChange = at;
      push(record.history, { ...at, change: "removed", server: before.server, cause: why }, NAME_HISTORY);
      gone.set(name, record);
      if (gone.size > MAX_GONE) gone.delete(gone.keys().next().value!);
      continue;
    }
    const prefix = base.servers.get(item.server)?.config.toolPrefix ?? "";
    let record = names.get(item.name);
    if (!record) {
      record = gone.get(item.name);
      gone.delete(item.name);
      const why = cause(event, item.server);
      if (record) {
        Object.assign(record, {
          server: item.server,
          upstreamName: item.upstreamName,
          prefix,
          served: true,
          since: { ...at, cause: why },
          lastChange: at,
        });
      } else {
        record = {
          kind,
          name: item.name,
          server: item.server,
          upstreamName: item.upstreamName,
          prefix,
          served: true,
          since: { ...at, cause: why },
          firstServed: at,
          lastChange: at,
          history: [],
        };
      }
      names.set(item.name, record);
      push(record.history, { ...at, change: "served", server: item.server, cause: why }, NAME_HISTORY);
      continue;
    }
    if (record.server !== item.server || record.upstreamName !== item.upstreamName) {
      const why = `${cause(event, item.server)}; ${item.server} serves it now, not ${record.server}`;
      push(record.history, { ...at, change: "owner", server: item.server, cause: why }, NAME_HISTORY);
      Object.assign(record, {
        server: item.server,
        upstreamName: item.upstreamName,
        prefix,
        since: { ...at, cause: why },
        lastChange: at,
      });
      continue;
    }
    record.prefix = prefix;
    // Definitions change only when their server lists again.
    if (
      discoveredBy === item.server && before && before.item !== item.item &&
      JSON.stringify(before.item) !== JSON.stringify(item.item)
    ) {
      record.lastChange = at;
      push(record.history, {
        ...at,
        change: "definition",
        server: item.server,
        cause: `${item.server} listed a changed definition`,
      }, NAME_HISTORY);
    }
  }
}

function diffConflicts(state: ExplainState, kind: ServedKind, next: readonly Conflict[], event: LoggedEvent) {
  const conflicts = state.conflicts[kind];
  const at = ref(event);
  const seen = new Set<string>();
  for (const c of next) {
    seen.add(c.name);
    const old = conflicts.get(c.name);
    if (old && old.winner === c.winner && old.shadowed.join() === c.shadowed.join()) continue;
    conflicts.set(c.name, { name: c.name, winner: c.winner, shadowed: [...c.shadowed], since: at });
    const record = state.names[kind].get(c.name);
    if (record) {
      push(record.history, {
        ...at,
        change: "conflict",
        server: c.winner,
        cause: `${c.winner} keeps the name over ${c.shadowed.join(", ")} (first in config order)`,
      }, NAME_HISTORY);
    }
  }
  for (const name of [...conflicts.keys()]) {
    if (seen.has(name)) continue;
    const old = conflicts.get(name)!;
    conflicts.delete(name);
    const record = state.names[kind].get(name) ?? state.gone[kind].get(name);
    if (record) {
      push(record.history, {
        ...at,
        change: "conflict-ended",
        server: old.winner,
        cause: `no other server offers it now (${cause(event, old.winner)})`,
      }, NAME_HISTORY);
    }
  }
}

function health(state: ExplainState, before: UpstreamsState, after: UpstreamsState, event: LoggedEvent) {
  for (const [name, s] of after.servers) {
    const previous = before.servers.get(name);
    const record = state.servers.get(name);
    // Events a fold ignored (a superseded manager's) leave the server's state as it was.
    if (!record || previous === s) continue;
    const last = record.health.at(-1);
    if (event.type === "UpstreamFailed" && event.server === name) {
      if (last?.status === "failed" && last.stage === event.stage && last.reason === event.reason) {
        last.repeats = (last.repeats ?? 0) + 1;
        last.lastSeq = event.seq;
        last.lastAt = event.at;
      } else {
        const entry: HealthEntry = {
          ...ref(event),
          status: "failed",
          stage: event.stage,
          reason: event.reason,
        };
        push(record.health, entry, HEALTH_HISTORY);
      }
      continue;
    }
    if (previous?.status === s.status) continue;
    // Retries between failures say nothing new: the failure entry counts them.
    if (s.status === "connecting" && last?.status === "failed") continue;
    const entry: HealthEntry = { ...ref(event), status: s.status };
    if (s.status === "ready" && s.protocolVersion) entry.protocolVersion = s.protocolVersion;
    if (record.era) entry.era = record.era;
    push(record.health, entry, HEALTH_HISTORY);
  }
}

function onConfig(
  state: ExplainState,
  before: UpstreamsState,
  after: UpstreamsState,
  event: Extract<LoggedEvent, { type: "ConfigLoaded" }>,
) {
  const at = configRef(event);
  state.config.loaded = at;
  for (const [name, s] of after.servers) {
    const record = state.servers.get(name);
    const previous = before.servers.get(name);
    const changed = !previous || previous.upstreamKey !== s.upstreamKey ||
      previous.config.enabled !== s.config.enabled || previous.config.toolPrefix !== s.config.toolPrefix ||
      previous.config.hostname !== s.config.hostname;
    if (!record || record.removed) {
      // A server that comes back keeps its health history; it is a new entry in every other respect.
      state.servers.delete(name);
      state.servers.set(name, {
        name,
        prefix: s.config.toolPrefix,
        added: at,
        config: at,
        health: record?.health ?? [],
      });
    } else if (changed) {
      record.config = at;
      record.prefix = s.config.toolPrefix;
    }
  }
  let removed = 0;
  for (const [name, record] of state.servers) {
    if (after.servers.has(name)) continue;
    if (!record.removed) {
      record.removed = at;
      push(record.health, { ...ref(event), status: "removed" }, HEALTH_HISTORY);
    }
    removed++;
  }
  for (const [name, record] of state.servers) {
    if (removed <= MAX_REMOVED_SERVERS) break;
    if (record.removed) {
      state.servers.delete(name);
      removed--;
    }
  }
}

function count(counts: Record<string, number>, key: string | undefined, by: 1 | -1) {
  if (key === undefined) return;
  counts[key] = (counts[key] ?? 0) + by;
  if (counts[key] <= 0) delete counts[key];
}

/** Distinct versions (and eras) a packed session can name; more are counted as "other". */
const LABELS = 16;

function labelIndex(labels: string[], value: string | undefined): number {
  if (value === undefined) return 0;
  let i = labels.indexOf(value);
  if (i < 0 && labels.length < LABELS - 1) i = labels.push(value) - 1;
  return i < 0 ? LABELS - 1 : i;
}

function labelAt(labels: string[], i: number): string | undefined {
  return i === 0 ? undefined : i === LABELS - 1 ? "other" : labels[i];
}

/** The open session's record, unpacked (undefined when this log did not see it open). */
export function sessionRecord(state: ExplainState, id: string): SessionRecord | undefined {
  const packed = state.sessions.get(id);
  if (packed === undefined) return undefined;
  const version = labelAt(state.labels.versions, packed % LABELS) ?? "";
  const era = labelAt(state.labels.eras, Math.floor(packed / LABELS) % LABELS);
  const record: SessionRecord = { at: Math.floor(packed / (LABELS * LABELS)), protocolVersion: version };
  if (era) record.era = era;
  return record;
}

function onSession(state: ExplainState, event: LoggedEvent): boolean {
  switch (event.type) {
    case "SessionOpened": {
      if (state.sessions.has(event.session)) return false;
      const version = labelIndex(state.labels.versions, event.protocolVersion);
      const era = labelIndex(state.labels.eras, eraOf(event));
      // Exact while at·256 < 2^53: until the year 2248.
      state.sessions.set(event.session, (event.at * LABELS + era) * LABELS + version);
      count(state.sessionsByVersion, labelAt(state.labels.versions, version), 1);
      count(state.sessionsByEra, labelAt(state.labels.eras, era), 1);
      return true;
    }
    case "SessionClosed": {
      const record = sessionRecord(state, event.session);
      if (!record) return false;
      state.sessions.delete(event.session);
      count(state.sessionsByVersion, record.protocolVersion, -1);
      count(state.sessionsByEra, record.era, -1);
      return true;
    }
    default:
      return false;
  }
}

export const explainProjection: Projection<ExplainState> = {
  name: "explain",
  // A getter: the state is updated in place, so every log needs maps of its own.
  get initial(): ExplainState {
    return {
      names: byKind(() => new Map()),
      gone: byKind(() => new Map()),
      conflicts: byKind(() => new Map()),
      servers: new Map(),
      config: {},
      sessions: new Map(),
      labels: { versions: [""], eras: [""] },
      sessionsByVersion: {},
      sessionsByEra: {},
      seq: 0,
      at: 0,
      revision: 0,
      [ROUTING]: routingTableProjection.initial,
    };
  },
  apply(state, event) {
    state.seq = event.seq;
    state.at = event.at;
    if (onSession(state, event)) {
      state.revision++;
      return state;
    }
    if (event.type === "ConfigRejected") {
      state.config.rejected = { ...ref(event), source: event.source, reason: event.reason };
      state.revision++;
    }
    const previous = state[ROUTING];
    const next = routingTableProjection.apply(previous, event);
    if (next === previous) return state;
    state[ROUTING] = next;
    if (event.type === "ConfigLoaded") onConfig(state, previous.base, next.base, event);
    const era = eraOf(event);
    if (era && "server" in event) {
      const record = state.servers.get(event.server);
      if (record) record.era = era;
    }
    health(state, previous.base, next.base, event);
    if (next.view.catalog !== previous.view.catalog) {
      for (const kind of SERVED_KINDS) {
        const before = previous.view.catalog[KIND_VIEW[kind]];
        const after = next.view.catalog[KIND_VIEW[kind]];
        if (before === after) continue;
        diffNames(state, kind, before, after, next.base, event);
        diffConflicts(state, kind, after.conflicts, event);
      }
    }
    state.revision++;
    return state;
  },
};
