/**
 * The cache hint of an aggregated list (MCP 2026-07-28, SEP-2549), from the upstreams that contribute to
 * it: every ready, enabled server that declares the list's capability.
 *
 * - `ttlMs` is the smallest TTL among them: the aggregate is fresh only as long as every part is. A 2025
 *   server promises no freshness at all (it has no TTL; the gateway only re-lists it), so it counts as 0.
 *   With no contributor the list is empty but may fill at any moment: 0.
 * - `cacheScope` is `private` as soon as one contributor says `private` (its list may differ by caller);
 *   a 2025 server's list is the one the gateway's own session sees, the same for every caller: `public`.
 *   Whether the answer depends on the caller at the gateway (policy filters, virtual servers, declared
 *   capabilities) is decided per request, on top of this (`visibility.ts`).
 */
import type { ListCacheHint } from "../events/types.ts";
import type { ListKind } from "../mcp/methods.ts";
import type { UpstreamsState, UpstreamState } from "./upstreams.ts";

const CAPABILITY: Record<ListKind, string> = {
  tools: "tools",
  prompts: "prompts",
  resources: "resources",
  templates: "resources",
};

/** A contributor's own hint: its listing's, or what its era implies. */
function hintOf(server: UpstreamState, kind: ListKind): ListCacheHint {
  return server.listCache[kind] ??
    (server.era === "2026" ? { ttlMs: 0, cacheScope: "private" } : { ttlMs: 0, cacheScope: "public" });
}

export function listCacheHint(upstreams: UpstreamsState, kind: ListKind): ListCacheHint {
  let ttlMs: number | undefined;
  let cacheScope: ListCacheHint["cacheScope"] = "public";
  for (const server of upstreams.servers.values()) {
    if (server.status !== "ready" || !server.config.enabled || !server.capabilities?.[CAPABILITY[kind]]) {
      continue;
    }
    const hint = hintOf(server, kind);
    ttlMs = Math.min(ttlMs ?? hint.ttlMs, hint.ttlMs);
    if (hint.cacheScope === "private") cacheScope = "private";
  }
  return { ttlMs: ttlMs ?? 0, cacheScope };
}
