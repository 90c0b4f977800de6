/**
 * What the explain projection costs per event: `deno bench --allow-all bench/explain.bench.ts`. Session
 * events (the high-rate part) next to the session map's own fold; a server relisting in a 20-server,
 * 2,000-tool catalog next to the routing table's fold, which the explain projection repeats and then diffs.
 * Memory per open session: `deno run --allow-run --allow-read bench/explain_memory.ts`.
 */
import { configDigest } from "../src/config/parse.ts";
import type { GatewayConfig } from "../src/config/schema.ts";
import type { GatewayEvent, LoggedEvent } from "../src/events/types.ts";
import { explainProjection } from "../src/observe/explain.ts";
import { routingTableProjection } from "../src/routing/routing_table.ts";
import { upstreamKey } from "../src/routing/upstreams.ts";
import { sessionMapProjection } from "../src/session/session_map.ts";

const SERVERS = 20;
const TOOLS = 100;

const servers = Array.from({ length: SERVERS }, (_, i) => ({
  name: `s${i}`,
  url: `http://s${i}.local/mcp`,
  hostname: `s${i}.local`,
  enabled: true,
  toolPrefix: `s${i}_`,
}));
let seq = 0;
const logged = (e: GatewayEvent) => ({ ...e, seq: ++seq, at: seq }) as LoggedEvent;
const config = { servers, virtualServers: [] } as GatewayConfig;
const listing = (i: number, version: number) =>
  logged({
    type: "ToolsDiscovered",
    server: `s${i}`,
    upstreamKey: upstreamKey(servers[i] as never),
    tools: Array.from({ length: TOOLS }, (_, t) => ({
      name: `tool_${t}`,
      description: `tool ${t} of s${i}, version ${version}`,
      inputSchema: { type: "object", properties: { q: { type: "string" } } },
    })),
  });
const setup = [
  logged({ type: "ConfigLoaded", source: "bench", config, digest: configDigest(config) }),
  ...servers.map((_, i) => listing(i, 0)),
];

function folded<S>(projection: { initial: S; apply(s: S, e: LoggedEvent): S }) {
  let state = projection.initial;
  for (const e of setup) state = projection.apply(state, e);
  return state;
}

const open = (id: number) =>
  logged({ type: "SessionOpened", session: `sess-${id}`, protocolVersion: "2025-11-25", expiresAt: 9e15 });
const close = (id: number) =>
  logged({ type: "SessionClosed", session: `sess-${id}`, reason: "expired", expiresAt: 0 });

{
  let explain = folded(explainProjection);
  let sessions = folded(sessionMapProjection);
  let n = 0;
  Deno.bench("session open+close: session map", { group: "session", baseline: true }, () => {
    sessions = sessionMapProjection.apply(sessions, open(n));
    sessions = sessionMapProjection.apply(sessions, close(n++));
  });
  Deno.bench("session open+close: explain", { group: "session" }, () => {
    explain = explainProjection.apply(explain, open(n));
    explain = explainProjection.apply(explain, close(n++));
  });
}

{
  // Alternating listings of one server: every fold sees its 100 definitions change.
  let routing = folded(routingTableProjection);
  let explain = folded(explainProjection);
  let version = 1;
  Deno.bench("relisting 100 of 2,000 tools: routing table", { group: "relist", baseline: true }, () => {
    routing = routingTableProjection.apply(routing, listing(3, version++));
  });
  Deno.bench("relisting 100 of 2,000 tools: explain", { group: "relist" }, () => {
    explain = explainProjection.apply(explain, listing(3, version++));
  });
}
