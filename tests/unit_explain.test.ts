/** The explain projection is a pure fold: feed events (a conflict, a reload, a restart), ask, compare. */
import { assert, assertEquals } from "./helpers/assert.ts";
import { fold } from "../src/events/projection.ts";
import type { GatewayEvent, LoggedEvent } from "../src/events/types.ts";
import { configDigest } from "../src/config/parse.ts";
import type { GatewayConfig } from "../src/config/schema.ts";
import { upstreamKey } from "../src/routing/upstreams.ts";
import { routingTableProjection } from "../src/routing/routing_table.ts";
import { sessionMapProjection } from "../src/session/session_map.ts";
import { explainProjection, MAX_GONE, NAME_HISTORY, routingOf } from "../src/observe/explain.ts";
import { explain, type ExplainQuery, parseExplainQuery } from "../src/observe/explain_query.ts";

type Server = { name: string; url: string; hostname: string; enabled: boolean; toolPrefix: string };

function server(name: string, prefix: string, extra: Partial<Server> = {}): Server {
  return {
    name,
    url: `http://${name}.local/mcp`,
    hostname: `${name}.local`,
    enabled: true,
    toolPrefix: prefix,
    ...extra,
  };
}
function loaded(...servers: Server[]): GatewayEvent {
  const config = { servers, virtualServers: [] } as GatewayConfig;
  return { type: "ConfigLoaded", source: "config.yaml", config, digest: configDigest(config) };
}
const key = (s: Server) => upstreamKey(s as never);
function connected(s: Server): GatewayEvent {
  return {
    type: "UpstreamConnected",
    server: s.name,
    upstreamKey: key(s),
    era: "2025",
    protocolVersion: "2025-11-25",
    serverInfo: { name: s.name, version: "1" },
    capabilities: { tools: {} },
  };
}
function tools(s: Server, ...names: string[]): GatewayEvent {
  return {
    type: "ToolsDiscovered",
    server: s.name,
    upstreamKey: key(s),
    tools: names.map((name) => ({
      name,
      description: `${name} of ${s.name}`,
      inputSchema: { type: "object" },
    })),
  };
}
function failed(s: Server, reason = "fetch failed: Connection refused"): GatewayEvent {
  return {
    type: "UpstreamFailed",
    server: s.name,
    upstreamKey: key(s),
    stage: "connect",
    reason,
    retryInMs: 500,
  };
}
function connecting(s: Server, attempt = 0): GatewayEvent {
  return { type: "UpstreamConnecting", server: s.name, upstreamKey: key(s), attempt };
}
/** Numbers events from 1 and stamps each a second after the last, as a log would. */
function logged(events: GatewayEvent[]): LoggedEvent[] {
  return events.map((e, i) => ({ ...e, seq: i + 1, at: 1_000_000 + i * 1000 }) as LoggedEvent);
}
function ask(events: LoggedEvent[], query: ExplainQuery) {
  return explain(
    {
      explain: fold(explainProjection, events),
      sessions: fold(sessionMapProjection, events),
      recent: events,
    },
    query,
  ) as any;
}

const A = server("a", "");
const B = server("b", "");

Deno.test("explain: a conflict says who won, against whom, and since which event", () => {
  // b lists first, so it serves `echo` until a (first in config order) lists it too.
  const events = logged([
    loaded(A, B),
    connected(B),
    tools(B, "echo", "only_b"),
    connected(A),
    tools(A, "echo"),
  ]);
  const answer = ask(events, { tool: "echo" });
  assertEquals(answer.served, true);
  assertEquals(answer.server, "a");
  assertEquals(answer.since.seq, 5);
  assertEquals(answer.since.type, "ToolsDiscovered");
  assertEquals(answer.firstServed.seq, 3, "first served by b");
  assertEquals(answer.conflict.winner, "a");
  assertEquals(answer.conflict.shadowed, ["b"]);
  assertEquals(answer.conflict.won, true);
  assertEquals(answer.conflict.since.seq, 5);
  assertEquals(answer.history.map((h: any) => [h.seq, h.change, h.server]), [
    [3, "served", "b"],
    [5, "owner", "a"],
    [5, "conflict", "a"],
  ]);
  assert(answer.summary.includes("won a conflict against b"), answer.summary);
  assertEquals(answer.serverFacts.config.seq, 1, "the config event that put a's entry in effect");
  assertEquals(ask(events, { tool: "only_b" }).conflict, undefined);
});

Deno.test("explain: a reload that renames a server's tools moves the name and ends the conflict", () => {
  const before = [loaded(A, B), connected(A), tools(A, "echo"), connected(B), tools(B, "echo")];
  const A2 = server("a", "a_");
  const events = logged([...before, loaded(A2, B)]);
  const echo = ask(events, { tool: "echo" });
  assertEquals([echo.server, echo.since.seq, echo.since.type], ["b", 6, "ConfigLoaded"]);
  assertEquals(echo.conflict, undefined);
  assertEquals(echo.history.at(-1).change, "conflict-ended");
  const renamed = ask(events, { tool: "a_echo" });
  assertEquals([renamed.server, renamed.upstreamName, renamed.prefix], ["a", "echo", "a_"]);
  assertEquals(renamed.since.type, "ConfigLoaded");
  assertEquals(renamed.serverFacts.config.seq, 6, "the prefix change is a's new config entry");
  assertEquals(renamed.serverFacts.added.seq, 1);
  // The live routing table and the one explain folded agree.
  const state = fold(explainProjection, events);
  assertEquals(routingOf(state), fold(routingTableProjection, events));
});

Deno.test("explain: a backend restart shows in the name's history and the server's health", () => {
  const A1 = server("a", "a_");
  const events = logged([
    loaded(A1),
    connecting(A1),
    connected(A1),
    tools(A1, "echo"),
    failed(A1, "ping failed"),
    connecting(A1, 1),
    failed(A1),
    connecting(A1, 2),
    failed(A1),
    connecting(A1, 3),
    connected(A1),
    tools(A1, "echo"),
  ]);
  const down = ask(events.slice(0, 9), { tool: "a_echo" });
  assertEquals(down.served, false);
  assertEquals(down.since.seq, 5);
  assert(down.since.cause.includes("a failed (connect): ping failed"), down.since.cause);
  assertEquals(down.dormant.name, "a", "a known tool of a down server is dormant, not unknown");
  assertEquals(down.dormant.status, "failed");

  const back = ask(events, { tool: "a_echo" });
  assertEquals([back.served, back.since.seq, back.firstServed.seq], [true, 12, 4]);
  assertEquals(back.history.map((h: any) => h.change), ["served", "removed", "served"]);
  const health = back.serverFacts.health.map((h: any) => [h.seq, h.status, h.reason ?? "", h.repeats ?? 0]);
  assertEquals(health, [
    [1, "connecting", "", 0],
    [4, "ready", "", 0],
    [5, "failed", "ping failed", 0],
    [7, "failed", "fetch failed: Connection refused", 1],
    [12, "ready", "", 0],
  ]);
});

Deno.test("explain: a changed definition is a change; the same listing again is not", () => {
  const A1 = server("a", "a_");
  const changed: GatewayEvent = {
    ...tools(A1, "echo") as any,
    tools: [{ name: "echo", description: "new words", inputSchema: { type: "object" } }],
  };
  const events = logged([loaded(A1), connected(A1), tools(A1, "echo", "x"), tools(A1, "echo"), changed]);
  const answer = ask(events, { tool: "a_echo" });
  assertEquals(answer.lastChange.seq, 5);
  assertEquals(answer.since.seq, 3, "still served without a break");
  assertEquals(answer.history.map((h: any) => h.change), ["served", "definition"]);
  assertEquals(ask(events, { tool: "a_x" }).history.map((h: any) => [h.seq, h.change]), [[3, "served"], [
    4,
    "removed",
  ]]);
});

Deno.test("explain: events of a superseded connection change nothing", () => {
  const A1 = server("a", "a_");
  const moved = server("a", "a_", { url: "http://elsewhere.local/mcp" });
  const events = logged([
    loaded(A1),
    connected(A1),
    tools(A1, "echo"),
    loaded(moved),
    failed(A1),
    tools(A1, "old"),
  ]);
  const state = fold(explainProjection, events);
  assertEquals(state.servers.get("a")!.health.map((h) => h.status), ["connecting", "ready", "connecting"]);
  assertEquals(ask(events, { tool: "a_old" }).found, false);
});

Deno.test("explain: unknown names suggest served ones; resources resolve by template", () => {
  const A1 = server("a", "a_");
  const resources: GatewayEvent = {
    type: "ResourcesDiscovered",
    server: "a",
    upstreamKey: key(A1),
    resources: [{ uri: "test://static/1" }],
    templates: [{ uriTemplate: "test://dyn/{id}" }],
  };
  const events = logged([loaded(A1), connected(A1), tools(A1, "echo"), resources]);
  const unknown = ask(events, { tool: "echo" });
  assertEquals([unknown.found, unknown.candidates], [false, ["a_echo"]]);
  const listed = ask(events, { uri: "test://a_static/1" });
  assertEquals([listed.served, listed.server, listed.upstreamName], [true, "a", "test://static/1"]);
  const dynamic = ask(events, { uri: "test://a_dyn/42" });
  assertEquals([dynamic.resolvedBy, dynamic.template, dynamic.upstreamName], [
    "template",
    "test://a_dyn/{id}",
    "test://dyn/42",
  ]);
  assertEquals(dynamic.since.seq, 4);
});

Deno.test("explain: a session's opening, bindings and events; open sessions counted by version", () => {
  const A1 = server("a", "a_");
  const events = logged([
    loaded(A1),
    { type: "SessionOpened", session: "s1", protocolVersion: "2025-06-18", expiresAt: 9e12 },
    { type: "SessionOpened", session: "s2", protocolVersion: "2025-11-25", expiresAt: 9e12 },
    { type: "SessionOpened", session: "s3", protocolVersion: "2025-11-25", expiresAt: 9e12 },
    {
      type: "BackendSessionBound",
      session: "s1",
      server: "a",
      backendSession: "b-1",
      protocolVersion: "2025-11-25",
      expiresAt: 9e12,
    },
    { type: "SessionClosed", session: "s3", reason: "deleted", expiresAt: 9e12 },
  ]);
  const answer = ask(events, { session: "s1" });
  assertEquals(answer.status, "open");
  assertEquals(answer.opened, { at: 1_001_000, protocolVersion: "2025-06-18" });
  assertEquals(answer.bindings, [{ server: "a", backendSession: "b-1", protocolVersion: "2025-11-25" }]);
  assertEquals(answer.events.map((e: any) => e.seq), [2, 5]);
  assertEquals(ask(events, { session: "s3" }).status, "closed");
  assertEquals(ask(events, { session: "nope" }).status, "unknown");
  assertEquals(fold(explainProjection, events).sessionsByVersion, { "2025-06-18": 1, "2025-11-25": 1 });
});

Deno.test("explain: memory is bounded — history per name, formerly served names", () => {
  const A1 = server("a", "a_");
  const flaps: GatewayEvent[] = [];
  for (let i = 0; i < 20; i++) flaps.push(failed(A1, `down ${i}`), tools(A1, "echo"));
  const state = fold(explainProjection, logged([loaded(A1), connected(A1), tools(A1, "echo"), ...flaps]));
  assertEquals(state.names.tool.get("a_echo")!.history.length, NAME_HISTORY);

  const many = Array.from({ length: MAX_GONE + 10 }, (_, i) => `t${i}`);
  const churn = fold(explainProjection, logged([loaded(A1), connected(A1), tools(A1, ...many), tools(A1)]));
  assertEquals(churn.gone.tool.size, MAX_GONE);
  assert(!churn.gone.tool.has("a_t0") && churn.gone.tool.has(`a_t${MAX_GONE + 9}`), "the oldest go first");
});

Deno.test("explain: queries are checked", () => {
  assertEquals(parseExplainQuery([["tool", "x"]]), { ok: true, query: { tool: "x" } });
  const none = parseExplainQuery([]);
  assert(!none.ok && /exactly one/.test(none.error));
  const two = parseExplainQuery([["tool", "x"], ["prompt", "y"]]);
  assert(!two.ok && /exactly one/.test(two.error));
  const unknown = parseExplainQuery([["name", "x"]]);
  assert(!unknown.ok && /unknown parameter name/.test(unknown.error), unknown.ok ? "" : unknown.error);
  const empty = parseExplainQuery([["tool", ""]]);
  assert(!empty.ok && /tool must not be empty/.test(empty.error), empty.ok ? "" : empty.error);
});
