/**
 * Projection: the aggregated tool list clients see — every ready, enabled server's tools renamed
 * `<toolPrefix><name>`, sorted, with name conflicts reported instead of silently resolved.
 */
import { derivedProjection } from "./derived.ts";
import { upstreamsProjection, type UpstreamsState } from "./upstreams.ts";
import type { UpstreamTool } from "../events/types.ts";

/** One served tool and where it comes from. */
export interface ServedTool {
  /** Name clients call. */
  name: string;
  server: string;
  /** Name the owning server knows it by. */
  upstreamName: string;
  /** The tool object returned to clients: the upstream's, verbatim, but for `name`. */
  tool: UpstreamTool;
}

/** Two or more servers offering the same served name: the first in config order keeps it. */
export interface ToolConflict {
  name: string;
  /** Server that serves the name. */
  winner: string;
  /** Servers whose tool of that name is hidden. */
  shadowed: string[];
}

export interface ToolView {
  /** Sorted by served name. */
  tools: readonly ServedTool[];
  conflicts: readonly ToolConflict[];
  /** Bumped only when the served list changes; clients get `list_changed` exactly then. */
  version: number;
  /** The `tools` array as JSON, pre-rendered: `tools/list` is the hottest read. */
  json: string;
}

/** Builds the aggregated view; keeps `previous` (same object) when nothing clients see changed. */
export function buildToolView(upstreams: UpstreamsState, previous: ToolView | undefined): ToolView {
  const owners = new Map<string, ServedTool>();
  const conflicts = new Map<string, ToolConflict>();
  for (const server of upstreams.servers.values()) {
    if (server.status !== "ready" || !server.config.enabled) continue;
    const prefix = server.config.toolPrefix;
    const seenHere = new Set<string>();
    for (const tool of server.tools) {
      if (seenHere.has(tool.name)) continue; // a server listing one name twice: first wins, silently
      seenHere.add(tool.name);
      const name = prefix + tool.name;
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
        upstreamName: tool.name,
        tool: prefix ? { ...tool, name } : tool,
      });
    }
  }
  const tools = [...owners.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const json = JSON.stringify(tools.map((t) => t.tool));
  const conflictList = [...conflicts.values()];
  if (previous && previous.json === json) {
    // Clients see the same list (no version bump), but who serves a name may have moved: routing must follow.
    const sameOwners = previous.tools.every((t, i) => t.server === tools[i].server);
    const sameConflicts = JSON.stringify(previous.conflicts) === JSON.stringify(conflictList);
    return sameOwners && sameConflicts ? previous : { ...previous, tools, conflicts: conflictList };
  }
  return { tools, conflicts: conflictList, version: (previous?.version ?? 0) + 1, json };
}

export const toolViewProjection = derivedProjection("toolView", upstreamsProjection, buildToolView);
