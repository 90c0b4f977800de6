/**
 * The catalog fold on its own, in process: the gateway's projections (routing table and explain, each
 * folding the catalog) fed a fleet's discovery, then changes to one server. What a change costs should
 * follow the size of the server that changed, not the size of the catalog.
 *
 * Run: `deno run -A bench/catalog_fold.ts` → one JSON line.
 */
import type { GatewayConfig, ServerConfig } from "../src/config/schema.ts";
import { InMemoryEventLog } from "../src/events/log.ts";
import type { GatewayEvent } from "../src/events/types.ts";
import { projectGateway } from "../src/projections.ts";
import { upstreamKey } from "../src/routing/upstreams.ts";

export interface FoldRun {
  servers: number;
  toolsPerServer: number;
  /** Every server's discovery folded, one `ToolsDiscovered` each (ms, all of them). */
  discoveryMs: number;
  /** Median ms to fold one server listing again with every definition changed, by its number of tools. */
  changeMs: Record<string, number>;
}

function toolsOf(count: number, version: string) {
  return Array.from({ length: count }, (_, j) => ({
    name: `t${j}`,
    description: `Tool ${j} (${version}): echoes its message`,
    inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] },
    annotations: { readOnlyHint: true },
  }));
}

/** Folds `servers` × `tools` discoveries, then `rounds` new listings of each size in `sizes`. */
export function foldRun(servers: number, tools: number, sizes: number[], rounds = 21): FoldRun {
  const log = new InMemoryEventLog(1024);
  const views = projectGateway(log);
  const configs: ServerConfig[] = Array.from({ length: servers }, (_, i) => ({
    name: `fake-${i}`,
    url: `http://127.0.0.1:${10_000 + i}/mcp`,
    hostname: `127.0.0.1:${10_000 + i}`,
    toolPrefix: `s${i}_`,
    enabled: true,
  } as ServerConfig));
  const config = { servers: configs, virtualServers: [] } as unknown as GatewayConfig;
  log.append({ type: "ConfigLoaded", config, digest: "bench", source: "bench" });
  const discovered = (i: number, list: ReturnType<typeof toolsOf>): GatewayEvent => ({
    type: "ToolsDiscovered",
    server: configs[i].name,
    upstreamKey: upstreamKey(configs[i]),
    tools: list,
  });
  const t0 = performance.now();
  for (let i = 0; i < servers; i++) log.append(discovered(i, toolsOf(tools, "v0")));
  const discoveryMs = performance.now() - t0;
  if (views.routing.state.view.view.size !== servers * tools) throw new Error("not every tool served");
  const changeMs: Record<string, number> = {};
  for (const size of sizes) {
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const i = (r * 7) % servers;
      // Unmeasured: the server lists `size` tools; measured: it lists them again, every definition changed.
      log.append(discovered(i, toolsOf(size, "before")));
      const list = toolsOf(size, `v${size}.${r}`);
      const t = performance.now();
      log.append(discovered(i, list));
      times.push(performance.now() - t);
      // Back as it was: every measured change starts from the same catalog.
      log.append(discovered(i, toolsOf(tools, "v0")));
    }
    changeMs[size] = times.sort((a, b) => a - b)[times.length >> 1];
  }
  return { servers, toolsPerServer: tools, discoveryMs, changeMs };
}

if (import.meta.main) {
  const runs = [20, 100, 200].map((servers) => foldRun(servers, 50, [5, 50, 500]));
  console.log(JSON.stringify(runs));
}
