/**
 * The era module and what builds on it, as pure functions: classification, the standard headers' value
 * encoding, envelope splicing, framing per era, the method table's eras, the wire per backend, the list
 * cache policy (folded from events) and the key of backend sessions held for 2026 callers.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { classifyInbound } from "../src/era/classify.ts";
import { envelopeMeta, withEnvelope, withoutEnvelope } from "../src/era/envelope.ts";
import { frameLegacyResult, frameModernResult, listResultText } from "../src/era/frame.ts";
import { decodeHeaderValue, encodeHeaderValue, paramHeaders } from "../src/era/headers.ts";
import { fold } from "../src/events/projection.ts";
import type { GatewayEvent } from "../src/events/types.ts";
import { configDigest } from "../src/config/parse.ts";
import type { GatewayConfig } from "../src/config/schema.ts";
import { backendWire } from "../src/mcp/backend_wire.ts";
import { GatewayError } from "../src/mcp/errors.ts";
import { answerFor, parseJsonRpc, replaceId, withMembers } from "../src/mcp/jsonrpc.ts";
import { methodRoute, unknownMethod } from "../src/mcp/methods.ts";
import { listCacheHint } from "../src/routing/list_cache.ts";
import { upstreamKey, upstreamsProjection } from "../src/routing/upstreams.ts";
import { heldSessionKey } from "../src/session/backend_binder.ts";
import { InMemorySessionStore } from "../src/session/store.ts";
import { Relay } from "../src/broker/relay.ts";
import { createLogger } from "../src/observe/log.ts";
import {
  missingCapability,
  readInputRequests,
  toInputRequest,
  toLegacyParams,
} from "../src/broker/bridge/input_requests.ts";
import { TokenService } from "../src/session/tokens.ts";

const V = "io.modelcontextprotocol/protocolVersion";
const CAPS = "io.modelcontextprotocol/clientCapabilities";
const INFO = "io.modelcontextprotocol/clientInfo";

function classify(body: unknown, headers: Record<string, string> = {}) {
  return classifyInbound((name) => headers[name], parseJsonRpc(JSON.stringify(body)));
}

function refusal(body: unknown, headers: Record<string, string> = {}): GatewayError {
  try {
    classify(body, headers);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

const modern = (
  method: string,
  params: Record<string, unknown> = {},
  meta: Record<string, unknown> = {},
) => ({
  jsonrpc: "2.0",
  id: 3,
  method,
  params: { ...params, _meta: { [V]: "2026-07-28", [CAPS]: {}, ...meta } },
});
const headers = (method: string, name?: string) => ({
  "mcp-protocol-version": "2026-07-28",
  "mcp-method": method,
  ...(name ? { "mcp-name": name } : {}),
});

Deno.test("era classification: 2025 without a claim, 2026 with a valid envelope and headers", () => {
  const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25" } };
  assertEquals(classify(init).era, "2025");
  assertEquals(
    classify({ jsonrpc: "2.0", id: 1, method: "tools/list" }, { "mcp-protocol-version": "2025-06-18" }),
    {
      era: "2025",
      protocolVersion: "2025-06-18",
      message: parseJsonRpc(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`).message,
      text: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
    },
  );
  assertEquals(classify({ jsonrpc: "2.0", id: 1, result: {} }).era, "2025");

  const request = classify(
    modern("tools/call", { name: "echo" }, {
      [CAPS]: { sampling: { tools: {} }, bogus: {}, extensions: { "io.modelcontextprotocol/tasks": {} } },
      [INFO]: { name: "c", version: "1" },
      "io.modelcontextprotocol/logLevel": "info",
    }),
    headers("tools/call", " echo\t"),
  );
  assertEquals(request.era, "2026");
  assertEquals(request.envelope, {
    protocolVersion: "2026-07-28",
    capabilities: { sampling: { tools: {} }, extensions: { "io.modelcontextprotocol/tasks": {} } },
    clientInfo: { name: "c", version: "1" },
    logLevel: "info",
  });
  // A notification's headers are only cross-checked; it needs no Mcp-Method.
  const note = {
    jsonrpc: "2.0",
    method: "notifications/cancelled",
    params: { _meta: { [V]: "2026-07-28" } },
  };
  assertEquals(classify(note).era, "2026");
});

Deno.test("era classification: the ladder's refusals, as gateway errors with the spec's status and code", () => {
  const cases: [string, unknown, Record<string, string>, number, number][] = [
    [
      "modern header, no envelope",
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      headers("tools/list"),
      400,
      -32602,
    ],
    [
      "envelope without capabilities",
      modern("tools/list", {}, { [CAPS]: undefined }),
      headers("tools/list"),
      400,
      -32602,
    ],
    ["unsupported revision", modern("tools/list", {}, { [V]: "2027-01-01" }), {}, 400, -32022],
    ["missing MCP-Protocol-Version", modern("tools/list"), { "mcp-method": "tools/list" }, 400, -32020],
    ["Mcp-Method mismatch", modern("tools/list"), headers("prompts/list"), 400, -32020],
    ["Mcp-Name mismatch", modern("tools/call", { name: "a" }), headers("tools/call", "b"), 400, -32020],
    ["Mcp-Name missing", modern("prompts/get", { name: "a" }), headers("prompts/get"), 400, -32020],
    [
      "Mcp-Name bad sentinel",
      modern("resources/read", { uri: "x" }),
      headers("resources/read", "=?base64?eA?="),
      400,
      -32020,
    ],
    [
      "initialize with a modern header",
      { jsonrpc: "2.0", id: 1, method: "initialize" },
      headers("initialize"),
      400,
      -32020,
    ],
  ];
  for (const [why, body, h, status, code] of cases) {
    const error = refusal(JSON.parse(JSON.stringify(body)), h);
    assertEquals([error.status, error.code], [status, code], why);
  }
  // A sentinel-encoded name is decoded before it is compared.
  assertEquals(
    classify(modern("resources/read", { uri: "a b" }), headers("resources/read", "=?base64?YSBi?=")).era,
    "2026",
  );
});

Deno.test("standard header values: plain when visible ASCII, else the base64 sentinel; decoding refuses non-canonical", () => {
  for (
    const value of ["weather_get", "a b", "Zürich", " lead", "trail ", "=?base64?abc?=", "tab\tinside", ""]
  ) {
    assertEquals(decodeHeaderValue(encodeHeaderValue(value)), value, JSON.stringify(value));
  }
  assertEquals(encodeHeaderValue("weather_get"), "weather_get");
  assertEquals(encodeHeaderValue("Zürich"), "=?base64?WsO8cmljaA==?=");
  assertEquals(decodeHeaderValue("=?base64?WsO8cmljaA?="), undefined);
  assertEquals(decodeHeaderValue("=?base64?/w==?="), undefined, "not UTF-8");

  const schema = {
    type: "object",
    properties: {
      region: { type: "string", "x-mcp-header": "Region" },
      nested: { type: "object", properties: { count: { type: "integer", "x-mcp-header": "Count" } } },
      flag: { type: "boolean", "x-mcp-header": "Flag" },
      plain: { type: "string" },
    },
  };
  assertEquals(paramHeaders(schema, { region: "eu west", nested: { count: 3 }, flag: false, plain: "x" }), {
    "mcp-param-region": "eu west",
    "mcp-param-count": "3",
    "mcp-param-flag": "false",
  });
  assertEquals(paramHeaders(schema, { region: null }), {}, "absent and null values send no header");
  const invalid = { type: "object", properties: { n: { type: "number", "x-mcp-header": "N" } } };
  assertEquals(paramHeaders(invalid, { n: 1.5 }), {}, "a tool with an invalid declaration mirrors nothing");
});

Deno.test("envelope splicing: added, kept beside the rest of _meta, removed; every other byte stays", () => {
  const envelope = {
    protocolVersion: "2026-07-28",
    capabilities: { roots: {} },
    clientInfo: { name: "gw", version: "1" },
  };
  const bare = `{"jsonrpc":"2.0","id":12345678901234567890,"method":"tools/list"}`;
  const withOne = withEnvelope(bare, envelope);
  assert(withOne.includes(`"id":12345678901234567890`), withOne);
  assertEquals(JSON.parse(withOne).params._meta, envelopeMeta(envelope));
  const call =
    `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":7}}}`;
  const enveloped = withEnvelope(call, envelope);
  assertEquals(JSON.parse(enveloped).params._meta, { progressToken: 7, ...envelopeMeta(envelope) });
  assertEquals(JSON.parse(withoutEnvelope(enveloped)).params._meta, { progressToken: 7 });
  const empty = `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`;
  assertEquals(JSON.parse(withEnvelope(empty, envelope)).params, { _meta: envelopeMeta(envelope) });
  assertEquals(withoutEnvelope(call), call, "nothing to remove: the same text");
});

Deno.test("framing: 2026 results get resultType, the gateway's identity and cache hints; 2025 results lose them", () => {
  const info = { "io.modelcontextprotocol/serverInfo": { name: "mcp-gateway", version: "0.1.0" } };
  assertEquals(frameModernResult("tools/call", { content: [] }), {
    content: [],
    resultType: "complete",
    _meta: info,
  });
  assertEquals(frameModernResult("resources/read", { contents: [] }), {
    contents: [],
    resultType: "complete",
    _meta: info,
    ttlMs: 0,
    cacheScope: "private",
  });
  const fromBackend = {
    contents: [],
    resultType: "complete",
    ttlMs: 9,
    cacheScope: "public",
    _meta: { k: 1 },
  };
  assertEquals(frameModernResult("resources/read", fromBackend), {
    ...fromBackend,
    _meta: { k: 1, ...info },
  });
  assertEquals(
    frameModernResult("resources/read", fromBackend, { privateToCaller: true }).cacheScope,
    "private",
  );
  const input = { resultType: "input_required", inputRequests: { a: {} }, requestState: "s\u00e9aled" };
  assertEquals(
    frameModernResult("tools/call", input),
    { ...input, _meta: info },
    "no cache hint, state as sent",
  );
  assertEquals(
    frameLegacyResult({ content: [], resultType: "complete", ttlMs: 1, cacheScope: "public", _meta: info }),
    { content: [] },
  );
  assertEquals(listResultText("2025", "tools", "[]", { ttlMs: 5, cacheScope: "public" }), `{"tools":[]}`);
  assertEquals(JSON.parse(listResultText("2026", "tools", "[]", { ttlMs: 5, cacheScope: "public" })), {
    tools: [],
    resultType: "complete",
    ttlMs: 5,
    cacheScope: "public",
    _meta: info,
  });
});

Deno.test("method table: which era has which method; an unknown one is 200 in 2025 and 404 in 2026", () => {
  for (
    const method of ["initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"]
  ) {
    assert(methodRoute(method, "2025"), method);
    assertEquals(methodRoute(method, "2026"), undefined, method);
  }
  for (
    const method of ["server/discover", "subscriptions/listen", "tasks/get", "tasks/update", "tasks/cancel"]
  ) {
    assertEquals(methodRoute(method, "2025"), undefined, method);
    assert(methodRoute(method, "2026"), method);
  }
  for (const method of ["tasks/result", "tasks/list"]) assertEquals(methodRoute(method, "2026"), undefined);
  for (const method of ["tools/list", "tools/call", "prompts/get", "resources/read", "completion/complete"]) {
    assertEquals(methodRoute(method, "2025"), methodRoute(method, "2026"), method);
  }
  assertEquals([unknownMethod("x", "2025", "1").status, unknownMethod("x", "2026", "1").status], [200, 404]);
});

Deno.test("backend wire: sessions for 2025 backends and 2025 clients of dual ones, stateless for the rest", () => {
  const legacy = { era: "2025" as const };
  const dual = { era: "2026" as const, legacyProtocolVersion: "2025-11-25" };
  const modernOnly = { era: "2026" as const };
  assertEquals(
    [legacy, dual, modernOnly].map((b) => [backendWire(b, "2025"), backendWire(b, "2026")]),
    [["session", "session"], ["session", "stateless"], ["stateless", "stateless"]],
  );
  assertEquals(backendWire({}, "2026"), "session", "not yet connected: taken as 2025");
});

function server(name: string) {
  return {
    name,
    url: `http://${name}.local/mcp`,
    hostname: `${name}.local`,
    enabled: true,
    toolPrefix: `${name}_`,
  };
}

Deno.test("list cache policy: the smallest TTL, 2025 upstreams count as 0, private as soon as one is", () => {
  const servers = [server("a"), server("b"), server("c")];
  const config = { servers, virtualServers: [] } as GatewayConfig;
  const key = (s: ReturnType<typeof server>) => upstreamKey(s as never);
  const connected = (s: ReturnType<typeof server>, era: "2025" | "2026"): GatewayEvent => ({
    type: "UpstreamConnected",
    server: s.name,
    upstreamKey: key(s),
    era,
    protocolVersion: era === "2026" ? "2026-07-28" : "2025-11-25",
    serverInfo: { name: s.name, version: "1" },
    capabilities: { tools: {}, prompts: {} },
  });
  const tools = (s: ReturnType<typeof server>, cache?: { ttlMs: number; cacheScope: "public" | "private" }) =>
    ({
      type: "ToolsDiscovered",
      server: s.name,
      upstreamKey: key(s),
      tools: [],
      ...(cache ? { cache } : {}),
    }) as GatewayEvent;
  const base: GatewayEvent[] = [
    { type: "ConfigLoaded", source: "t", config, digest: configDigest(config) },
    connected(servers[0], "2026"),
    tools(servers[0], { ttlMs: 60_000, cacheScope: "public" }),
    connected(servers[1], "2026"),
    tools(servers[1], { ttlMs: 5_000, cacheScope: "public" }),
  ];
  assertEquals(listCacheHint(fold(upstreamsProjection, base), "tools"), {
    ttlMs: 5_000,
    cacheScope: "public",
  });
  const withLegacy = [...base, connected(servers[2], "2025"), tools(servers[2])];
  assertEquals(listCacheHint(fold(upstreamsProjection, withLegacy), "tools"), {
    ttlMs: 0,
    cacheScope: "public",
  });
  const withPrivate = [
    ...base,
    connected(servers[2], "2026"),
    tools(servers[2], { ttlMs: 9_000, cacheScope: "private" }),
  ];
  assertEquals(listCacheHint(fold(upstreamsProjection, withPrivate), "tools"), {
    ttlMs: 5_000,
    cacheScope: "private",
  });
  assertEquals(listCacheHint(fold(upstreamsProjection, base), "resources"), {
    ttlMs: 0,
    cacheScope: "public",
  }, "no contributor");
});

Deno.test("held backend sessions: one per caller and declared capabilities, extensions aside", () => {
  const sampling = { sampling: {} };
  assertEquals(heldSessionKey("iss|alice", sampling), heldSessionKey("iss|alice", { ...sampling }));
  assert(heldSessionKey("iss|alice", sampling) !== heldSessionKey("iss|bob", sampling), "another caller");
  assert(heldSessionKey("iss|alice", sampling) !== heldSessionKey("iss|alice", {}), "other capabilities");
  assertEquals(
    heldSessionKey("", { sampling: {}, elicitation: { form: {} } }),
    heldSessionKey("", { elicitation: { form: {} }, sampling: {} }),
    "declaration order does not matter",
  );
  assertEquals(
    heldSessionKey("", { extensions: { "io.modelcontextprotocol/tasks": {} } }),
    heldSessionKey("", {}),
    "a 2025 session cannot carry extensions",
  );
});

Deno.test("relay: framing a result splices it, so the response id keeps every digit", async () => {
  const config = server("s") as never;
  const relay = new Relay(new InMemorySessionStore(), createLogger("error"), "", config, {
    id: "",
    protocolVersion: "x",
  }, {
    rewriteResult: (result) => frameModernResult("tools/call", result),
  });
  const out = await relay.rewrite(
    `{"jsonrpc":"2.0","id":123456789012345678901234567890,"result":{"content":[]}}`,
  );
  assert(out.includes(`"id":123456789012345678901234567890`), out);
  assertEquals(JSON.parse(out).result.resultType, "complete");
});

Deno.test("era classification agrees with the SDK's classifier on every case, fast path included", async () => {
  const { classifyInboundRequest } = await import("@modelcontextprotocol/server");
  const bodies = [
    { jsonrpc: "2.0", id: 1, method: "tools/list" },
    { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25" } },
    { jsonrpc: "2.0", method: "notifications/initialized" },
    { jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: { progressToken: 1 } } },
    modern("tools/list"),
    modern("initialize"),
    modern("tools/list", {}, { [V]: "2025-11-25" }),
    modern("tools/list", {}, { [V]: 7 }),
    { jsonrpc: "2.0", method: "notifications/cancelled", params: { _meta: { [V]: "2026-07-28" } } },
  ];
  const versionHeaders = [undefined, "2025-06-18", "2026-07-28", " 2026-07-28 ", "garbage", "2027-01-01"];
  for (const body of bodies) {
    for (const version of versionHeaders) {
      const h: Record<string, string> = version === undefined ? {} : { "mcp-protocol-version": version };
      const sdk = classifyInboundRequest({ httpMethod: "POST", protocolVersionHeader: version, body });
      let ours: string;
      try {
        ours = classify(body, { ...h, "mcp-method": body.method }).era === "2026" ? "modern" : "legacy";
      } catch (e) {
        ours = `reject ${(e as GatewayError).code}`;
      }
      const what = `${JSON.stringify(body)} with ${JSON.stringify(version)}: SDK ${sdk.kind}, ours ${ours}`;
      if (sdk.kind === "reject") assertEquals(ours, `reject ${sdk.code}`, what);
      else if (sdk.kind === "legacy") assertEquals(ours, "legacy", what);
      // Past the classifier, the ladder's later rungs may still refuse a modern request: a revision the
      // gateway does not serve (-32022), standard headers missing or disagreeing (-32020).
      else assert(["modern", "reject -32022", "reject -32020"].includes(ours), what);
    }
  }
});

Deno.test("era bridge: input requests translated between eras, asked only of clients that declared them", () => {
  const elicit = {
    method: "elicitation/create",
    params: { mode: "form", message: "Name?", requestedSchema: {} },
  };
  assertEquals(missingCapability({ elicitation: {} }, elicit), undefined);
  assertEquals(missingCapability({ sampling: {} }, elicit), { elicitation: {} });
  const url = { method: "elicitation/create", params: { mode: "url", message: "Sign in", url: "https://x" } };
  assertEquals(missingCapability({ elicitation: {} }, url), { elicitation: { url: {} } }, "bare = form only");
  assertEquals(missingCapability({ elicitation: { url: {} } }, url), undefined);
  assertEquals(missingCapability({}, { method: "roots/list" }), { roots: {} });
  // 2026 → 2025: URL mode gets the id the 2025 shape needs; form mode is implicit before 2025-11-25.
  assert(typeof toLegacyParams(url, "2025-11-25").elicitationId === "string");
  assertEquals(toLegacyParams(elicit, "2025-06-18").mode, undefined);
  assertEquals(toLegacyParams(elicit, "2025-11-25").mode, "form");
  // 2025 → 2026: the mode made explicit, the request's own progress token and URL id left behind.
  assertEquals(
    toInputRequest("elicitation/create", {
      message: "Name?",
      requestedSchema: {},
      _meta: { progressToken: 3 },
    }),
    { method: "elicitation/create", params: { message: "Name?", requestedSchema: {}, mode: "form" } },
  );
  assertEquals(toInputRequest("roots/list", undefined), { method: "roots/list", params: {} });
  let refused = "";
  try {
    readInputRequests({ a: { method: "tools/call", params: {} } });
  } catch (e) {
    refused = String(e);
  }
  assert(refused.includes("'a'"), refused);
});

Deno.test("era bridge: a retry body gets its answers spliced in, every other byte kept", () => {
  const body =
    `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t","arguments":{"n":12345678901234567890}}}`;
  const retry = withMembers(replaceId(body, `"r-1"`), ["params"], {
    inputResponses: `{"k":{"action":"accept"}}`,
    requestState: `"opaque"`,
  });
  assertEquals(
    retry,
    `{"jsonrpc":"2.0","id":"r-1","method":"tools/call","params":{"name":"t","arguments":{"n":12345678901234567890},"inputResponses":{"k":{"action":"accept"}},"requestState":"opaque"}}`,
  );
  assertEquals(withMembers(`{"params":{ }}`, ["params"], { a: "1" }), `{"params":{ "a":1}}`);
  // A backend response without an id still answers the client's.
  assertEquals(
    JSON.parse(answerFor(`{"jsonrpc":"2.0","error":{"code":1}}`, { jsonrpc: "2.0", error: { code: 1 } }, "9"))
      .id,
    9,
  );
});

Deno.test("era bridge: a requestState is signed for one call, round and caller; no other token passes for one", async () => {
  const tokens = new TokenService({ signingKey: "k".repeat(40), sessionMinutes: 5 });
  const claims = {
    call: "c1",
    round: 2,
    subject: "issuer|alice",
    method: "tools/call",
    server: "legacy",
    name: "confirm",
    requests: { "elicitation-1": "0" },
  };
  const state = await tokens.mintInputState(claims, 60_000);
  assertEquals(await tokens.verifyInputState(state), claims);
  const other = new TokenService({ signingKey: "o".repeat(40), sessionMinutes: 5 });
  assertEquals(await other.verifyInputState(state), undefined, "another gateway's key");
  const { token: session } = await tokens.mintSession("2025-11-25", {});
  assertEquals(await tokens.verifyInputState(session), undefined, "a session token is no requestState");
  assertEquals((await tokens.verifySession(state)).ok, false, "a requestState is no session token");
  const [header, , signature] = state.split(".");
  const forged = btoa(JSON.stringify({ ...claims, sub: "issuer|mallory" })).replace(/=+$/, "");
  assertEquals(await tokens.verifyInputState(`${header}.${forged}.${signature}`), undefined);
});
