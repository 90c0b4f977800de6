/**
 * The authorization rule both data paths share, fed plain values: capabilities (Kuadrant's semantics),
 * virtual servers, resource authorities, list filtering and cache scope; and capabilities read from token
 * claims.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { VirtualServer } from "../src/config/schema.ts";
import {
  inVirtualServer,
  isAllowed,
  lookupVirtualServer,
  mayUse,
  uriAuthority,
  visibleItems,
} from "../src/identity/authorize.ts";
import { ANONYMOUS, type Identity, intersectCapabilities } from "../src/identity/identity.ts";
import {
  capabilitiesFromClaims,
  TokenCapabilitiesOptionsSchema,
} from "../src/identity/token_capabilities.ts";
import { subjectKey } from "../src/identity/resolve.ts";
import type { ServedItem } from "../src/routing/aggregate.ts";

const served = (name: string, server: string, upstreamName: string): ServedItem => ({
  name,
  server,
  upstreamName,
  item: { name },
});

const TOOLS = [
  served("cal_list_events", "calendar-service", "list_events"),
  served("weather_get_alerts", "weather-service", "get_alerts"),
  served("weather_get_forecast", "weather-service", "get_forecast"),
];
const PROMPTS = [
  served("weather_summary", "weather-service", "summary"),
  served("cal_agenda", "calendar-service", "agenda"),
];
const RESOURCES = [
  served("ui://w_forecast/map.html", "weather-service", "ui://forecast/map.html"),
  served("ui://w_alerts/list.html", "weather-service", "ui://alerts/list.html"),
  served("file:///w_data.txt", "weather-service", "file:///data.txt"),
];
const TEMPLATES = [served("ui://w_forecast/{city}", "weather-service", "ui://forecast/{city}")];

const who = (allowed: Identity["allowed"]): Identity => ({ ...ANONYMOUS, subject: "alice", allowed });

Deno.test("authorize: an unrestricted identity sees and may use everything; lists stay public", () => {
  for (const kind of ["tool", "prompt", "resource"] as const) {
    const items = kind === "tool" ? TOOLS : kind === "prompt" ? PROMPTS : RESOURCES;
    const view = visibleItems(ANONYMOUS, kind, items);
    assertEquals(view.items, items);
    assertEquals(view.cacheScope, "public");
  }
  assert(isAllowed(ANONYMOUS, "tool", "anything", "at-all"));
});

Deno.test("authorize: tools and prompts are allowed by server and unprefixed name, per type", () => {
  const alice = who({
    tools: { "weather-service": ["get_forecast"], "calendar-service": [] },
    prompts: { "calendar-service": ["agenda"] },
  });
  assert(isAllowed(alice, "tool", "weather-service", "get_forecast"));
  assert(
    !isAllowed(alice, "tool", "weather-service", "weather_get_forecast"),
    "served (prefixed) names do not match",
  );
  assert(!isAllowed(alice, "tool", "weather-service", "get_alerts"));
  assert(!isAllowed(alice, "tool", "calendar-service", "list_events"), "an empty list allows nothing");
  assert(!isAllowed(alice, "tool", "other-service", "get_forecast"), "a server not in the map gets nothing");
  // Tool roles never grant prompts of the same name, and vice versa.
  assert(!isAllowed(alice, "prompt", "weather-service", "get_forecast"));
  assert(isAllowed(alice, "prompt", "calendar-service", "agenda"));
  // No resources key: resources are not restricted.
  assert(isAllowed(alice, "resource", "weather-service", "ui://alerts/list.html"));

  const tools = visibleItems(alice, "tool", TOOLS);
  assertEquals(tools.items.map((t) => t.name), ["weather_get_forecast"]);
  assertEquals(tools.cacheScope, "private");
  assertEquals(visibleItems(alice, "prompt", PROMPTS).items.map((p) => p.name), ["cal_agenda"]);
  assertEquals(visibleItems(alice, "resource", RESOURCES).cacheScope, "public");
  // Keys that are also Object.prototype names are plain server names, never inherited functions.
  assert(!isAllowed(who({ tools: {} }), "tool", "constructor", "x"));
  assert(!isAllowed(who({ tools: {} }), "tool", "__proto__", "x"));
});

Deno.test("authorize: resources match the upstream URI's authority (Kuadrant) or the exact URI/template", () => {
  assertEquals(uriAuthority("ui://forecast/map.html"), "forecast");
  assertEquals(uriAuthority("http://user@example.com:8080/p"), "example.com:8080");
  assertEquals(uriAuthority("ui://forecast/{city}"), "forecast");
  assertEquals(uriAuthority("file:///data.txt"), "");
  assertEquals(uriAuthority("urn:isbn:123"), undefined);

  const byAuthority = who({ resources: { "weather-service": ["forecast"] } });
  assertEquals(visibleItems(byAuthority, "resource", RESOURCES).items.map((r) => r.name), [
    "ui://w_forecast/map.html",
  ]);
  assertEquals(
    visibleItems(byAuthority, "resource", TEMPLATES).items.length,
    1,
    "templates by authority too",
  );
  assert(isAllowed(byAuthority, "resource", "weather-service", "ui://forecast/anything-read-later"));
  assert(
    !isAllowed(byAuthority, "resource", "weather-service", "ui://w_forecast/map.html"),
    "served URIs do not match",
  );

  const byUri = who({ resources: { "weather-service": ["file:///data.txt", "ui://forecast/{city}"] } });
  assertEquals(visibleItems(byUri, "resource", RESOURCES).items.map((r) => r.name), ["file:///w_data.txt"]);
  assertEquals(visibleItems(byUri, "resource", TEMPLATES).items.length, 1);
  assert(!isAllowed(byUri, "resource", "weather-service", "file:///other.txt"));
  assertEquals(
    visibleItems(who({ resources: {} }), "resource", RESOURCES).items,
    [],
    "an empty map denies all",
  );
});

Deno.test("authorize: a virtual server narrows tools always, prompts when it names them, resources never", () => {
  const vs: VirtualServer = {
    name: "team-a/weather-only",
    tools: ["weather_get_forecast", "cal_list_events"],
  };
  const withPrompts: VirtualServer = { ...vs, prompts: ["weather_summary"] };
  assert(inVirtualServer(vs, "tool", "weather_get_forecast"));
  assert(!inVirtualServer(vs, "tool", "weather_get_alerts"));
  assert(inVirtualServer(vs, "prompt", "cal_agenda"), "prompts omitted: all prompts");
  assert(!inVirtualServer({ ...vs, prompts: [] }, "prompt", "cal_agenda"), "prompts: [] shows none");
  assert(inVirtualServer(vs, "resource", "ui://anything"));

  // It intersects with capabilities: it narrows, never grants.
  const alice = who({ tools: { "weather-service": ["get_forecast", "get_alerts"] } });
  const view = visibleItems(alice, "tool", TOOLS, vs);
  assertEquals(view.items.map((t) => t.name), ["weather_get_forecast"]);
  assertEquals(visibleItems(ANONYMOUS, "tool", TOOLS, vs).items.map((t) => t.name), [
    "cal_list_events",
    "weather_get_forecast",
  ]);
  assertEquals(visibleItems(ANONYMOUS, "tool", TOOLS, vs).cacheScope, "private");
  assertEquals(visibleItems(ANONYMOUS, "prompt", PROMPTS, vs).cacheScope, "public");
  assertEquals(visibleItems(ANONYMOUS, "prompt", PROMPTS, withPrompts).items.map((p) => p.name), [
    "weather_summary",
  ]);

  // A call is refused by the same rule the list applies.
  assert(mayUse(alice, "tool", TOOLS[2], vs));
  assert(!mayUse(alice, "tool", TOOLS[1], vs), "allowed by capabilities, outside the virtual server");
  assert(!mayUse(alice, "tool", TOOLS[0], vs), "inside the virtual server, not allowed by capabilities");

  assertEquals(lookupVirtualServer([vs], null), { kind: "none" });
  assertEquals(lookupVirtualServer([vs], "team-a/weather-only"), { kind: "found", virtual: vs });
  assertEquals(lookupVirtualServer([vs], "team-b/x"), { kind: "unknown", name: "team-b/x" });
});

Deno.test("authorize: two sources intersect per type and server", () => {
  const a = { tools: { s1: ["a", "b"], s2: ["c"] }, prompts: { s1: ["p"] } };
  const b = { tools: { s1: ["b", "z"] }, resources: { s1: ["host"] } };
  assertEquals(intersectCapabilities(a, b), {
    tools: { s1: ["b"] },
    prompts: { s1: ["p"] },
    resources: { s1: ["host"] },
  });
  assertEquals(intersectCapabilities(undefined, b), b);
  assertEquals(intersectCapabilities(a, undefined), a);
  assertEquals(intersectCapabilities({ tools: {} }, { tools: { s1: ["a"] } }), { tools: {} });
});

Deno.test("token capabilities: Keycloak client roles become tools and prompts; other claim layouts work", () => {
  const defaults = TokenCapabilitiesOptionsSchema.parse({});
  assertEquals(defaults, { claim: "resource_access", format: "roles", types: ["tools", "prompts"] });
  const keycloak = {
    sub: "alice",
    resource_access: {
      "mcp-test/weather-route": {
        roles: ["tool:get_forecast", "tool:get_alerts", "prompt:summary", "tool:"],
      },
      "mcp-test/calendar-route": { roles: ["prompt:agenda"] },
      account: { roles: ["manage-account", "view-profile"] },
    },
  };
  assertEquals(capabilitiesFromClaims(keycloak, defaults), {
    tools: { "mcp-test/weather-route": ["get_forecast", "get_alerts"] },
    prompts: { "mcp-test/weather-route": ["summary"], "mcp-test/calendar-route": ["agenda"] },
  });
  // A token without roles allows no tools and no prompts: the token is the policy.
  assertEquals(capabilitiesFromClaims({ sub: "x" }, defaults), { tools: {}, prompts: {} });
  // Resources only when configured to be governed by the token.
  const withResources = TokenCapabilitiesOptionsSchema.parse({ types: ["tools", "resources"] });
  assertEquals(
    capabilitiesFromClaims(
      { resource_access: { w: { roles: ["resource:forecast", "tool:t"] } } },
      withResources,
    ),
    { tools: { w: ["t"] }, resources: { w: ["forecast"] } },
  );
  // A nested claim path, and a literal dotted claim name.
  const nested = TokenCapabilitiesOptionsSchema.parse({ claim: "mcp.roles" });
  assertEquals(
    capabilitiesFromClaims({ mcp: { roles: { w: { roles: ["tool:t"] } } } }, nested).tools,
    { w: ["t"] },
  );
  const dotted = TokenCapabilitiesOptionsSchema.parse({
    claim: "https://example.com/mcp",
    format: "capabilities",
  });
  const caps = { tools: { w: ["t"] } };
  assertEquals(capabilitiesFromClaims({ "https://example.com/mcp": caps }, dotted), caps);
  assertEquals(capabilitiesFromClaims({ "https://example.com/mcp": JSON.stringify(caps) }, dotted), caps);
  assertEquals(capabilitiesFromClaims({ "https://example.com/mcp": "{bad" }, dotted), {
    tools: {},
    prompts: {},
    resources: {},
  });
});

Deno.test("identity: a session binds to issuer and subject, so equal subjects of two issuers differ", () => {
  const a: Identity = { ...ANONYMOUS, source: "token", issuer: "https://a", subject: "alice" };
  const b: Identity = { ...a, issuer: "https://b" };
  assertEquals(subjectKey(a), "https://a|alice");
  assert(subjectKey(a) !== subjectKey(b));
  assertEquals(subjectKey(ANONYMOUS), undefined);
});
