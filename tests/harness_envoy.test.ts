/**
 * The Envoy harness's own rules (shared/reference/envoy-ext-proc.md §5), checked against a scripted fake
 * processor and echo upstreams, so router tests through the harness mean something.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type EnvoyHarnessOptions, startEnvoyHarness } from "./harness/envoy.ts";
import { passThrough, type Script, startFakeProcessor } from "./harness/envoy_fake_processor.ts";
import { type ProcessingResponse, rawHeader } from "../src/router/proto.ts";
import { postWithHost } from "./helpers/mcp_client.ts";
import { readUntil } from "./helpers/streams.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Echo {
  who: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

function startEcho(who: string) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const echo: Echo = {
      who,
      method: req.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      body: await req.text(),
    };
    if (url.pathname === "/missing") return new Response("gone", { status: 404 });
    return Response.json(echo, { headers: { "x-upstream": who } });
  });
}

async function setup(script: Script, extra: Partial<EnvoyHarnessOptions> = {}) {
  const fake = await startFakeProcessor(script);
  const broker = startEcho("broker");
  const backend = startEcho("backend");
  const envoy = await startEnvoyHarness({
    extProc: fake.address,
    clusters: { "backend.local": `http://127.0.0.1:${backend.addr.port}` },
    defaultCluster: `http://127.0.0.1:${broker.addr.port}`,
    ...extra,
  });
  return {
    fake,
    envoy,
    async [Symbol.asyncDispose]() {
      await envoy.close();
      await fake.close();
      await broker.shutdown();
      await backend.shutdown();
    },
  };
}

const headersReply = (set: Record<string, string>, extra: object = {}): ProcessingResponse => ({
  request_headers: {
    response: {
      header_mutation: { set_headers: Object.entries(set).map(([k, v]) => rawHeader(k, v)) },
      ...extra,
    },
  },
});

/** A POST with a chosen Host (fetch cannot set one); the echo it reached. */
async function postAs(url: string, host: string, body = "{}"): Promise<Echo> {
  const res = await postWithHost(`${url}/mcp`, host, body);
  if (!res.json) throw new Error(`not an echo: ${res.status} ${res.text}`);
  return res.json;
}

async function post(url: string, body = `{"x":1}`, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/mcp`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...headers },
  });
  const text = await res.text();
  let json: Echo | undefined;
  try {
    json = JSON.parse(text);
  } catch { /* local reply */ }
  return { res, text, json };
}

Deno.test("messages: protocol_config + metadata on the first, raw_value only, no body message without a body", async () => {
  await using t = await setup(passThrough);
  const get = await fetch(`${t.envoy.url}/mcp?a=b`, { headers: { "X-Custom": "v" } });
  assertEquals(((await get.json()) as Echo).who, "broker");
  const [first, responseHeaders] = t.fake.streams[0];
  assertEquals(t.fake.streams[0].map((m) => m.request), ["request_headers", "response_headers"]);
  assertEquals(first.protocol_config?.request_body_mode, "BUFFERED");
  assertEquals(first.metadata_context, {});
  assert(first.request_headers?.end_of_stream);
  const hs = first.request_headers!.headers!.headers!;
  for (const h of hs) {
    assertEquals(h.value ?? "", "");
    assertEquals(h.key, h.key.toLowerCase());
  }
  const names = hs.map((h) => h.key);
  for (const n of [":authority", ":path", ":method", ":scheme", "x-request-id", "x-custom"]) {
    assert(names.includes(n), n);
  }
  assertEquals(dec.decode(hs.find((h) => h.key === ":path")!.raw_value), "/mcp?a=b");
  assertEquals(responseHeaders.protocol_config, undefined);

  await post(t.envoy.url);
  assertEquals(t.fake.streams[1].map((m) => m.request), [
    "request_headers",
    "request_body",
    "response_headers",
  ]);
  assertEquals(t.fake.streams[1][0].request_headers?.end_of_stream, false);
  assertEquals(dec.decode(t.fake.streams[1][1].request_body!.body), `{"x":1}`);
  assert(t.fake.streams[1][1].request_body!.end_of_stream);
});

Deno.test("route cache: :authority re-routes only with clear_route_cache and a header mutation", async () => {
  let onHeaders: ProcessingResponse = headersReply({ ":authority": "backend.local" });
  let onBody: ProcessingResponse = { request_body: { response: {} } };
  await using t = await setup((m) =>
    m.request === "request_headers" ? onHeaders : m.request === "request_body" ? onBody : passThrough(m)
  );
  // A mutated :authority alone changes nothing: the route was chosen from the original headers.
  assertEquals((await post(t.envoy.url)).json?.who, "broker");
  onHeaders = headersReply({ ":authority": "backend.local" }, { clear_route_cache: true });
  assertEquals((await post(t.envoy.url)).json?.who, "backend");

  // :authority mutated in the headers phase, then clear_route_cache alone in the body phase: newer Envoy
  // ignores a clear without a header mutation in the same reply, so the route stays the original one.
  onHeaders = headersReply({ ":authority": "backend.local" });
  onBody = { request_body: { response: { clear_route_cache: true } } };
  assertEquals((await post(t.envoy.url)).json?.who, "broker");
  assert(
    t.envoy.exchanges.at(-1)!.warnings.includes("clear_route_cache ignored without a header mutation"),
    t.envoy.exchanges.at(-1)!.warnings.join("\n"),
  );
  // The same clear with any header mutation beside it re-routes on the :authority set earlier.
  onBody = {
    request_body: {
      response: {
        clear_route_cache: true,
        header_mutation: { set_headers: [rawHeader("x-routed", "1")] },
      },
    },
  };
  const routed = await post(t.envoy.url);
  assertEquals([routed.json?.who, routed.json?.headers["x-routed"]], ["backend", "1"]);
});

Deno.test("mutations: raw_value only, overwrite unless append, append_action ignored, malformed → 500", async () => {
  let reply: ProcessingResponse = passThrough({ request: "request_headers" });
  await using t = await setup((m) => m.request === "request_headers" ? reply : passThrough(m));
  reply = {
    request_headers: {
      response: {
        header_mutation: {
          remove_headers: [":path", "host", "x-gone"],
          set_headers: [
            { header: { key: "x-value-only", value: "lost" } },
            { ...rawHeader("x-over", "new"), append_action: "ADD_IF_ABSENT" },
            { ...rawHeader("x-multi", "two"), append: { value: true } },
            rawHeader(":path", "/moved"),
            rawHeader("x-envoy-forged", "1"),
          ],
        },
      },
    },
  };
  const r = await post(t.envoy.url, "{}", { "x-over": "old", "x-multi": "one", "x-gone": "1" });
  const h = r.json!.headers;
  assertEquals([h["x-value-only"], h["x-over"], h["x-multi"], h["x-gone"], h["x-envoy-forged"]], [
    "",
    "new",
    "one, two",
    undefined,
    undefined,
  ]);
  assertEquals(r.json!.path, "/moved");
  const warnings = t.envoy.exchanges.at(-1)!.warnings.join("\n");
  assert(warnings.includes("append_action") && warnings.includes("only `value`"), warnings);

  reply = {
    request_headers: {
      response: {
        header_mutation: {
          set_headers: [{ header: { key: "x-a", value: "v", raw_value: enc.encode("v") } }],
        },
      },
    },
  };
  assertEquals((await post(t.envoy.url)).res.status, 500);
  reply = headersReply({ "x-bad": "a\r\nb" });
  assertEquals((await post(t.envoy.url)).res.status, 500);
});

Deno.test("mutations: routing headers need allow_all_routing; :authority must be valid", async () => {
  let reply = headersReply({ ":authority": "backend.local" }, { clear_route_cache: true });
  await using t = await setup((m) => m.request === "request_headers" ? reply : passThrough(m), {
    mutationRules: { allowAllRouting: false },
  });
  assertEquals((await post(t.envoy.url)).json?.who, "broker");
  await using u = await setup((m) => m.request === "request_headers" ? reply : passThrough(m));
  reply = headersReply({ ":authority": "bad host/x" }, { clear_route_cache: true });
  assertEquals((await postAs(u.envoy.url, "backend.local")).who, "backend");
  assert(u.envoy.exchanges.at(-1)!.warnings.some((w) => w.includes("valid authority")));
});

Deno.test("immediate response: local reply, no response phase, later replies ignored", async () => {
  let status = 418;
  await using t = await setup((m) =>
    m.request === "request_body"
      ? [{
        immediate_response: {
          status: { code: status },
          body: enc.encode("nope"),
          headers: { set_headers: [rawHeader("x-why", "because")] },
          details: "denied by test",
        },
      }, passThrough(m)]
      : passThrough(m)
  );
  const r = await post(t.envoy.url);
  assertEquals([r.res.status, r.text, r.res.headers.get("content-type"), r.res.headers.get("x-why")], [
    418,
    "nope",
    "text/plain",
    "because",
  ]);
  const ex = t.envoy.exchanges[0];
  assertEquals(ex.sent, ["request_headers", "request_body"]);
  assertEquals(ex.upstream, undefined);
  assertEquals(ex.details, "denied_by_test");
  status = 100;
  assertEquals((await post(t.envoy.url)).res.status, 200, "status < 200 becomes 200");
});

Deno.test("timeouts: 504 fail-closed, continue unmodified fail-open; override needs max_message_timeout", async () => {
  const script: Script = (m) => m.request === "request_body" ? "silent" : passThrough(m);
  await using closed = await setup(script, { messageTimeoutMs: 100 });
  const r = await post(closed.envoy.url);
  assertEquals(r.res.status, 504);
  assertEquals(closed.envoy.exchanges[0].details, "ext_proc_error_per-message_timeout_exceeded");
  await using open = await setup(script, { messageTimeoutMs: 100, failureModeAllow: true });
  const o = await post(open.envoy.url, `{"keep":true}`);
  assertEquals([o.res.status, o.json?.body], [200, `{"keep":true}`]);
  assertEquals(
    open.envoy.exchanges[0].sent,
    ["request_headers", "request_body"],
    "no messages after the failure",
  );

  const slow: Script = (m) =>
    m.request === "request_body" ? { override_message_timeout: { seconds: 5 } } : passThrough(m);
  await using noMax = await setup(slow, { messageTimeoutMs: 100 });
  assertEquals((await post(noMax.envoy.url)).res.status, 504);
});

Deno.test("stream close: clean close continues unmodified; an error closes with 500", async () => {
  await using t = await setup((m) => m.request === "request_headers" ? "end" : passThrough(m));
  const r = await post(t.envoy.url, `{"a":1}`);
  assertEquals([r.res.status, r.json?.who, r.json?.body], [200, "broker", `{"a":1}`]);
  assertEquals(t.fake.streams[0].length, 1, "never consulted again");
  await using e = await setup((m) => m.request === "request_headers" ? "error" : passThrough(m));
  assertEquals((await post(e.envoy.url)).res.status, 500);
});

Deno.test("spurious replies: wrong arm → 500 (newer fail-closed Envoy), or ignored and continued", async () => {
  const script: Script = (m) =>
    m.request === "request_headers" ? { request_body: { response: {} } } : passThrough(m);
  await using t = await setup(script);
  assertEquals((await post(t.envoy.url)).res.status, 500);
  await using i = await setup(script, { spuriousResponse: "ignore" });
  assertEquals((await post(i.envoy.url)).json?.who, "broker");
});

Deno.test("mode_override: STREAMED response bodies go through the processor only when allowed", async () => {
  const script: Script = (m) => {
    if (m.request === "response_headers") {
      return {
        response_headers: { response: { header_mutation: { set_headers: [rawHeader(":status", "201")] } } },
        mode_override: { response_body_mode: "STREAMED", request_body_mode: "NONE" },
      };
    }
    if (m.request === "response_body") {
      const text = dec.decode(m.response_body!.body);
      return { response_body: { response: { body_mutation: { body: enc.encode(text.toUpperCase()) } } } };
    }
    return passThrough(m);
  };
  await using t = await setup(script); // the shipped config sets allow_mode_override
  const r = await post(t.envoy.url);
  assertEquals(r.res.status, 201);
  assert(r.text.includes(`"WHO":"BROKER"`), r.text);
  assert(t.fake.streams[0].at(-1)!.response_body!.end_of_stream);
  await using n = await setup(script, { allowModeOverride: false });
  const r2 = await post(n.envoy.url);
  assert(r2.text.includes(`"who":"broker"`));
  assert(!n.fake.streams[0].some((m) => m.request === "response_body"));
  assert(n.envoy.exchanges[0].warnings.includes("mode_override ignored in response_headers"));
});

/** A request-headers reply routing to the backend, with a mode override. */
const routedWith = (mode_override: ProcessingResponse["mode_override"]): ProcessingResponse => ({
  ...headersReply({ ":authority": "backend.local" }, { clear_route_cache: true }),
  mode_override,
});
const arms = (t: { fake: { streams: { request?: string }[][] } }, i: number) =>
  t.fake.streams[i].map((m) => m.request);

Deno.test("mode_override trims phases: body NONE sends no body message (the body still reaches the upstream), response headers SKIP sends none", async () => {
  const headersOnly = routedWith({
    request_header_mode: "SEND",
    response_header_mode: "SKIP",
    request_body_mode: "NONE",
    response_body_mode: "NONE",
    request_trailer_mode: "SKIP",
    response_trailer_mode: "SKIP",
  });
  await using t = await setup((m) => m.request === "request_headers" ? headersOnly : passThrough(m));
  const r = await post(t.envoy.url, `{"kept":true}`);
  assertEquals([r.json?.who, r.json?.body], ["backend", `{"kept":true}`]);
  assertEquals(arms(t, 0), ["request_headers"]);
  assertEquals(t.envoy.exchanges[0].mode?.request_body_mode, "NONE");
  // Nothing can follow the headers reply: Envoy closed the stream at once (newer Envoy's early close).
  assert(t.fake.cancelled[0], "the stream was closed by Envoy");

  // Body kept, response headers skipped: the stream ends after the body reply.
  const bodyOnly = routedWith({ ...headersOnly.mode_override, request_body_mode: "BUFFERED" });
  await using b = await setup((m) => m.request === "request_headers" ? bodyOnly : passThrough(m));
  const r2 = await post(b.envoy.url, `{"b":2}`);
  assertEquals([r2.json?.who, r2.json?.body], ["backend", `{"b":2}`]);
  assertEquals(arms(b, 0), ["request_headers", "request_body"]);
  assert(b.fake.cancelled[0]);

  // Body off, response headers on: the response-headers message still comes, the stream stays open for it.
  const responseOnly = routedWith({ ...headersOnly.mode_override, response_header_mode: "SEND" });
  await using h = await setup((m) => m.request === "request_headers" ? responseOnly : passThrough(m));
  await post(h.envoy.url);
  assertEquals(arms(h, 0), ["request_headers", "response_headers"]);

  // A body-less request (GET) with response headers skipped: one message.
  await using g = await setup((m) => m.request === "request_headers" ? headersOnly : passThrough(m));
  const get = await fetch(`${g.envoy.url}/mcp`);
  assertEquals(((await get.json()) as Echo).who, "backend");
  assertEquals(arms(g, 0), ["request_headers"]);
});

Deno.test("mode_override as Envoy reads it: DEFAULT header modes keep the configured value, body modes are literal", async () => {
  // Only response_header_mode is named: the request body mode, unset, is NONE (literal), and the response
  // header mode is what the override says.
  await using t = await setup((m) =>
    m.request === "request_headers" ? routedWith({ response_header_mode: "SKIP" }) : passThrough(m)
  );
  const r = await post(t.envoy.url, `{"x":1}`);
  assertEquals(r.json?.body, `{"x":1}`);
  assertEquals(arms(t, 0), ["request_headers"]);
  assertEquals(t.envoy.exchanges[0].mode, {
    request_header_mode: "SEND",
    response_header_mode: "SKIP",
    request_body_mode: "NONE",
    response_body_mode: "NONE",
    request_trailer_mode: "SKIP",
    response_trailer_mode: "SKIP",
  });
  // Only the body mode named, header modes DEFAULT: the configured SEND stays for the response headers.
  await using d = await setup((m) =>
    m.request === "request_headers" ? routedWith({ request_body_mode: "BUFFERED" }) : passThrough(m)
  );
  await post(d.envoy.url);
  assertEquals(arms(d, 0), ["request_headers", "request_body", "response_headers"]);
});

Deno.test("mode_override is ignored outside a headers reply, without allow_mode_override, and when not in allowed_override_modes", async () => {
  const trim = {
    response_header_mode: "SKIP" as const,
    request_body_mode: "NONE" as const,
    response_body_mode: "NONE" as const,
  };
  // In a body reply: Envoy only takes it while a headers message is outstanding.
  await using b = await setup((m) =>
    m.request === "request_body" ? { request_body: { response: {} }, mode_override: trim } : passThrough(m)
  );
  await post(b.envoy.url);
  assertEquals(arms(b, 0), ["request_headers", "request_body", "response_headers"]);
  assert(b.envoy.exchanges[0].warnings.includes("mode_override ignored in request_body"));

  const script: Script = (m) => m.request === "request_headers" ? routedWith(trim) : passThrough(m);
  await using off = await setup(script, { allowModeOverride: false });
  const r = await post(off.envoy.url);
  assertEquals(r.json?.who, "backend", "the reply itself still applies");
  assertEquals(arms(off, 0), ["request_headers", "request_body", "response_headers"]);

  await using listed = await setup(script, {
    allowedOverrideModes: [{ ...trim, response_header_mode: "SEND" }],
  });
  await post(listed.envoy.url);
  assertEquals(arms(listed, 0), ["request_headers", "request_body", "response_headers"]);
  // Envoy compares the effective override (trailers SKIP, from the configured mode) with the entries as
  // written: an entry leaving the trailer modes DEFAULT does not match it.
  await using unwritten = await setup(script, { allowedOverrideModes: [trim] });
  await post(unwritten.envoy.url);
  assertEquals(arms(unwritten, 0), ["request_headers", "request_body", "response_headers"]);
  const entry = { ...trim, request_trailer_mode: "SKIP" as const, response_trailer_mode: "SKIP" as const };
  await using match = await setup(script, { allowedOverrideModes: [entry] });
  await post(match.envoy.url);
  assertEquals(arms(match, 0), ["request_headers"]);
});

Deno.test("dynamic metadata is kept only for receiving namespaces", async () => {
  await using t = await setup((m) => ({
    ...passThrough(m),
    dynamic_metadata: {
      fields: {
        "mcp-gateway": { structValue: { fields: { method: { stringValue: "tools/call" } } } },
        other: { structValue: { fields: { x: { stringValue: "y" } } } },
      },
    },
  }));
  await post(t.envoy.url);
  assertEquals(t.envoy.exchanges[0].dynamicMetadata, { "mcp-gateway": { method: "tools/call" } });
});

Deno.test("body mutation: content-length must match the new body", async () => {
  let cl = "7";
  await using t = await setup((m) =>
    m.request === "request_body"
      ? {
        request_body: {
          response: {
            header_mutation: { set_headers: [rawHeader("content-length", cl)] },
            body_mutation: { body: enc.encode(`{"b":2}`) },
          },
        },
      }
      : passThrough(m)
  );
  assertEquals((await post(t.envoy.url)).json?.body, `{"b":2}`);
  cl = "3";
  assertEquals((await post(t.envoy.url)).res.status, 500);
});

Deno.test("route-layer replies (no route, unreachable upstream) still reach response_headers", async () => {
  await using t = await setup(passThrough, { defaultCluster: undefined });
  const r = await post(t.envoy.url);
  assertEquals(r.res.status, 404);
  assertEquals(t.fake.streams[0].map((m) => m.request), [
    "request_headers",
    "request_body",
    "response_headers",
  ]);
  await using u = await setup(passThrough, { defaultCluster: "http://127.0.0.1:1" });
  assertEquals((await post(u.envoy.url)).res.status, 503);
  assertEquals(u.fake.streams[0].at(-1)!.request, "response_headers");
});

Deno.test("SSE responses stream through before the upstream finishes", async () => {
  const fake = await startFakeProcessor(passThrough);
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  const sse = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    const body = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(enc.encode("event: message\ndata: one\n\n"));
        await released;
        c.enqueue(enc.encode("event: message\ndata: two\n\n"));
        c.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const envoy = await startEnvoyHarness({
    extProc: fake.address,
    defaultCluster: `http://127.0.0.1:${sse.addr.port}`,
  });
  try {
    const res = await fetch(`${envoy.url}/mcp`, { headers: { accept: "text/event-stream" } });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const seen = await readUntil(reader, (t) => t.includes("data: one"), "the first event");
    assert(!seen.includes("two"), "first event arrived while the upstream was still holding the second");
    release();
    await readUntil(reader, (t) => t.includes("data: two"), "the second event", { seen });
    await reader.cancel();
  } finally {
    release();
    await envoy.close();
    await fake.close();
    await sse.shutdown();
  }
});

Deno.test("default-vhost routes: header matchers as Envoy's, and a route with ext_proc disabled never consults the processor", async () => {
  const byHeader = {
    match: {
      prefix: "/",
      headers: [
        { name: ":method", string_match: { exact: "POST" } },
        { name: "x-era", string_match: { exact: "2026" } },
        { name: "x-op", string_match: { safe_regex: { regex: "call|get" } }, invert_match: true },
      ],
    },
    route: { cluster: "mcp_broker" },
    typed_per_filter_config: { "envoy.filters.http.ext_proc": { disabled: true } },
  };
  await using t = await setup(passThrough, { defaultRoutes: [byHeader] });
  const cases: [Record<string, string>, boolean][] = [
    [{ "x-era": "2026", "x-op": "list" }, true],
    [{ "x-era": "2026", "x-op": "call" }, false], // inverted regex match
    [{ "x-era": "2026", "x-op": "recall" }, true], // a regex matches the whole value only
    [{ "x-era": "2026" }, false], // a missing header fails even an inverted matcher
    [{ "x-era": "2025", "x-op": "list" }, false],
  ];
  for (const [extra, bypassed] of cases) {
    const before = t.fake.streams.length;
    const r = await post(t.envoy.url, `{"n":1}`, extra);
    assertEquals(r.json?.who, "broker", JSON.stringify(extra));
    assertEquals(t.fake.streams.length - before, bypassed ? 0 : 1, JSON.stringify(extra));
    assertEquals(t.envoy.exchanges.at(-1)!.sent.length === 0, bypassed);
  }
  // A server's virtual host (by :authority) is not the default one: its requests always ask the processor.
  await postAs(t.envoy.url, "backend.local", `{"n":2}`);
  assertEquals(t.envoy.exchanges.at(-1)!.sent[0], "request_headers");
});
