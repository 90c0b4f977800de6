/**
 * The router's 2026-07-28 decisions, phase by phase: what the request headers alone decide (and the
 * `mode_override` that spares Envoy the rest), how a 2026 call to a 2026 backend is routed from the body
 * phase, what goes to the broker instead, and that the router ends each ext_proc stream after the last
 * message it asked for. State comes from events folded into an in-memory log.
 */
import * as grpc from "@grpc/grpc-js";
import { assert, assertEquals } from "./helpers/assert.ts";
import { InMemoryEventLog } from "../src/events/log.ts";
import { routingTableProjection } from "../src/routing/routing_table.ts";
import { sessionMapProjection } from "../src/session/session_map.ts";
import { TokenService } from "../src/session/tokens.ts";
import { silentLogger } from "../src/observe/log.ts";
import type { RouterContext, StreamState } from "../src/router/context.ts";
import { processMessage, serveExtProc } from "../src/router/server.ts";
import {
  externalProcessorClient,
  fromStruct,
  type HttpHeaders,
  type ProcessCall,
  type ProcessingMode,
  type ProcessingRequest,
  type ProcessingResponse,
} from "../src/router/proto.ts";
import { Admission } from "../src/admission/admit.ts";
import { BackendBinder } from "../src/session/backend_binder.ts";
import { InMemorySessionStore } from "../src/session/store.ts";
import { upstreamKey } from "../src/routing/upstreams.ts";
import type { ServerConfig } from "../src/config/schema.ts";
import { AuditLog } from "../src/identity/audit.ts";
import { encodeHeaderValue } from "../src/era/headers.ts";
import type { Era } from "../src/mcp/protocol.ts";

const PUBLIC = "mcp.example.test:8888";
const enc = new TextEncoder();
const dec = new TextDecoder();
const MODERN = "2026-07-28";

const servers: Record<string, ServerConfig & { era: Era; legacy?: string; tools: string[] }> = {
  // 2026 only, prefixed; one tool name that needs the base64 sentinel in a header.
  modern: {
    name: "modern",
    url: "http://127.0.0.1:9002/mcp",
    hostname: "modern.mcp.local",
    enabled: true,
    toolPrefix: "m_",
    credential: "Bearer modern-secret",
    era: "2026",
    tools: ["echo", "grüße"],
  },
  // Dual-era, no prefix.
  dual: {
    name: "dual",
    url: "http://127.0.0.1:9003/v2/mcp",
    hostname: "dual.mcp.local",
    enabled: true,
    toolPrefix: "",
    era: "2026",
    legacy: "2025-11-25",
    tools: ["plain"],
  },
  // 2025 only.
  legacy: {
    name: "legacy",
    url: "http://127.0.0.1:9001/mcp",
    hostname: "legacy.mcp.local",
    enabled: true,
    toolPrefix: "l_",
    era: "2025",
    tools: ["echo"],
  },
};

function setup(options: { audit?: unknown[] } = {}) {
  const log = new InMemoryEventLog();
  const routing = log.project(routingTableProjection);
  const sessions = log.project(sessionMapProjection);
  const tokens = new TokenService({ signingKey: "k".repeat(32), sessionMinutes: 10 });
  const configs = Object.values(servers).map(({ era: _e, legacy: _l, tools: _t, ...config }) => config);
  log.append({
    type: "ConfigLoaded",
    source: "test",
    config: { servers: configs, virtualServers: [] },
    digest: "d",
  });
  for (const s of Object.values(servers)) {
    const key = upstreamKey(configs.find((c) => c.name === s.name)!);
    log.append({
      type: "UpstreamConnected",
      server: s.name,
      upstreamKey: key,
      era: s.era,
      protocolVersion: s.era === "2026" ? MODERN : "2025-11-25",
      ...(s.legacy ? { legacyProtocolVersion: s.legacy } : {}),
      serverInfo: { name: s.name, version: "1" },
      capabilities: { tools: {}, prompts: {} },
    });
    log.append({
      type: "ToolsDiscovered",
      server: s.name,
      upstreamKey: key,
      tools: s.tools.map((name) => ({ name })),
    });
  }
  const store = new InMemorySessionStore();
  const audit = options.audit;
  const ctx: RouterContext = {
    publicHost: PUBLIC,
    maxBodyBytes: 4096,
    tokens,
    admission: new Admission(tokens, sessions, { allowedOrigins: [], allowedHosts: "*" }),
    routing,
    sessions,
    log,
    logger: silentLogger,
    store,
    audit: audit ? AuditLog.open({ write: (line) => audit.push(JSON.parse(line)) }) : undefined,
    binder: new BackendBinder(
      log,
      sessions,
      store,
      () => Promise.reject(new Error("no hairpin in these tests")),
    ),
  };
  return { ctx, tokens };
}

function headersMsg(h: Record<string, string>, endOfStream = false): HttpHeaders {
  return {
    headers: { headers: Object.entries(h).map(([key, v]) => ({ key, raw_value: enc.encode(v) })) },
    end_of_stream: endOfStream,
  };
}

function sets(reply: ProcessingResponse | undefined, arm: "request_headers" | "request_body") {
  const out: Record<string, string> = {};
  for (const o of reply?.[arm]?.response?.header_mutation?.set_headers ?? []) {
    out[o.header!.key] = dec.decode(o.header!.raw_value);
  }
  return out;
}

const POST = {
  ":method": "POST",
  ":path": "/mcp",
  ":authority": "mcp.example.test:8888",
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};

const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": MODERN,
  "io.modelcontextprotocol/clientCapabilities": {},
};

/** A well-formed 2026 request: its body and its standard headers. */
function modern(
  method: string,
  params: Record<string, unknown> = {},
  meta: Record<string, unknown> = ENVELOPE,
) {
  const headers: Record<string, string> = { ...POST, "mcp-protocol-version": MODERN, "mcp-method": method };
  if (typeof params.name === "string") headers["mcp-name"] = encodeHeaderValue(params.name);
  return {
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", id: 9, method, params: { ...params, _meta: meta } }),
  };
}

async function run(ctx: RouterContext, r: { headers: Record<string, string>; body?: string }) {
  const state: StreamState = {};
  const h = await processMessage(ctx, state, {
    request_headers: headersMsg(r.headers, r.body === undefined),
  });
  const b = r.body === undefined || !state.phases?.body
    ? undefined
    : await processMessage(ctx, state, { request_body: { body: enc.encode(r.body), end_of_stream: true } });
  return { state, h, b };
}

const HINTS = "readOnly=unspecified,destructive=unspecified,idempotent=unspecified,openWorld=unspecified";

const HEADERS_ONLY: ProcessingMode = {
  request_header_mode: "SEND",
  response_header_mode: "SKIP",
  request_body_mode: "NONE",
  response_body_mode: "NONE",
  request_trailer_mode: "SKIP",
  response_trailer_mode: "SKIP",
};

Deno.test("2026 request headers: what the broker answers is decided from the headers alone (body NONE, response headers SKIP)", async () => {
  const { ctx } = setup();
  const cases: [string, Record<string, unknown>][] = [
    ["tools/list", {}],
    ["server/discover", {}],
    ["subscriptions/listen", { notifications: { toolsListChanged: true } }],
    ["resources/read", { uri: "modern://m_counter" }],
    ["completion/complete", { ref: { type: "ref/prompt", name: "m_p" }, argument: { name: "a", value: "" } }],
    ["tools/call", { name: "no_such_tool" }], // the broker says "unknown tool"
    ["tools/call", { name: "l_echo" }], // a 2025-only backend: the broker holds a session for the caller
  ];
  for (const [method, params] of cases) {
    const { h, state } = await run(ctx, modern(method, params));
    const what = `${method} ${JSON.stringify(params)}`;
    assertEquals(h.mode_override, HEADERS_ONLY, what);
    assertEquals(sets(h, "request_headers"), {
      ":authority": PUBLIC,
      "x-mcp-servername": "mcpBroker",
      "x-mcp-era": "2026",
      "x-mcp-method": method,
    }, what);
    assert(h.request_headers?.response?.clear_route_cache, what);
    assertEquals(fromStruct(h.dynamic_metadata)["mcp-gateway"], {
      method,
      servername: "mcpBroker",
      era: "2026",
    }, what);
    assertEquals([state.era, state.routable], ["2026", false], what);
  }
  // A 2026 version header without Mcp-Method: still the broker's (it answers -32020).
  const { h } = await run(ctx, { headers: { ...POST, "mcp-protocol-version": MODERN }, body: "{}" });
  assertEquals(sets(h, "request_headers")["x-mcp-method"], undefined);
  assertEquals(h.mode_override, HEADERS_ONLY);
});

Deno.test("request headers: 2025 POSTs keep every phase (no override); body-less requests need none but the headers", async () => {
  const { ctx } = setup();
  const { h } = await run(ctx, {
    headers: { ...POST, "mcp-protocol-version": "2025-11-25" },
    body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
  });
  assertEquals(h.mode_override, undefined);
  assertEquals(sets(h, "request_headers"), { ":authority": PUBLIC });
  for (const method of ["GET", "DELETE"]) {
    const { h: bodiless, state } = await run(ctx, { headers: { ...POST, ":method": method } });
    assertEquals(bodiless.mode_override, HEADERS_ONLY, method);
    assertEquals(state.phases, { body: false, responseHeaders: false });
  }
  // The router's own hairpin is read from the body, whatever version it names.
  const { h: hairpin } = await run(ctx, {
    headers: { ...POST, "mcp-protocol-version": MODERN, "mcp-init-host": "modern.mcp.local" },
    body: "{}",
  });
  assertEquals(hairpin.mode_override, undefined);
});

Deno.test("2026 call to a 2026 backend: routed from the body phase, the name rewritten in the body and in Mcp-Name", async () => {
  const { ctx } = setup();
  const request = modern("tools/call", { name: "m_grüße", arguments: { to: "Zürich" } });
  const { h, b, state } = await run(ctx, {
    ...request,
    headers: {
      ...request.headers,
      authorization: "Bearer client-token",
      cookie: "sid=1",
      "mcp-session-id": "stale",
      "mcp-param-to": "=?base64?WsO8cmljaA==?=",
    },
  });
  // Headers: the body is needed (to check it and rename), the response headers are not (no audit log).
  assertEquals(h.mode_override, { ...HEADERS_ONLY, request_body_mode: "BUFFERED" });
  assertEquals(state.routable, true);
  const set = sets(b, "request_body");
  const newBody = dec.decode(b!.request_body!.response!.body_mutation!.body);
  assertEquals(newBody, request.body.replace(`"name":"m_grüße"`, `"name":"grüße"`));
  assertEquals(set, {
    authorization: "Bearer modern-secret",
    ":authority": "modern.mcp.local",
    ":path": "/mcp",
    "mcp-name": encodeHeaderValue("grüße"),
    "content-length": String(enc.encode(newBody).length),
    "x-mcp-method": "tools/call",
    "x-mcp-servername": "modern",
    "x-mcp-era": "2026",
    "x-mcp-toolname": "grüße",
    "x-mcp-annotation-hints": HINTS,
  });
  assert(set["mcp-name"].startsWith("=?base64?"), set["mcp-name"]);
  // The client's credentials and session id stay behind; its Mcp-Param-* headers are not touched.
  assertEquals(b!.request_body!.response!.header_mutation!.remove_headers, ["cookie", "mcp-session-id"]);
  assert(b!.request_body!.response!.clear_route_cache);
  assertEquals(fromStruct(b!.dynamic_metadata)["mcp-gateway"], {
    method: "tools/call",
    toolname: "grüße",
    servedname: "m_grüße",
    servername: "modern",
    hostname: "modern.mcp.local",
    annotation_hints: HINTS,
    era: "2026",
  });
  assertEquals(state.routed, undefined, "no backend session to unbind");

  // Unprefixed on a dual-era backend: the body goes as sent (no body mutation), the path is the server's.
  const plain = await run(ctx, modern("tools/call", { name: "plain" }));
  assertEquals(plain.b!.request_body!.response!.body_mutation, undefined);
  const plainSet = sets(plain.b, "request_body");
  assertEquals(
    [plainSet[":authority"], plainSet[":path"], plainSet["mcp-name"], plainSet["content-length"]],
    [
      "dual.mcp.local",
      "/v2/mcp",
      "plain",
      undefined,
    ],
  );
});

Deno.test("2026 calls the broker carries instead: a body disagreeing with the headers, the tasks extension", async () => {
  const { ctx } = setup();
  // Mcp-Name names one tool, the body another: the broker refuses it (-32020), as on its own path.
  const mismatch = modern("tools/call", { name: "m_echo" });
  mismatch.headers["mcp-name"] = "plain";
  const m = await run(ctx, mismatch);
  assertEquals(m.state.routable, true, "the headers named a routable call");
  assertEquals(sets(m.b, "request_body"), {
    "x-mcp-servername": "mcpBroker",
    "x-mcp-era": "2026",
    "x-mcp-method": "tools/call",
  });
  // A client declaring the tasks extension may be answered a task, which the broker must record.
  const tasks = modern("tools/call", { name: "m_echo" }, {
    ...ENVELOPE,
    "io.modelcontextprotocol/clientCapabilities": { extensions: { "io.modelcontextprotocol/tasks": {} } },
  });
  assertEquals(sets((await run(ctx, tasks)).b, "request_body")["x-mcp-servername"], "mcpBroker");
  // A prompt nobody serves: decided from the headers, the broker answers it.
  const unknownPrompt = await run(ctx, modern("prompts/get", { name: "m_echo" }));
  assertEquals(unknownPrompt.h.mode_override, HEADERS_ONLY);
});

Deno.test("2025 call to a 2026-only backend: the broker speaks 2026 for it", async () => {
  const { ctx, tokens } = setup();
  const { token } = await tokens.mintSession("2025-11-25", {});
  const { b, state } = await run(ctx, {
    headers: { ...POST, "mcp-session-id": token, "mcp-protocol-version": "2025-11-25" },
    body: `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"m_echo"}}`,
  });
  assertEquals(sets(b, "request_body"), {
    "x-mcp-servername": "mcpBroker",
    "x-mcp-era": "2025",
    "x-mcp-method": "tools/call",
  });
  assertEquals([state.routed, state.audit], [undefined, undefined]);
});

Deno.test("2026 routed call with an audit log: the response headers are asked for, and complete its audit line", async () => {
  const lines: any[] = [];
  const { ctx } = setup({ audit: lines });
  const { h, state } = await run(ctx, modern("tools/call", { name: "m_echo" }));
  assertEquals(h.mode_override, undefined, "every phase, as configured");
  const r = await processMessage(ctx, state, {
    response_headers: headersMsg({ ":status": "200", "content-type": "application/json" }),
  });
  assertEquals(r.response_headers?.response?.header_mutation, undefined, "no session id to put back");
  assertEquals(lines.map((l) => [l.path, l.method, l.name, l.server, l.outcome, l.session]), [
    ["router", "tools/call", "m_echo", "modern", "ok", null],
  ]);
});

/** Plays Envoy over real gRPC: sends `messages` in turn, each after the previous reply; resolves how it ended. */
function converse(address: string, messages: ProcessingRequest[]) {
  const Client = externalProcessorClient();
  const client = new Client(address, grpc.credentials.createInsecure());
  const call = (client as unknown as { Process(): ProcessCall }).Process();
  const replies: ProcessingResponse[] = [];
  return new Promise<{ replies: ProcessingResponse[]; status: number }>((resolve) => {
    call.on("data", (reply: ProcessingResponse) => {
      replies.push(reply);
      if (replies.length < messages.length) call.write(messages[replies.length]);
    });
    call.on("status", (s: grpc.StatusObject) => {
      client.close();
      resolve({ replies, status: s.code });
    });
    call.on("error", () => {});
    call.write(messages[0]);
  });
}

Deno.test("the router ends each stream cleanly after the last message it asked Envoy for", async () => {
  const { ctx } = setup();
  const { port, server } = await serveExtProc(ctx, "127.0.0.1:0");
  try {
    const address = `127.0.0.1:${port}`;
    const list = modern("tools/list");
    const headers = (r: { headers: Record<string, string> }) => ({ request_headers: headersMsg(r.headers) });
    const body = (r: { body: string }) => ({
      request_body: { body: enc.encode(r.body), end_of_stream: true },
    });
    // Headers only: closed after the headers reply (older Envoy, without the early close, is not kept waiting).
    let done = await converse(address, [headers(list)]);
    assertEquals([done.replies.length, done.status], [1, grpc.status.OK]);
    // A routed 2026 call: after the body reply.
    const routed = modern("tools/call", { name: "m_echo" });
    done = await converse(address, [headers(routed), body(routed)]);
    assertEquals([done.replies.map((r) => r.response), done.status], [
      ["request_headers", "request_body"],
      grpc.status.OK,
    ]);
  } finally {
    server.forceShutdown();
  }
});
