/** Projections are pure folds: feed events, compare states. No servers needed. */
import { assert, assertEquals } from "./helpers/assert.ts";
import { fold } from "../src/events/projection.ts";
import { InMemoryEventLog } from "../src/events/log.ts";
import type { GatewayEvent } from "../src/events/types.ts";
import { configDigest } from "../src/config/parse.ts";
import type { GatewayConfig } from "../src/config/schema.ts";
import { upstreamKey, upstreamsProjection } from "../src/routing/upstreams.ts";
import { toolViewProjection } from "../src/routing/tool_view.ts";
import { annotationHints, resolveResource, routingTableProjection } from "../src/routing/routing_table.ts";
import { backendSessionOf, sessionMapProjection } from "../src/session/session_map.ts";

function server(name: string, prefix: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    url: `http://${name}.local/mcp`,
    hostname: `${name}.mcp.local`,
    enabled: true,
    toolPrefix: prefix,
    ...extra,
  };
}
function loaded(servers: ReturnType<typeof server>[]): GatewayEvent {
  const config = { servers, virtualServers: [] } as GatewayConfig;
  return { type: "ConfigLoaded", source: "test", config, digest: configDigest(config) };
}
function tools(s: ReturnType<typeof server>, ...names: string[]): GatewayEvent {
  return {
    type: "ToolsDiscovered",
    server: s.name,
    upstreamKey: upstreamKey(s as never),
    tools: names.map((name) => ({
      name,
      inputSchema: { type: "object" },
      annotations: { readOnlyHint: true },
    })),
  };
}

const A = server("a", "a_");
const B = server("b", "b_");

Deno.test("tool view: prefixed, sorted, only ready servers", () => {
  const state = fold(toolViewProjection, [loaded([A, B]), tools(B, "zeta", "alpha"), tools(A, "echo")]).view;
  assertEquals(state.items.map((t) => t.name), ["a_echo", "b_alpha", "b_zeta"]);
  assertEquals(state.items[1].upstreamName, "alpha");
  assertEquals(JSON.parse(state.json)[0], {
    name: "a_echo",
    inputSchema: { type: "object" },
    annotations: { readOnlyHint: true },
  });
});

Deno.test("tool view: version moves only when what clients see changes", () => {
  const events = [loaded([A]), tools(A, "echo")];
  const v1 = fold(toolViewProjection, events).view.version;
  const v2 = fold(toolViewProjection, [...events, tools(A, "echo")]).view.version;
  assertEquals(v1, v2);
  const v3 = fold(toolViewProjection, [...events, tools(A, "echo", "more")]).view.version;
  assertEquals(v3, v1 + 1);
});

Deno.test("tool view: conflicts reported, first server in config order keeps the name", () => {
  const A2 = server("a", "x_");
  const B2 = server("b", "x_");
  // b discovers first; a is first in the config and wins regardless of timing.
  const view = fold(toolViewProjection, [loaded([A2, B2]), tools(B2, "echo"), tools(A2, "echo")]).view;
  assertEquals(view.items.map((t) => [t.name, t.server]), [["x_echo", "a"]]);
  assertEquals(view.conflicts, [{ name: "x_echo", winner: "a", shadowed: ["b"] }]);
});

Deno.test("upstreams: a failure removes tools; events from a replaced config are ignored", () => {
  const failed: GatewayEvent = {
    type: "UpstreamFailed",
    server: "a",
    upstreamKey: upstreamKey(A as never),
    stage: "ping",
    reason: "gone",
    retryInMs: 10,
  };
  let view = fold(toolViewProjection, [loaded([A]), tools(A, "echo"), failed]).view;
  assertEquals(view.items, []);
  const moved = server("a", "a_", { url: "http://elsewhere/mcp" });
  view = fold(toolViewProjection, [loaded([A]), loaded([moved]), tools(A, "stale")]).view;
  assertEquals(view.items, [], "discovery from the old URL's manager is not served");
  const state = fold(upstreamsProjection, [loaded([A]), failed]);
  assertEquals(state.servers.get("a")?.lastError?.reason, "gone");
});

Deno.test("upstreams: disabling a server removes its tools; a prefix change renames without reconnect", () => {
  let view =
    fold(toolViewProjection, [loaded([A]), tools(A, "echo"), loaded([{ ...A, enabled: false }])]).view;
  assertEquals(view.items, []);
  view =
    fold(toolViewProjection, [loaded([A]), tools(A, "echo"), loaded([{ ...A, toolPrefix: "new_" }])]).view;
  assertEquals(view.items.map((t) => t.name), ["new_echo"]);
});

Deno.test("routing table: route per served name with path, hostname and hints", () => {
  const table = fold(routingTableProjection, [loaded([A]), tools(A, "echo")]).view.table;
  assertEquals(table.routes.get("a_echo"), {
    servedName: "a_echo",
    server: "a",
    upstreamName: "echo",
    url: "http://a.local/mcp",
    hostname: "a.mcp.local",
    path: "/mcp",
    annotationHints: "readOnly=true,destructive=unspecified,idempotent=unspecified,openWorld=unspecified",
  });
  assertEquals(
    annotationHints(undefined),
    "readOnly=unspecified,destructive=unspecified,idempotent=unspecified,openWorld=unspecified",
  );
});

Deno.test("session map: bind, invalidate, close; an upstream failure forgets its backend sessions", () => {
  const log = new InMemoryEventLog(8);
  const sessions = log.project(sessionMapProjection);
  const later = Date.now() + 60_000;
  log.append({ type: "SessionOpened", session: "g1", protocolVersion: "2025-11-25", expiresAt: later });
  log.append({
    type: "BackendSessionBound",
    session: "g1",
    server: "a",
    backendSession: "b1",
    protocolVersion: "2025-06-18",
    expiresAt: later,
  });
  assertEquals(backendSessionOf(sessions.state, "g1", "a"), { id: "b1", protocolVersion: "2025-06-18" });
  log.append({
    type: "BackendSessionInvalidated",
    session: "g1",
    server: "a",
    backendSession: "other",
    reason: "x",
  });
  assert(backendSessionOf(sessions.state, "g1", "a"), "invalidating another id changes nothing");
  log.append({
    type: "UpstreamFailed",
    server: "a",
    upstreamKey: "k",
    stage: "ping",
    reason: "x",
    retryInMs: 1,
  });
  assertEquals(backendSessionOf(sessions.state, "g1", "a"), undefined);
  log.append({ type: "SessionClosed", session: "g1", reason: "deleted", expiresAt: later });
  assertEquals(sessions.state.open.size, 0);
  assertEquals(sessions.state.closed.get("g1"), later);
  log.append({ type: "SessionClosed", session: "g1", reason: "expired", expiresAt: later });
  assertEquals(sessions.state.closed.size, 0);
});

Deno.test("session map: nothing moves a session backwards; unknown sessions are adopted with their expiry", () => {
  const log = new InMemoryEventLog(8);
  const sessions = log.project(sessionMapProjection);
  const later = Date.now() + 60_000;
  const bound = (session: string) =>
    log.append({
      type: "BackendSessionBound",
      session,
      server: "a",
      backendSession: "b",
      protocolVersion: "2025-06-18",
      expiresAt: later,
    });
  // A DELETE that won the race against the first call's backend session: the late binding is ignored.
  log.append({ type: "SessionOpened", session: "g1", protocolVersion: "2025-11-25", expiresAt: later });
  log.append({ type: "SessionClosed", session: "g1", reason: "deleted", expiresAt: later });
  bound("g1");
  assertEquals(sessions.state.open.has("g1"), false);
  log.append({ type: "SessionOpened", session: "g1", protocolVersion: "2025-11-25", expiresAt: later });
  assertEquals(sessions.state.open.has("g1"), false, "a closed session never reopens");
  // Opened by another replica: adopted with the token's expiry, so the sweeper can end it.
  bound("g2");
  assertEquals(sessions.state.open.get("g2")?.expiresAt, later);
  // An already expired token leaves no tombstone.
  log.append({ type: "SessionClosed", session: "g3", reason: "deleted", expiresAt: Date.now() - 1 });
  assertEquals(sessions.state.closed.has("g3"), false);
});

Deno.test("session map: tombstones are bounded, oldest forgotten first", async () => {
  const { MAX_TOMBSTONES } = await import("../src/session/session_map.ts");
  const log = new InMemoryEventLog(8);
  const sessions = log.project(sessionMapProjection);
  const later = Date.now() + 60_000;
  for (let i = 0; i <= MAX_TOMBSTONES; i++) {
    log.append({ type: "SessionClosed", session: `s${i}`, reason: "deleted", expiresAt: later });
  }
  assertEquals(sessions.state.closed.size, MAX_TOMBSTONES);
  assertEquals(sessions.state.closed.has("s0"), false);
  assertEquals(sessions.state.closed.has(`s${MAX_TOMBSTONES}`), true);
});

Deno.test("event log: bounded tail, subscribe from a position, counts by type", () => {
  const log = new InMemoryEventLog(4);
  for (let i = 0; i < 10; i++) {
    log.append({ type: "SessionClosed", session: `s${i}`, reason: "expired", expiresAt: 0 });
  }
  assertEquals(log.recent().map((e) => e.seq), [7, 8, 9, 10]);
  const seen: number[] = [];
  const stop = log.subscribe((e) => seen.push(e.seq), 9);
  log.append({ type: "SessionClosed", session: "x", reason: "expired", expiresAt: 0 });
  stop();
  log.append({ type: "SessionClosed", session: "y", reason: "expired", expiresAt: 0 });
  assertEquals(seen, [9, 10, 11]);
  assertEquals(log.counts(), { SessionClosed: 12 });
});

Deno.test("event log: a listener that appends sees log order preserved", () => {
  const log = new InMemoryEventLog();
  const order: string[] = [];
  log.subscribe((e) => {
    order.push(`${e.type}#${e.seq}`);
    if (e.type === "SessionOpened") {
      log.append({ type: "SessionClosed", session: e.session, reason: "deleted", expiresAt: 1 });
    }
  });
  log.append({ type: "SessionOpened", session: "s", protocolVersion: "v", expiresAt: 1 });
  log.append({ type: "ConfigRejected", source: "x", reason: "y" });
  assertEquals(order, ["SessionOpened#1", "SessionClosed#2", "ConfigRejected#3"]);
});

Deno.test("resource URIs: the prefix goes after the scheme and comes back off", async () => {
  const { prefixUri, unprefixUri } = await import("../src/routing/aggregate.ts");
  const { templateMatches } = await import("../src/routing/routing_table.ts");
  assertEquals(prefixUri("a_", "test://static-text"), "test://a_static-text");
  assertEquals(prefixUri("a_", "file:///etc/hosts"), "file://a_/etc/hosts");
  assertEquals(prefixUri("a_", "urn:isbn:1"), "urn:a_isbn:1");
  assertEquals(prefixUri("", "test://x"), "test://x");
  for (const uri of ["test://static-text", "file:///etc/hosts", "urn:isbn:1", "ui://widget.html"]) {
    assertEquals(unprefixUri("a_", prefixUri("a_", uri)), uri);
  }
  assertEquals(unprefixUri("b_", "test://a_static"), undefined);
  assert(templateMatches("test://template/{id}/data", "test://template/42/data"));
  assert(!templateMatches("test://template/{id}/data", "test://template/4/2/data"));
});

Deno.test("routing: resources resolve by listed URI, then by prefix and template", () => {
  const events: GatewayEvent[] = [
    loaded([A, B]),
    tools(A, "echo"),
    tools(B, "echo"),
    {
      type: "ResourcesDiscovered",
      server: "b",
      upstreamKey: upstreamKey(B as never),
      resources: [{ uri: "test://static", name: "s" }],
      templates: [{ uriTemplate: "test://item/{id}", name: "t" }],
    },
  ];
  const upstreams = fold(upstreamsProjection, events);
  const state = fold(routingTableProjection, events).view;
  assertEquals(state.catalog.resources.items.map((r) => r.name), ["test://b_static"]);
  assertEquals(state.catalog.templates.items.map((r) => r.name), ["test://b_item/{id}"]);
  assertEquals(resolveResource(upstreams, state.table, "test://b_static")?.upstreamUri, "test://static");
  assertEquals(resolveResource(upstreams, state.table, "test://b_item/7")?.server, "b");
  assertEquals(resolveResource(upstreams, state.table, "test://b_item/7")?.upstreamUri, "test://item/7");
  assertEquals(resolveResource(upstreams, state.table, "other://x"), undefined);
});

Deno.test("tool view: tools needing client capabilities are listed only to clients declaring them", async () => {
  const { toolsFor } = await import("../src/routing/tool_view.ts");
  const discovered = {
    ...tools(A, "echo", "sample", "ask"),
    requires: { sample: ["sampling"], ask: ["elicitation", "roots"] },
  };
  const view = fold(toolViewProjection, [loaded([A]), discovered as GatewayEvent]).view;
  const names = (caps: Record<string, unknown>) => toolsFor(view, caps).items.map((t) => t.name);
  assertEquals(names({}), ["a_echo"]);
  assertEquals(names({ sampling: {} }), ["a_echo", "a_sample"]);
  assertEquals(names({ sampling: {}, elicitation: {}, roots: {} }), ["a_ask", "a_echo", "a_sample"]);
  assertEquals(JSON.parse(toolsFor(view, { sampling: {} }).json).map((t: { name: string }) => t.name), [
    "a_echo",
    "a_sample",
  ]);
  const v1 = view.version;
  const v2 = fold(toolViewProjection, [
    loaded([A]),
    discovered as GatewayEvent,
    { ...discovered, requires: {} } as GatewayEvent,
  ])
    .view.version;
  assertEquals(v2, v1 + 1, "requirements changing alone is a change");
});

Deno.test("catalog: the incremental fold gives what a rebuild from scratch gives, after every event", async () => {
  const { buildCatalog } = await import("../src/routing/tool_view.ts");
  const { buildRoutingTable } = await import("../src/routing/routing_table.ts");
  // A seeded generator: the same sequence on every run.
  let seed = 20261201;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const names = ["echo", "add", "sum", "ask", "zeta"];
  const prefixes = ["a_", "b_", "", "x_"];
  let servers = ["a", "b", "c", "d"].map((name, i) => server(name, ["a_", "a_", "", "x_"][i]));
  const events: GatewayEvent[] = [loaded(servers)];
  const log = new InMemoryEventLog(16);
  const routing = log.project(routingTableProjection);
  log.append(events[0]);
  let version = routing.state.view.view.version;
  let json = routing.state.view.view.json;
  let conflicts = 0;
  for (let step = 0; step < 600; step++) {
    const s = pick(servers);
    const roll = random();
    let event: GatewayEvent;
    if (roll < 0.55) {
      const listed = names.filter(() => random() < 0.5);
      if (random() < 0.2) listed.push(listed[0] ?? "echo"); // a name listed twice
      event = {
        ...tools(s, ...listed),
        requires: random() < 0.3 ? { [pick(names)]: ["sampling"] } : undefined,
      } as GatewayEvent;
      if (random() < 0.2) {
        // A definition change of the same names.
        (event as { tools: { description?: string }[] }).tools.forEach((t) => t.description = String(step));
      }
    } else if (roll < 0.7) {
      event = {
        type: "UpstreamFailed",
        server: s.name,
        upstreamKey: upstreamKey(s as never),
        stage: "ping",
        reason: "down",
        retryInMs: 10,
      };
    } else if (roll < 0.8) {
      event = {
        type: "PromptsDiscovered",
        server: s.name,
        upstreamKey: upstreamKey(s as never),
        prompts: names.filter(() => random() < 0.4).map((name) => ({ name })),
      } as GatewayEvent;
    } else if (roll < 0.88) {
      event = {
        type: "ResourcesDiscovered",
        server: s.name,
        upstreamKey: upstreamKey(s as never),
        resources: names.filter(() => random() < 0.4).map((n) => ({ uri: `test://${n}`, name: n })),
        templates: [],
      } as GatewayEvent;
    } else {
      // A reload: a prefix moves, a server is disabled or comes back, the order changes.
      servers = servers.map((x) =>
        x === s ? random() < 0.5 ? { ...x, toolPrefix: pick(prefixes) } : { ...x, enabled: !x.enabled } : x
      );
      if (random() < 0.3) servers = [...servers.slice(1), servers[0]];
      event = loaded(servers);
    }
    events.push(event);
    log.append(event);
    const state = routing.state;
    const scratch = buildCatalog(state.base, undefined);
    for (const kind of ["tools", "prompts", "resources", "templates"] as const) {
      const live = state.view.catalog[kind];
      const fresh = scratch[kind];
      const at = `step ${step} (${event.type}), ${kind}`;
      assertEquals(live.items, fresh.items, at);
      assertEquals(live.json, fresh.json, at);
      assertEquals(live.conflicts, fresh.conflicts, at);
      conflicts += live.conflicts.length;
      assertEquals(live.requirements, fresh.requirements, at);
    }
    const table = buildRoutingTable(state.base, state.view.catalog);
    assertEquals(state.view.table, table, `step ${step}: the routing table`);
    // The version moves exactly when what clients are listed changes.
    const view = state.view.view;
    const listed = view.json !== json ||
      [...view.requirements].join() !== [...scratch.tools.requirements].join();
    if (view.json !== json) assertEquals(view.version, version + 1, `step ${step}: the list changed`);
    else if (!listed) assertEquals(view.version, version, `step ${step}: nothing clients see changed`);
    version = view.version;
    json = view.json;
  }
  assert(conflicts > 20, `the sequence makes servers conflict (${conflicts})`);
  // The whole sequence folded at once reaches the same state as folding it event by event.
  assertEquals(fold(routingTableProjection, events).view.table, routing.state.view.table);
});

Deno.test("catalog: a change to one server touches only that server's names", () => {
  const many = Array.from({ length: 40 }, (_, i) => server(`s${i}`, `s${i}_`));
  const events: GatewayEvent[] = [loaded(many), ...many.map((s) => tools(s, "a", "b", "c"))];
  const state = fold(routingTableProjection, events);
  const view = state.view.view;
  assertEquals(view.size, 120);
  assertEquals(view.changes.full, false);
  assertEquals([...view.changes.names.keys()].sort(), ["s39_a", "s39_b", "s39_c"]);
  const next = routingTableProjection.apply(state, {
    ...tools(many[7], "a", "d"),
    seq: events.length + 1,
    at: 0,
  } as never).view.view;
  assertEquals(
    [...next.changes.names].map(([name, c]) => [name, !!c.before, !!c.after, c.same]).sort(),
    [["s7_a", true, true, true], ["s7_b", true, false, false], ["s7_c", true, false, false], [
      "s7_d",
      false,
      true,
      false,
    ]],
    "s7_a was listed again as it was: clients see no change",
  );
  assertEquals(next.version, view.version + 1);
});
