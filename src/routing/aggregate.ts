/**
 * The one rule every aggregated list follows (tools, prompts, resources, resource templates): take each
 * ready, enabled server in config order, rename its items with its prefix, let the first server keep a
 * name that two offer (and report the conflict), sort, and pre-render the JSON clients get.
 *
 * The fold is incremental, keyed by server: each server's renamed items are its contribution, and an event
 * that changes one server's listing (or status) changes only the names that server offers or offered; a
 * change costs in proportion to that server (the indexes are {@link PersistentMap}s). A config change
 * (prefixes, order, servers added or removed) rebuilds the whole list. What clients read whole (the sorted
 * list, its JSON, the conflicts) is worked out on first read of each version, so a burst of discoveries
 * (a hundred servers answering at start-up) renders it once, not once per server.
 */
import type { GatewayConfig } from "../config/schema.ts";
import { PersistentMap } from "./persistent_map.ts";
import type { UpstreamsState, UpstreamState } from "./upstreams.ts";

/** One served item and where it comes from. */
export interface ServedItem<T = Record<string, unknown>> {
  /** Name (or URI) clients use. */
  name: string;
  server: string;
  /** Name (or URI) the owning server knows it by. */
  upstreamName: string;
  /** The object clients get: the upstream's, verbatim, but for its renamed key. */
  item: T;
}

/** Two or more servers offering the same served name: the first in config order keeps it. */
export interface Conflict {
  name: string;
  winner: string;
  shadowed: string[];
}

/** How one served name changed in one step of the fold. */
export interface ServedChange<T = Record<string, unknown>> {
  /** Its owner's item before (absent: it was not served). */
  before?: ServedItem<T>;
  /** Its owner's item after (absent: it is not served any more). */
  after?: ServedItem<T>;
  /** Clients see the same (the same definition and requirements), though its owner may have moved. */
  same: boolean;
}

/** One server's items of one kind, renamed under its prefix. */
interface Contribution<T> {
  /** What it was built from (the server's list, its requirements), to tell when it changes. */
  source: readonly T[];
  needsSource: unknown;
  /** Served name → item; a server listing one name twice keeps its first. */
  items: ReadonlyMap<string, ServedItem<T>>;
  /** Served name → client capabilities it needs to be listed. */
  needs: ReadonlyMap<string, readonly string[]>;
}

const NO_ITEMS: ReadonlyMap<string, never> = new Map<string, never>();
const NO_CONTRIBUTION: Contribution<never> = {
  source: [],
  needsSource: undefined,
  items: NO_ITEMS,
  needs: NO_ITEMS,
};

export interface AggregateSpec<T> {
  /** The server's items of this kind. */
  items(server: UpstreamState): readonly T[];
  /** The key that is renamed and must be unique (`name`, `uri`, `uriTemplate`). */
  key: keyof T & string;
  /** Served name for an upstream name under a prefix. */
  rename(prefix: string, upstreamName: string): string;
  /** Client capabilities an item needs to be listed (tools a server lists only to some clients). */
  needs?(server: UpstreamState): Readonly<Record<string, readonly string[]>> | undefined;
}

/** One version of an aggregated list. Immutable: every change makes a new one. */
export class AggregatedView<T = Record<string, unknown>> {
  /**
   * Tells the views of one fold apart (the one before this had `id - 1`), so `changes.from` names the view
   * they were counted from; counted per fold, so a replay of the same events gives the same views.
   */
  readonly id: number;
  #items?: readonly ServedItem<T>[];
  #json?: string;
  #conflicts?: readonly Conflict[];

  constructor(
    /** Bumped only when the served list changes: clients hear `list_changed` exactly then. */
    readonly version: number,
    /** Served name → the item of the server that keeps it. */
    readonly owners: PersistentMap<ServedItem<T>>,
    /** Served name → the other servers offering it, in config order (names two servers offer only). */
    readonly shadowed: PersistentMap<readonly string[]>,
    /** Served name → client capabilities it needs to be listed (names that need some only). */
    readonly requirements: PersistentMap<readonly string[]>,
    /**
     * What changed since the view this was built from (`from`, its id); `full` when it was built whole
     * (every name listed).
     */
    readonly changes: { from?: number; full: boolean; names: ReadonlyMap<string, ServedChange<T>> },
    /** @internal What the next step starts from. */
    readonly basis: {
      config: GatewayConfig | undefined;
      contributions: ReadonlyMap<string, Contribution<T>>;
    },
  ) {
    this.id = (changes.from ?? 0) + 1;
  }

  /** Sorted by served name. */
  get items(): readonly ServedItem<T>[] {
    return this.#items ??= [...this.owners.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0
    );
  }

  /** The items as a JSON array, pre-rendered once per version: list calls are the hottest reads. */
  get json(): string {
    return this.#json ??= JSON.stringify(this.items.map((t) => t.item));
  }

  /** Sorted by name. */
  get conflicts(): readonly Conflict[] {
    return this.#conflicts ??= [...this.shadowed].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map((
      [name, shadowed],
    ) => ({ name, winner: this.owners.get(name)!.server, shadowed: [...shadowed] }));
  }

  get size(): number {
    return this.owners.size;
  }

  /** The served item of this name, if any. */
  get(name: string): ServedItem<T> | undefined {
    return this.owners.get(name);
  }
}

/** The aggregate of `upstreams` for one kind; keeps `previous` (the same object) when nothing changed. */
export function aggregate<T extends Record<string, unknown>>(
  upstreams: UpstreamsState,
  spec: AggregateSpec<T>,
  previous: AggregatedView<T> | undefined,
): AggregatedView<T> {
  if (!previous || previous.basis.config !== upstreams.config) return rebuild(upstreams, spec, previous);
  const before = previous.basis.contributions;
  let contributions: Map<string, Contribution<T>> | undefined;
  const changed: [string, Contribution<T>, Contribution<T>][] = [];
  for (const server of upstreams.servers.values()) {
    const name = server.config.name;
    const old = before.get(name) ?? NO_CONTRIBUTION;
    const next = contributionOf(server, spec, old);
    if (next === old) continue;
    contributions ??= new Map(before);
    contributions.set(name, next);
    changed.push([name, old, next]);
  }
  if (!contributions) return previous;
  const step = new Step(previous, rankOf(upstreams), contributions);
  for (const [server, old, next] of changed) step.apply(server, old, next);
  return step.finish(upstreams.config);
}

/** Config order of the servers (index), once per config. */
const ranks = new WeakMap<GatewayConfig, ReadonlyMap<string, number>>();
function rankOf(upstreams: UpstreamsState): ReadonlyMap<string, number> {
  let rank = ranks.get(upstreams.config);
  if (!rank) {
    rank = new Map([...upstreams.servers.keys()].map((name, i) => [name, i]));
    ranks.set(upstreams.config, rank);
  }
  return rank;
}

/** A server's contribution; `old` itself when what it is built from has not changed. */
function contributionOf<T extends Record<string, unknown>>(
  server: UpstreamState,
  spec: AggregateSpec<T>,
  old: Contribution<T>,
): Contribution<T> {
  if (server.status !== "ready" || !server.config.enabled) return NO_CONTRIBUTION;
  const source = spec.items(server);
  const needsSource = spec.needs?.(server);
  if (source === old.source && needsSource === old.needsSource) return old;
  const prefix = server.config.toolPrefix;
  const items = new Map<string, ServedItem<T>>();
  const needs = new Map<string, readonly string[]>();
  const seen = new Set<string>();
  for (const item of source) {
    const upstreamName = String(item[spec.key]);
    if (seen.has(upstreamName)) continue; // a server listing one name twice: its first wins
    seen.add(upstreamName);
    const name = spec.rename(prefix, upstreamName);
    if (items.has(name)) continue;
    items.set(name, {
      name,
      server: server.config.name,
      upstreamName,
      item: name === upstreamName ? item : { ...item, [spec.key]: name },
    });
    const needed = (needsSource as Record<string, readonly string[]> | undefined)?.[upstreamName];
    if (needed?.length) needs.set(name, needed);
  }
  if (!items.size) return { ...NO_CONTRIBUTION, source, needsSource } as Contribution<T>;
  return { source, needsSource, items, needs };
}

/** The whole list from scratch (first build, or a config change): every server in config order. */
function rebuild<T extends Record<string, unknown>>(
  upstreams: UpstreamsState,
  spec: AggregateSpec<T>,
  previous: AggregatedView<T> | undefined,
): AggregatedView<T> {
  const contributions = new Map<string, Contribution<T>>();
  const owners = new Map<string, ServedItem<T>>();
  const shadowed = new Map<string, string[]>();
  const requirements = new Map<string, readonly string[]>();
  for (const server of upstreams.servers.values()) {
    const name = server.config.name;
    const contribution = contributionOf(server, spec, NO_CONTRIBUTION);
    contributions.set(name, contribution);
    for (const [served, item] of contribution.items) {
      if (owners.has(served)) {
        const others = shadowed.get(served);
        if (others) others.push(name);
        else shadowed.set(served, [name]);
        continue;
      }
      owners.set(served, item);
      const needs = contribution.needs.get(served);
      if (needs) requirements.set(served, needs);
    }
  }
  const names = new Map<string, ServedChange<T>>();
  for (const [name, before] of previous?.owners ?? []) {
    names.set(name, { before, after: owners.get(name), same: false });
  }
  for (const [name, after] of owners) {
    if (!names.has(name)) names.set(name, { after, same: false });
  }
  let listed = false;
  for (const [name, change] of names) {
    change.same = sameDefinition(change.before, change.after) &&
      sameNeeds(previous?.requirements.get(name), requirements.get(name));
    listed ||= !change.same;
  }
  const basis = { config: upstreams.config, contributions };
  const version = (previous?.version ?? 0) + (listed || !previous ? 1 : 0);
  return new AggregatedView(
    version,
    PersistentMap.from(owners),
    PersistentMap.from(shadowed),
    PersistentMap.from(requirements),
    {
      from: previous?.id,
      full: true,
      names,
    },
    basis,
  );
}

/** Edits to a {@link PersistentMap} read through before they are applied. */
class Edits<V> {
  readonly pending = new Map<string, V | undefined>();
  constructor(readonly base: PersistentMap<V>) {}
  get(key: string): V | undefined {
    return this.pending.has(key) ? this.pending.get(key) : this.base.get(key);
  }
  set(key: string, value: V | undefined) {
    this.pending.set(key, value);
  }
  done(): PersistentMap<V> {
    return this.base.with(this.pending);
  }
}

/** One incremental step: only the names of the servers that changed are touched. */
class Step<T> {
  readonly owners: Edits<ServedItem<T>>;
  readonly shadowed: Edits<readonly string[]>;
  readonly names = new Map<string, ServedChange<T>>();

  constructor(
    readonly previous: AggregatedView<T>,
    readonly rank: ReadonlyMap<string, number>,
    readonly contributions: ReadonlyMap<string, Contribution<T>>,
  ) {
    this.owners = new Edits(previous.owners);
    this.shadowed = new Edits(previous.shadowed);
  }

  #setOwner(name: string, item: ServedItem<T> | undefined) {
    const before = this.owners.get(name);
    this.owners.set(name, item);
    const change = this.names.get(name);
    if (change) change.after = item;
    else this.names.set(name, { before, after: item, same: false });
  }

  #setShadowed(name: string, servers: readonly string[]) {
    this.shadowed.set(name, servers.length ? servers : undefined);
  }

  /** `server`'s contribution went from `old` to `next`. */
  apply(server: string, old: Contribution<T>, next: Contribution<T>) {
    for (const name of old.items.keys()) if (!next.items.has(name)) this.#withdraw(name, server);
    for (const [name, item] of next.items) {
      const owner = this.owners.get(name);
      if (!owner) this.#setOwner(name, item);
      else if (owner.server === server) {
        if (owner !== item) this.#setOwner(name, item);
      } else if (!old.items.has(name)) this.#claim(name, server, item, owner);
    }
  }

  /** `server` no longer offers `name`: the next server in config order keeps it, if any. */
  #withdraw(name: string, server: string) {
    const owner = this.owners.get(name)!;
    const others = this.shadowed.get(name) ?? [];
    if (owner.server !== server) {
      this.#setShadowed(name, others.filter((s) => s !== server));
      return;
    }
    const [heir, ...rest] = others;
    this.#setOwner(name, heir === undefined ? undefined : this.contributions.get(heir)!.items.get(name));
    if (heir !== undefined) this.#setShadowed(name, rest);
  }

  /** `server` now offers a name `owner` keeps: whoever is first in config order keeps it. */
  #claim(name: string, server: string, item: ServedItem<T>, owner: ServedItem<T>) {
    const rank = (s: string) => this.rank.get(s) ?? Infinity;
    const others = [...(this.shadowed.get(name) ?? [])];
    if (rank(server) < rank(owner.server)) {
      this.#setOwner(name, item);
      others.push(owner.server);
    } else others.push(server);
    this.#setShadowed(name, others.sort((a, b) => rank(a) - rank(b)));
  }

  finish(config: GatewayConfig): AggregatedView<T> {
    const previous = this.previous;
    const requirements = new Edits(previous.requirements);
    let listed = false;
    for (const [name, change] of this.names) {
      const needs = change.after && this.contributions.get(change.after.server)!.needs.get(name);
      const neededBefore = previous.requirements.get(name);
      if (!sameNeeds(neededBefore, needs)) requirements.set(name, needs);
      change.same = sameDefinition(change.before, change.after) && sameNeeds(neededBefore, needs);
      listed ||= !change.same;
    }
    return new AggregatedView(
      previous.version + (listed ? 1 : 0),
      this.owners.done(),
      this.shadowed.done(),
      requirements.done(),
      { from: previous.id, full: false, names: this.names },
      { config, contributions: this.contributions },
    );
  }
}

/** Whether clients see the same item (compared as JSON: a server re-listing builds new objects). */
function sameDefinition<T>(a: ServedItem<T> | undefined, b: ServedItem<T> | undefined): boolean {
  if (!a || !b) return a === b;
  return a.item === b.item || JSON.stringify(a.item) === JSON.stringify(b.item);
}

function sameNeeds(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return (a?.join() ?? "") === (b?.join() ?? "");
}

/** Tool and prompt names: plain concatenation, as the reference gateway does. */
export function prefixName(prefix: string, name: string): string {
  return prefix + name;
}

/**
 * Resource URIs and templates: the prefix goes right after the scheme's `://` (or `:`), so a served URI is
 * still a URI of the same scheme (`test://static` → `test://a_static`). An empty prefix keeps URIs as they are.
 */
export function prefixUri(prefix: string, uri: string): string {
  if (!prefix) return uri;
  const at = uriInsertionPoint(uri);
  return uri.slice(0, at) + prefix + uri.slice(at);
}

/** Reverses {@link prefixUri}, or undefined when `served` does not carry `prefix`. */
export function unprefixUri(prefix: string, served: string): string | undefined {
  if (!prefix) return served;
  const at = uriInsertionPoint(served);
  return served.startsWith(prefix, at) ? served.slice(0, at) + served.slice(at + prefix.length) : undefined;
}

function uriInsertionPoint(uri: string): number {
  const scheme = /^[A-Za-z][A-Za-z0-9+.\-]*:(\/\/)?/.exec(uri);
  return scheme ? scheme[0].length : 0;
}
