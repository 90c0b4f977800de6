/**
 * Both protocol eras through the Envoy data path (harness → router → backends, broker on the default
 * route): the cross-era matrix of eras_matrix.test.ts, with the router routing each call that stays in one
 * era (2025 on a backend session, 2026 stateless) to its backend and leaving calls that cross eras, lists,
 * `server/discover` and `subscriptions/listen` to the broker; 2026 bad input refused with the broker's
 * errors; and the ext_proc messages each kind of request costs.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { call, CASES } from "./helpers/eras_bad_input.ts";
import {
  assertChangesReachBothEras,
  type Backend,
  BACKEND_KINDS,
  BACKENDS,
  crossesEras,
  inspect,
  servedCounter,
  startMatrixBackends,
  textOf,
} from "./helpers/eras_matrix.ts";
import { rawPost } from "./helpers/mcp_client.ts";
import { connectClientV2, type ConnectedClientV2, MODERN_VERSION } from "./helpers/mcp_client_v2.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";
import type { Exchange } from "./harness/envoy.ts";
import { startModern } from "./servers/modern.ts";

async function startMatrix(args: string[] = []) {
  const matrix = await startMatrixBackends();
  try {
    const stack = await startEnvoyStack(matrix.entries, { expectTools: 20, args });
    /** The backend Envoy sent an exchange to; undefined for the broker (or a local reply). */
    const backendOf = (x: Exchange): Backend | undefined =>
      BACKEND_KINDS.find((b) => new URL(matrix.backends[b].url).origin === x.upstream);
    return {
      stack,
      backends: matrix.backends,
      backendOf,
      /** Where Envoy sent the POST whose body carried `marker`: a backend's kind, or "broker". */
      upstreamOf(marker: string): Backend | "broker" | undefined {
        const ex = stack.envoy.exchanges.find((x) => x.method === "POST" && x.upstreamBody?.includes(marker));
        if (!ex?.upstream) return undefined;
        return backendOf(ex) ?? "broker";
      },
      async [Symbol.asyncDispose]() {
        await stack.close();
        await matrix[Symbol.asyncDispose]();
      },
    };
  } catch (e) {
    await matrix[Symbol.asyncDispose]();
    throw e;
  }
}

const connect = (url: string, era: "2025" | "2026", opts: Parameters<typeof connectClientV2>[1] = {}) =>
  connectClientV2(url, { mode: era === "2026" ? { pin: MODERN_VERSION } : "legacy", ...opts });

Deno.test("Envoy path, cross-era matrix: list, call, prompt and read for each pairing; same-era calls routed to the backend, cross-era ones to the broker", async () => {
  await using m = await startMatrix();
  await using old = await connect(m.stack.mcpUrl, "2025");
  await using neu = await connect(m.stack.mcpUrl, "2026");
  assertEquals([old.era, neu.era], ["legacy", "modern"]);
  for (const [era, mcp] of [["2025", old], ["2026", neu]] as const) {
    const tools = (await mcp.client.listTools()).tools.map((t) => t.name);
    const prompts = (await mcp.client.listPrompts()).prompts.map((p) => p.name);
    const resources = (await mcp.client.listResources()).resources.map((r) => r.uri);
    for (const backend of BACKEND_KINDS) {
      const p = BACKENDS[backend];
      const pairing = `${era} client, ${backend} backend`;
      assert(tools.includes(`${p}echo`), `${pairing}: ${tools}`);
      assert(prompts.includes(`${p}greeting`), `${pairing}: ${prompts}`);
      assert(resources.includes(servedCounter(backend)), `${pairing}: ${resources}`);
      const echoed = await mcp.client.callTool({ name: `${p}echo`, arguments: { message: pairing } });
      assertEquals(textOf(echoed), `Echo: ${pairing}`);
      // A call that stays in one era goes to the backend through Envoy; one that crosses goes to the broker.
      assertEquals(m.upstreamOf(pairing), crossesEras(era, backend) ? "broker" : backend, pairing);
      const who = `${pairing} prompt`;
      const prompt = await mcp.client.getPrompt({ name: `${p}greeting`, arguments: { name: who } });
      assertEquals((prompt.messages[0].content as { text: string }).text, `Say hello to ${who}`);
      assertEquals(m.upstreamOf(who), crossesEras(era, backend) ? "broker" : backend, who);
      const read = await mcp.client.readResource({ uri: servedCounter(backend) });
      assertEquals(read.contents[0].uri, servedCounter(backend), pairing);
      // x-mcp-header: a 2026 client's Mcp-Param-Region passes through Envoy; for a 2025 client on a 2026-only
      // backend the broker computes it; a 2026 backend refuses the call without it.
      const region = `eu-${era}-${backend}`;
      const regional = await mcp.client.callTool({ name: `${p}region_echo`, arguments: { region } });
      assertEquals(textOf(regional), `region=${region} message=`, pairing);
    }
  }
  // Lists, discovery and reads went to the broker: the broker merges lists and maps resource URIs.
  for (const x of m.stack.envoy.exchanges.filter((x) => x.method === "POST")) {
    const method = /"method":"([^"]+)"/.exec(x.upstreamBody ?? "")?.[1] ?? "";
    if (/\/list$|^server\/discover$|^resources\/read$|^initialize$/.test(method) && !isHairpin(x)) {
      assertEquals(m.backendOf(x), undefined, `${method} went to a backend`);
    }
  }
});

function isHairpin(x: Exchange): boolean {
  return !!x.upstreamBody?.includes(`"clientInfo":{"name":"mcp-gateway"`);
}

Deno.test("Envoy path: the backend sees the wire its era calls for, with the router's facts for policies", async () => {
  await using m = await startMatrix();
  await using old = await connect(m.stack.mcpUrl, "2025", { capabilities: { elicitation: {} } });
  await using neu = await connect(m.stack.mcpUrl, "2026", {
    capabilities: { sampling: {} },
    name: "pinned-client",
    headers: { authorization: "Bearer client-token" },
  });
  // 2026 client → 2026-only and dual backends, through Envoy: stateless, its own envelope, the name
  // unprefixed in the body and in Mcp-Name, no session, no client credentials, the router's x-mcp-* facts.
  for (const backend of ["modern", "dual"] as const) {
    const seen = await inspect(neu, backend);
    assertEquals([seen.era, seen.sessionId], ["modern", null], backend);
    assertEquals(seen.envelope["io.modelcontextprotocol/clientCapabilities"], { sampling: {} });
    assertEquals(
      (seen.envelope["io.modelcontextprotocol/clientInfo"] as { name: string }).name,
      "pinned-client",
    );
    const h = seen.headers;
    assertEquals(
      [h["mcp-protocol-version"], h["mcp-method"], h["mcp-name"], h["mcp-session-id"], h.authorization],
      [MODERN_VERSION, "tools/call", "inspect", undefined, undefined],
    );
    assertEquals(
      [h["x-mcp-method"], h["x-mcp-toolname"], h["x-mcp-servername"], h["x-mcp-era"]],
      ["tools/call", "inspect", backend, "2026"],
    );
    const ex = m.stack.envoy.exchanges.findLast((x) => x.upstreamBody?.includes(`"name":"inspect"`))!;
    assertEquals(ex.dynamicMetadata["mcp-gateway"], {
      method: "tools/call",
      toolname: "inspect",
      servedname: `${BACKENDS[backend]}inspect`,
      servername: backend,
      hostname: `${backend}.mcp.local`,
      annotation_hints:
        "readOnly=unspecified,destructive=unspecified,idempotent=unspecified,openWorld=unspecified",
      era: "2026",
    });
  }
  // 2025 client → 2025-only and dual backends, through Envoy: its own backend session, no envelope.
  for (const backend of ["legacy", "dual"] as const) {
    const seen = await inspect(old, backend);
    assertEquals(seen.era, "legacy", backend);
    assert(seen.sessionId, `${backend}: a backend session`);
    assertEquals(seen.meta["io.modelcontextprotocol/protocolVersion"], undefined);
    assertEquals(seen.headers["x-mcp-era"], "2025");
  }
  // Across eras, through the broker: the 2025 client speaks 2026 to the 2026-only backend (envelope from its
  // session), the 2026 client gets a session held for it on the 2025-only one.
  let seen = await inspect(old, "modern");
  assertEquals([seen.era, seen.sessionId, seen.headers["mcp-name"]], ["modern", null, "inspect"]);
  assertEquals(seen.envelope["io.modelcontextprotocol/clientCapabilities"], { elicitation: {} });
  seen = await inspect(neu, "legacy");
  assertEquals(seen.era, "legacy");
  assert(seen.sessionId, "a held backend session");
  // The 2025 client got its gateway session id back on routed answers, never a backend's.
  const verified = await m.stack.gateway.context.tokens.verifySession(old.transport.sessionId ?? "");
  assert(verified.ok, "the client holds its gateway session");
});

Deno.test("Envoy path: list changes and resource updates reach both eras from every backend kind", async () => {
  await using m = await startMatrix();
  await using old = await connect(m.stack.mcpUrl, "2025");
  await using neu = await connect(m.stack.mcpUrl, "2026");
  // The 2026 client calls the 2026 backends through Envoy, the 2025 client the others.
  await assertChangesReachBothEras(old, neu, (backend) => backend === "legacy" ? old : neu);
});

/** What a call ends with, as text (result text or error), for comparing two paths. */
async function outcome(mcp: ConnectedClientV2, name: string, args: Record<string, unknown>) {
  return await mcp.client.callTool({ name, arguments: args }).then(
    (r) => textOf(r),
    (e) => `error: ${String(e).replace(/\s+/g, " ")}`,
  );
}

Deno.test("Envoy path: progress everywhere; elicitation within an era through Envoy, across eras as the broker answers it", async () => {
  await using m = await startMatrix();
  const brokerUrl = `${m.stack.gateway.brokerUrl}/mcp`;
  for (const era of ["2025", "2026"] as const) {
    await using viaEnvoy = await connect(m.stack.mcpUrl, era);
    // The same client talking to the broker directly (no Envoy): what the broker path answers.
    await using direct = await connect(brokerUrl, era);
    for (const backend of BACKEND_KINDS) {
      const p = BACKENDS[backend];
      const pairing = `${era} client, ${backend} backend`;
      const progress: number[] = [];
      const since = viaEnvoy.notifications.length;
      const done = await viaEnvoy.client.callTool(
        { name: `${p}progress`, arguments: { steps: 2 } },
        { onprogress: (n) => progress.push(n.progress) },
      );
      assertEquals([textOf(done), progress], ["progress done: 2 steps", [1, 2]], pairing);
      if (era === "2026") {
        // No logLevel in the envelope: no log messages, whichever path carried the call.
        const logs = viaEnvoy.notifications.slice(since).filter((n) => n.method === "notifications/message");
        assertEquals(logs, [], pairing);
      }
      // Same era: the 2025 backend's request is relayed within the call's stream through Envoy, or the 2026
      // `input_required` passes through untouched and the retry (same name) reaches the same backend. Across
      // eras the router hands the call to the broker, whose bridge asks the client its own way.
      const asked = await outcome(viaEnvoy, `${p}confirm`, { question: "Go?" });
      assertEquals(asked, 'confirmed: action=accept, content={"confirmed":true,"name":"tester"}', pairing);
      assertEquals(asked, await outcome(direct, `${p}confirm`, { question: "Go?" }), pairing);
    }
  }
});

Deno.test("Envoy path, 2026 bad input: each refused with the broker's error and its id, never reaching a backend", async () => {
  await using backend = await startModern({ mode: "modern" });
  await using stack = await startEnvoyStack([
    { name: "m", url: backend.url, hostname: "m.mcp.local", toolPrefix: "m_" },
  ]);
  const brokerUrl = `${stack.gateway.brokerUrl}/mcp`;
  const before = backend.state.observed.length;
  const origin = new URL(backend.url).origin;
  for (const c of CASES) {
    const viaEnvoy = await rawPost(stack.mcpUrl, JSON.stringify(c.body), c.headers);
    const json = viaEnvoy.json as { id?: unknown; error?: { code: number; data?: unknown } };
    assertEquals([viaEnvoy.status, json?.error?.code], [c.status, c.code], `${c.why}: ${viaEnvoy.text}`);
    assertEquals(json.id, c.body.id, `${c.why}: the error answers the request`);
    c.data?.(json.error?.data);
    const direct = await rawPost(brokerUrl, JSON.stringify(c.body), c.headers);
    assertEquals(
      [viaEnvoy.status, viaEnvoy.text],
      [direct.status, direct.text],
      `${c.why}: as the broker says`,
    );
  }
  assertEquals(backend.state.observed.slice(before).filter((o) => o.method === "tools/call"), []);
  assertEquals(
    stack.envoy.exchanges.filter((x) =>
      x.upstream === origin && x.method === "POST" &&
      !x.upstreamBody?.includes("server/discover")
    ),
    [],
    "no refused request was routed to the backend",
  );
  // The same call, well-formed (Mcp-Name in its base64 sentinel form), is routed to the backend, which gets
  // its own name, unprefixed and plain.
  const ok = call((r) => r.headers["mcp-name"] = `=?base64?${btoa("m_echo")}?=`);
  const r = await rawPost(stack.mcpUrl, JSON.stringify(ok.body), ok.headers);
  assertEquals((r.json as any)?.result?.content?.[0]?.text, "Echo: never served", r.text);
  const routed = stack.envoy.exchanges.at(-1)!;
  assertEquals(routed.upstream, origin);
  assertEquals(Object.fromEntries(routed.upstreamHeaders!)["mcp-name"], "echo");
  assert(routed.upstreamBody!.includes(`"name":"echo"`), routed.upstreamBody);
});

Deno.test("Envoy path: each kind of request costs only the ext_proc messages the router needs", async () => {
  await using backend = await startModern({ mode: "dual" });
  const dir = await Deno.makeTempDir();
  const auditFile = `${dir}/audit.jsonl`;
  try {
    // The shipped setup (header routes, no audit log here), then an audit log and no header routes.
    for (const [audit, headerRoutes] of [[false, true], [true, false]]) {
      await using stack = await startEnvoyStack(
        [{ name: "d", url: backend.url, hostname: "d.mcp.local", toolPrefix: "d_" }],
        { args: audit ? ["--audit-log", auditFile] : [], headerRoutes },
      );
      /** What Envoy sent the router for the request whose body carried `marker`. */
      const sent = (marker: string) =>
        stack.envoy.exchanges.filter((x) => x.upstreamBody?.includes(marker)).map((x) => x.sent);
      await using neu = await connect(stack.mcpUrl, "2026");
      await neu.client.callTool({ name: "d_echo", arguments: { message: "routed" } });
      // A 2026 call to a 2026 backend: headers and body; the response headers only for the audit line.
      assertEquals(sent(`"routed"`), [
        audit ? ["request_headers", "request_body", "response_headers"] : ["request_headers", "request_body"],
      ]);
      await neu.client.listTools({}, { cacheMode: "bypass" });
      const list = stack.envoy.exchanges.findLast((x) => x.upstreamBody?.includes(`"tools/list"`))!;
      if (headerRoutes) {
        // A 2026 list: Envoy routes it to the broker by its headers, without asking the router at all.
        assertEquals(list.sent, []);
      } else {
        // Without that route, the router decides it from the headers; the broker reads the body.
        assertEquals(list.sent, ["request_headers"]);
        assertEquals(list.dynamicMetadata["mcp-gateway"], {
          method: "tools/list",
          servername: "mcpBroker",
          era: "2026",
        });
      }
      assertEquals(new URL(list.upstream!).origin, new URL(stack.gateway.brokerUrl).origin);
      if (audit) continue;
      await using old = await connect(stack.mcpUrl, "2025");
      await old.client.callTool({ name: "d_echo", arguments: { message: "session" } });
      // A 2025 call: the body to route, the response headers to swap the session id back.
      assertEquals(sent(`"session"`), [["request_headers", "request_body", "response_headers"]]);
      await old.close();
      // DELETE (and the 2025 notification stream's GET, if the client opened it yet): no body, the headers alone.
      const bodiless = stack.envoy.exchanges.filter((x) => x.method === "GET" || x.method === "DELETE");
      assert(bodiless.some((x) => x.method === "DELETE"), "the session was deleted through Envoy");
      for (const x of bodiless) assertEquals(x.sent, ["request_headers"], x.method);
    }
    const lines = (await Deno.readTextFile(auditFile)).trim().split("\n").map((l) => JSON.parse(l));
    const line = lines.find((l) => l.path === "router" && l.method === "tools/call");
    assertEquals(
      [line?.name, line?.server, line?.outcome, line?.session],
      ["d_echo", "d", "ok", null],
      JSON.stringify(lines),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
