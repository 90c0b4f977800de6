/** Phase handlers fed with Envoy messages; state comes from events folded into an in-memory log. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";

function assertExists<T>(v: T, msg?: string): asserts v is NonNullable<T> {
  assert(v !== undefined && v !== null, msg ?? "expected a value");
}
const assertFalse = (v: unknown, msg = "expected a falsy value") => assert(!v, msg);
import { InMemoryEventLog } from "../src/events/log.ts";
import { routingTableProjection } from "../src/routing/routing_table.ts";
import { backendSessionOf, sessionMapProjection } from "../src/session/session_map.ts";
import { TokenService } from "../src/session/tokens.ts";
import { silentLogger } from "../src/observe/log.ts";
import type { RouterContext, StreamState } from "../src/router/context.ts";
import { processMessage } from "../src/router/server.ts";
import { fromStruct, type HttpHeaders, type ProcessingResponse } from "../src/router/proto.ts";
import { openThroughEnvoy } from "../src/router/backend_sessions.ts";
import { Admission } from "../src/admission/admit.ts";
import { BackendBinder, type BackendOpener } from "../src/session/backend_binder.ts";
import { InMemorySessionStore } from "../src/session/store.ts";
import { upstreamKey } from "../src/routing/upstreams.ts";
import type { ServerConfig } from "../src/config/schema.ts";

const PUBLIC = "mcp.example.test:8888";
const enc = new TextEncoder();
const dec = new TextDecoder();

const server1: ServerConfig = {
  name: "server1",
  url: "http://127.0.0.1:9001/mcp/v1?x=1",
  hostname: "server1.mcp.local",
  enabled: true,
  toolPrefix: "s1_",
};

function setup(opener?: BackendOpener) {
  const log = new InMemoryEventLog();
  const routing = log.project(routingTableProjection);
  const sessions = log.project(sessionMapProjection);
  const tokens = new TokenService({ signingKey: "k".repeat(32), sessionMinutes: 10 });
  log.append({
    type: "ConfigLoaded",
    source: "test",
    config: { servers: [server1], virtualServers: [] },
    digest: "d1",
  });
  log.append({
    type: "ToolsDiscovered",
    server: "server1",
    upstreamKey: upstreamKey(server1),
    tools: [{ name: "echo", annotations: { readOnlyHint: true } }, { name: "add" }],
  });
  const binds: string[] = [];
  const store = new InMemorySessionStore();
  const ctx: RouterContext = {
    publicHost: PUBLIC,
    maxBodyBytes: 1024,
    tokens,
    admission: new Admission(tokens, sessions, { allowedOrigins: [], allowedHosts: "*" }),
    routing,
    sessions,
    log,
    logger: silentLogger,
    store,
    binder: new BackendBinder(
      log,
      sessions,
      store,
      opener ?? ((claims, server) => {
        binds.push(`${claims.id}/${server.name}`);
        return Promise.resolve({ id: "backend-1", protocolVersion: "2025-06-18" });
      }),
    ),
  };
  return { log, ctx, tokens, binds, sessions };
}

function headersMsg(h: Record<string, string>, endOfStream = false): HttpHeaders {
  return {
    headers: { headers: Object.entries(h).map(([key, v]) => ({ key, raw_value: enc.encode(v) })) },
    end_of_stream: endOfStream,
  };
}

function sets(reply: ProcessingResponse, arm: "request_headers" | "request_body" | "response_headers") {
  const out: Record<string, string> = {};
  for (const o of reply[arm]?.response?.header_mutation?.set_headers ?? []) {
    assertEquals(o.header?.value ?? "", "", "router must not use `value` (Envoy ignores it)");
    assertEquals(o.append, undefined);
    out[o.header!.key] = dec.decode(o.header!.raw_value);
  }
  return out;
}

async function run(ctx: RouterContext, headers: Record<string, string>, body?: string) {
  const state: StreamState = {};
  const h = await processMessage(ctx, state, { request_headers: headersMsg(headers, body === undefined) });
  const b = body === undefined
    ? undefined
    : await processMessage(ctx, state, { request_body: { body: enc.encode(body), end_of_stream: true } });
  return { state, h, b };
}

function immediate(reply: ProcessingResponse | undefined) {
  const i = reply?.immediate_response;
  assertExists(i, `expected an immediate response, got ${JSON.stringify(reply)}`);
  const headers: Record<string, string> = {};
  for (const o of i.headers?.set_headers ?? []) headers[o.header!.key] = dec.decode(o.header!.raw_value);
  return { status: Number(i.status?.code), body: JSON.parse(dec.decode(i.body)), headers };
}

const POST = {
  ":method": "POST",
  ":path": "/mcp",
  ":authority": "server1.mcp.local",
  "content-type": "application/json",
};

Deno.test("request headers: authority forced to the public host, route cache cleared, forged headers stripped", async () => {
  const { ctx } = setup();
  const { h } = await run(ctx, {
    ...POST,
    "x-mcp-servername": "server1",
    "mcp-init-host": "server1.mcp.local",
  });
  assertEquals(sets(h, "request_headers"), { ":authority": PUBLIC });
  assert(h.request_headers?.response?.clear_route_cache);
  assertEquals(h.request_headers?.response?.header_mutation?.remove_headers, [
    "x-mcp-servername",
    "mcp-init-host",
  ]);
});

Deno.test("tools/call: routed to the backend with only params.name rewritten", async () => {
  const { ctx, tokens, binds } = setup();
  const { token, claims } = await tokens.mintSession("2025-06-18", {});
  const body = `{ "jsonrpc":"2.0", "id": 12345678901234567890123, "method":"tools/call",` +
    `"params":{"arguments":{"name":"keep","x":1.50},"name":"s1_echo","_meta":{"progressToken":"p"}}}`;
  const { b, state } = await run(ctx, { ...POST, "mcp-session-id": token }, body);
  const set = sets(b!, "request_body");
  const newBody = dec.decode(b!.request_body!.response!.body_mutation!.body);
  assertEquals(newBody, body.replace(`"name":"s1_echo"`, `"name":"echo"`));
  assertEquals(set, {
    "x-mcp-method": "tools/call",
    "x-mcp-toolname": "echo",
    "x-mcp-servername": "server1",
    "x-mcp-era": "2025",
    "x-mcp-annotation-hints":
      "readOnly=true,destructive=unspecified,idempotent=unspecified,openWorld=unspecified",
    ":authority": "server1.mcp.local",
    ":path": "/mcp/v1?x=1",
    "content-length": String(enc.encode(newBody).length),
    "mcp-protocol-version": "2025-06-18",
    "mcp-session-id": "backend-1",
  });
  assert(b!.request_body!.response!.clear_route_cache);
  const meta = fromStruct(b!.dynamic_metadata)["mcp-gateway"] as Record<string, string>;
  assertEquals(meta.servername, "server1");
  assertEquals(meta.toolname, "echo");
  assertEquals(meta.session, claims.id);
  assertEquals(state.routed, { session: claims.id, server: "server1", backendSession: "backend-1" });
  assertEquals(binds, [`${claims.id}/server1`]);
  // Second call reuses the bound backend session.
  await run(ctx, { ...POST, "mcp-session-id": token }, body);
  assertEquals(binds.length, 1);
});

Deno.test("other methods go to the broker with x-mcp-method and x-mcp-servername", async () => {
  const { ctx } = setup();
  const { b } = await run(ctx, POST, `{"jsonrpc":"2.0","id":"a","method":"tools/list"}`);
  assertEquals(sets(b!, "request_body"), {
    "x-mcp-servername": "mcpBroker",
    "x-mcp-method": "tools/list",
    "x-mcp-era": "2025",
  });
  assertFalse(b!.request_body!.response!.body_mutation);
  assertEquals(fromStruct(b!.dynamic_metadata), {
    "mcp-gateway": { method: "tools/list", servername: "mcpBroker", era: "2025" },
  });
});

Deno.test("errors are immediate responses with the broker's status and JSON-RPC code", async () => {
  const { ctx, tokens, log } = setup();
  const { token, claims } = await tokens.mintSession("2025-06-18", {});
  const call = (name: string, id = "7") =>
    `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${name}"}}`;

  let r = immediate((await run(ctx, POST, "{nope")).b);
  assertEquals([r.status, r.body.error.code, r.body.id], [400, -32700, null]);

  r = immediate((await run(ctx, POST, `{"jsonrpc":"1.0","id":1,"method":"x"}`)).b);
  assertEquals([r.status, r.body.error.code], [400, -32600]);

  r = immediate((await run(ctx, POST, call("s1_echo"))).b);
  assertEquals([r.status, r.body.error.code, r.body.id], [400, -32600, 7]);

  const forged = token.slice(0, -4) + "AAAA";
  r = immediate((await run(ctx, { ...POST, "mcp-session-id": forged }, call("s1_echo"))).b);
  assertEquals(r.status, 404);

  r = immediate((await run(ctx, { ...POST, "mcp-session-id": token }, call("nope", `"x"`))).b);
  assertEquals([r.status, r.body.error.code, r.body.id, r.headers["mcp-session-id"]], [
    200,
    -32602,
    "x",
    token,
  ]);

  r = immediate(
    (await run(ctx, POST, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"p":"${"x".repeat(2000)}"}}`)).b,
  );
  assertEquals(r.status, 413);

  log.append({
    type: "SessionOpened",
    session: claims.id,
    protocolVersion: "2025-06-18",
    expiresAt: claims.expiresAt,
  });
  log.append({ type: "SessionClosed", session: claims.id, reason: "deleted", expiresAt: claims.expiresAt });
  r = immediate((await run(ctx, { ...POST, "mcp-session-id": token }, call("s1_echo"))).b);
  assertEquals(r.status, 404);
});

Deno.test("response headers: gateway session echoed; a backend 404 unbinds the backend session", async () => {
  const { ctx, tokens, sessions } = setup();
  const { token, claims } = await tokens.mintSession("2025-06-18", {});
  const { state } = await run(
    ctx,
    { ...POST, "mcp-session-id": token },
    `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"s1_add"}}`,
  );
  assertEquals(backendSessionOf(sessions.state, claims.id, "server1")?.id, "backend-1");
  const ok = await processMessage(ctx, state, {
    response_headers: headersMsg({ ":status": "200", "mcp-session-id": "backend-1" }),
  });
  assertEquals(sets(ok, "response_headers"), { "mcp-session-id": token });
  assertExists(backendSessionOf(sessions.state, claims.id, "server1"));
  await processMessage(ctx, state, { response_headers: headersMsg({ ":status": "404" }) });
  assertEquals(backendSessionOf(sessions.state, claims.id, "server1"), undefined);
  // No session sent (initialize): the broker's new id passes through untouched.
  const init = await run(ctx, POST, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`);
  const r = await processMessage(ctx, init.state, { response_headers: headersMsg({ ":status": "200" }) });
  assertEquals(sets(r, "response_headers"), {});
});

Deno.test("hairpin: a token bound to the host routes there; wrong host or no token is refused", async () => {
  const { ctx, tokens } = setup();
  const init = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}`;
  const good = await tokens.mintHairpin("server1.mcp.local");
  const { h, b } = await run(ctx, {
    ...POST,
    "mcp-init-host": "server1.mcp.local",
    "x-mcp-hairpin-token": good,
  }, init);
  assertEquals(h.request_headers?.response?.header_mutation?.remove_headers, [
    "x-mcp-hairpin-token",
    "mcp-init-host",
  ]);
  assertEquals(sets(b!, "request_body"), {
    ":authority": "server1.mcp.local",
    "x-mcp-method": "initialize",
    "x-mcp-servername": "server1",
  });
  const other = await tokens.mintHairpin("evil.local");
  let r = await run(
    ctx,
    { ...POST, "mcp-init-host": "server1.mcp.local", "x-mcp-hairpin-token": other },
    init,
  );
  assertEquals(immediate(r.b).status, 403);
  r = await run(ctx, { ...POST, "mcp-init-host": "server1.mcp.local" }, init);
  assertEquals(immediate(r.b).status, 403);
  // A valid token does not turn a tool call into a hairpin.
  r = await run(
    ctx,
    { ...POST, "mcp-init-host": "server1.mcp.local", "x-mcp-hairpin-token": good },
    `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"s1_echo"}}`,
  );
  assertEquals(immediate(r.b).status, 403);
});

Deno.test("hairpin binder: concurrent first calls share one initialize, with the server's credential, never the client's", async () => {
  const seen: { url: string; headers: Headers; body: string }[] = [];
  const fakeFetch: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    seen.push({ url: String(input), headers, body: String(init?.body) });
    await new Promise((r) => setTimeout(r, 20));
    if (String(init?.body).includes(`"initialize"`)) {
      return new Response(
        `event: message\ndata: {"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"b","version":"1"}}}\n\n`,
        { headers: { "content-type": "text/event-stream", "mcp-session-id": "B-1" } },
      );
    }
    return new Response(null, { status: 202 });
  };
  const tokens = new TokenService({ signingKey: "k".repeat(32), sessionMinutes: 10 });
  const { log, sessions } = setup(openThroughEnvoy({ privateHost: "127.0.0.1:1", tokens, fetch: fakeFetch }));
  const binder = new BackendBinder(
    log,
    sessions,
    new InMemorySessionStore(),
    openThroughEnvoy({ privateHost: "127.0.0.1:1", tokens, fetch: fakeFetch }),
  );
  const { claims } = await tokens.mintSession("2025-06-18", { roots: {} });
  const client = new Map([
    ["authorization", "Bearer user-token"],
    ["cookie", "sid=1"],
    ["traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
    [":path", "/mcp"],
    ["mcp-session-id", "gw"],
    ["x-mcp-servername", "f"],
  ]);
  const server = { ...server1, credential: "Bearer server-secret" };
  const results = await Promise.all(
    [1, 2, 3].map(() => binder.acquire(claims, server, "1", (n) => client.get(n))),
  );
  assertEquals(results.map((r) => r.id), ["B-1", "B-1", "B-1"]);
  assertEquals(seen.length, 2, "one initialize + one notifications/initialized");
  assertEquals(seen[0].url, "http://127.0.0.1:1/mcp/v1?x=1");
  assertEquals(seen[0].headers.get("authorization"), "Bearer server-secret");
  assertFalse(seen[0].headers.has("cookie"));
  assertEquals(seen[0].headers.get("traceparent"), client.get("traceparent"));
  assertEquals(seen[0].headers.get("mcp-init-host"), "server1.mcp.local");
  assertFalse(seen[0].headers.has("mcp-session-id"));
  assertFalse(seen[0].headers.has("x-mcp-servername"));
  assert(await tokens.verifyHairpin(seen[0].headers.get("x-mcp-hairpin-token")!, "server1.mcp.local"));
  assertEquals(JSON.parse(seen[0].body).params.capabilities, { roots: {} });
  assertEquals(backendSessionOf(sessions.state, claims.id, "server1"), {
    id: "B-1",
    protocolVersion: "2025-06-18",
  });
  // Opted in (a token-exchange policy on the route): the hairpin carries the client's token instead.
  seen.length = 0;
  const optedIn = {
    ...server1,
    name: "server1b",
    credential: "Bearer server-secret",
    forwardClientToken: true,
  };
  await binder.acquire(claims, optedIn, "2", (n) => client.get(n));
  assertEquals(seen[0].headers.get("authorization"), "Bearer user-token");
  assertFalse(seen[0].headers.has("cookie"));
});
