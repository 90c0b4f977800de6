/**
 * The one authorization rule both data paths apply: what an {@link Identity} may see in a list and may
 * call, get or read. Pure functions of (identity, virtual server, catalog item); the broker's lists and
 * forward and the router's body phase all call these, so a client that skips `tools/list` gains nothing.
 *
 * ```ts
 * const alice: Identity = { ...ANONYMOUS, allowed: { tools: { "weather-service": ["get_forecast"] } } };
 * isAllowed(alice, "tool", "weather-service", "get_forecast"); // true
 * isAllowed(alice, "tool", "weather-service", "get_alerts"); // false
 * isAllowed(alice, "prompt", "weather-service", "summary"); // true: alice's policy says nothing of prompts
 * ```
 */
import type { VirtualServer } from "../config/schema.ts";
import type { ServedItem } from "../routing/aggregate.ts";
import type { CapabilityType, Identity } from "./identity.ts";

/** What a request targets: a tool (`tools/call`), a prompt (`prompts/get`), a resource or template. */
export type ItemKind = "tool" | "prompt" | "resource";

const TYPE_OF: Record<ItemKind, CapabilityType> = { tool: "tools", prompt: "prompts", resource: "resources" };

/** Sets of allowed names, built once per array the policy sent (arrays are never mutated). */
const nameSets = new WeakMap<readonly string[], ReadonlySet<string>>();
function setOf(names: readonly string[]): ReadonlySet<string> {
  let set = nameSets.get(names);
  if (!set) nameSets.set(names, set = new Set(names));
  return set;
}

/**
 * The authority of a URI or URI template (`ui://host:1/x` → `host:1`), or undefined without `//`.
 * Kuadrant keys resources by the upstream URI's authority (`resourceAuthorityFromURI`).
 */
export function uriAuthority(uri: string): string | undefined {
  const match = /^[A-Za-z][A-Za-z0-9+.\-]*:\/\/([^/?#]*)/.exec(uri);
  if (!match) return undefined;
  const authority = match[1];
  const at = authority.lastIndexOf("@");
  return at >= 0 ? authority.slice(at + 1) : authority;
}

/**
 * Whether the identity's capabilities allow an item, named as its server knows it (`upstreamName`:
 * the unprefixed tool or prompt name, the upstream URI or URI template). Virtual servers are not
 * consulted here; see {@link mayUse}.
 */
export function isAllowed(identity: Identity, kind: ItemKind, server: string, upstreamName: string): boolean {
  const map = identity.allowed?.[TYPE_OF[kind]];
  if (!map) return true;
  if (!Object.hasOwn(map, server)) return false;
  const names = setOf(map[server]);
  if (names.has(upstreamName)) return true;
  if (kind !== "resource") return false;
  const authority = uriAuthority(upstreamName);
  return authority !== undefined && names.has(authority);
}

/**
 * Whether a virtual server shows an item, by served name. A virtual server lists tools (always) and
 * prompts (when it names any: omitted means every prompt); it has no resources field, so it never
 * narrows resources.
 */
export function inVirtualServer(
  virtual: VirtualServer | undefined,
  kind: ItemKind,
  servedName: string,
): boolean {
  if (!virtual) return true;
  if (kind === "tool") return setOf(virtual.tools).has(servedName);
  if (kind === "prompt") return virtual.prompts === undefined || setOf(virtual.prompts).has(servedName);
  return true;
}

/** Both rules at once, for a call, get or read of one catalog item. */
export function mayUse(
  identity: Identity,
  kind: ItemKind,
  item: Pick<ServedItem, "name" | "server" | "upstreamName">,
  virtual?: VirtualServer,
): boolean {
  return isAllowed(identity, kind, item.server, item.upstreamName) &&
    inVirtualServer(virtual, kind, item.name);
}

/** A list as one identity sees it. */
export interface VisibleList<T> {
  items: readonly ServedItem<T>[];
  /**
   * `private` when the answer depends on who asks or which virtual server was selected (MCP 2026-07-28,
   * SEP-2549: a shared cache must not serve it to anyone else); `public` otherwise.
   */
  cacheScope: "public" | "private";
}

/** Filters served catalog items (tools, prompts, resources or resource templates) for one request. */
export function visibleItems<T>(
  identity: Identity,
  kind: ItemKind,
  items: readonly ServedItem<T>[],
  virtual?: VirtualServer,
): VisibleList<T> {
  const restricted = identity.allowed?.[TYPE_OF[kind]] !== undefined;
  const narrowed = virtual !== undefined &&
    (kind === "tool" || (kind === "prompt" && virtual.prompts !== undefined));
  if (!restricted && !narrowed) return { items, cacheScope: "public" };
  return { items: items.filter((item) => mayUse(identity, kind, item, virtual)), cacheScope: "private" };
}

/** The outcome of looking up `X-Mcp-Virtualserver` in the config. */
export type VirtualServerLookup =
  | { kind: "none" }
  | { kind: "found"; virtual: VirtualServer }
  /** Named but not configured: the reference gateway serves the full list and logs; callers decide. */
  | { kind: "unknown"; name: string };

export function lookupVirtualServer(
  virtualServers: readonly VirtualServer[],
  name: string | null | undefined,
): VirtualServerLookup {
  if (!name) return { kind: "none" };
  const virtual = virtualServers.find((v) => v.name === name);
  return virtual ? { kind: "found", virtual } : { kind: "unknown", name };
}
