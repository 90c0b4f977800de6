/**
 * The one rule every aggregated list follows (tools, prompts, resources, resource templates): take each
 * ready, enabled server in config order, rename its items with its prefix, let the first server keep a
 * name that two offer (and report the conflict), sort, and pre-render the JSON clients get.
 */
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

export interface AggregatedView<T = Record<string, unknown>> {
  /** Sorted by served name. */
  items: readonly ServedItem<T>[];
  conflicts: readonly Conflict[];
  /** Bumped only when the served list changes: clients hear `list_changed` exactly then. */
  version: number;
  /** The items as a JSON array, pre-rendered: list calls are the hottest reads. */
  json: string;
}

export interface AggregateSpec<T> {
  /** The server's items of this kind. */
  items(server: UpstreamState): readonly T[];
  /** The key that is renamed and must be unique (`name`, `uri`, `uriTemplate`). */
  key: keyof T & string;
  /** Served name for an upstream name under a prefix. */
  rename(prefix: string, upstreamName: string): string;
}

export function aggregate<T extends Record<string, unknown>>(
  upstreams: UpstreamsState,
  spec: AggregateSpec<T>,
  previous: AggregatedView<T> | undefined,
): AggregatedView<T> {
  const owners = new Map<string, ServedItem<T>>();
  const conflicts = new Map<string, Conflict>();
  for (const server of upstreams.servers.values()) {
    if (server.status !== "ready" || !server.config.enabled) continue;
    const prefix = server.config.toolPrefix;
    const seenHere = new Set<string>();
    for (const item of spec.items(server)) {
      const upstreamName = String(item[spec.key]);
      if (seenHere.has(upstreamName)) continue; // a server listing one name twice: its first wins
      seenHere.add(upstreamName);
      const name = spec.rename(prefix, upstreamName);
      const owner = owners.get(name);
      if (owner) {
        const conflict = conflicts.get(name) ?? { name, winner: owner.server, shadowed: [] };
        conflict.shadowed.push(server.config.name);
        conflicts.set(name, conflict);
        continue;
      }
      owners.set(name, {
        name,
        server: server.config.name,
        upstreamName,
        item: name === upstreamName ? item : { ...item, [spec.key]: name },
      });
    }
  }
  const items = [...owners.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const json = JSON.stringify(items.map((t) => t.item));
  const conflictList = [...conflicts.values()];
  if (previous && previous.json === json) {
    // Clients see the same list (no version bump), but who serves a name may have moved: routing must follow.
    const sameOwners = previous.items.every((t, i) => t.server === items[i].server);
    const sameConflicts = JSON.stringify(previous.conflicts) === JSON.stringify(conflictList);
    return sameOwners && sameConflicts ? previous : { ...previous, items, conflicts: conflictList };
  }
  return { items, conflicts: conflictList, version: (previous?.version ?? 0) + 1, json };
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
