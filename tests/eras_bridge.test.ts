/**
 * The era bridge through the broker: interactive requests (elicitation, sampling) between clients and
 * backends of different eras. 2025 clients (SDK v1, SDK v2 in the 2025 handshake) call a 2026-only backend
 * (tests/servers/modern.ts), whose `input_required` the gateway asks them on the call's stream; 2026 clients
 * (SDK v2 pinned, raw requests) call 2025-only backends (modern.ts in 2025 mode, server-everything), whose
 * requests reach them as `input_required` with a gateway-signed `requestState`. Multi-round calls, several
 * questions at once, progress between rounds, a declined question, a client that never answers, and
 * `requestState`s that must be refused: tampered, another caller's, too late.
 */
// @ts-types="@modelcontextprotocol/sdk/types"
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { startEverything } from "./helpers/everything.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { connectClient } from "./helpers/mcp_client.ts";
import { connectClientV2, envelope, MODERN_VERSION } from "./helpers/mcp_client_v2.ts";
import { waitFor } from "./helpers/ports.ts";
import { type ObservedRequest, startModern } from "./servers/modern.ts";

/** `--input-required-timeout` of the gateway under test, in seconds. */
const INPUT_TIMEOUT_S = 2;

const textOf = (result: { content?: unknown }) => (result.content as { text: string }[])[0].text;

/** Every JSON-RPC message of a JSON or SSE answer. */
function messagesOf(text: string): any[] {
  try {
    return [JSON.parse(text)];
  } catch { /* SSE */ }
  return text.split("\n").filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5)));
}

/** A raw 2026 `tools/call` (the standard headers, an envelope declaring elicitation), as its response. */
async function call2026(
  url: string,
  id: number,
  name: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN_VERSION,
      "mcp-method": "tools/call",
      "mcp-name": name,
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: {
        name,
        arguments: {},
        ...extra,
        _meta: envelope({ "io.modelcontextprotocol/clientCapabilities": { elicitation: {} } }),
      },
    }),
    signal: AbortSignal.timeout(20_000),
  });
  const messages = messagesOf(await res.text());
  const response = messages.find((m) => m.id === id);
  assert(response, `no response to ${id}: ${JSON.stringify(messages)}`);
  return { status: res.status, response };
}

/**
 * A hand-written 2026-only backend that breaks the rules the SDK keeps: `ask_sampling` asks for sampling
 * whatever the client declared, `loop` asks for input forever (with an awkward `requestState` it checks comes
 * back byte-exact). The gateway must not pass either on.
 */
function startRawModern() {
  const STATE = 'é"\\u0000 ☃';
  const calls: { name: string; requestState?: unknown }[] = [];
  const result = (id: unknown, value: Record<string, unknown>) =>
    Response.json({ jsonrpc: "2.0", id, result: { resultType: "complete", ...value } });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (req.method !== "POST") return new Response(null, { status: 405 });
    const message = await req.json();
    const { id, method, params } = message;
    if (id === undefined) return new Response(null, { status: 202 });
    if (method === "server/discover") {
      return result(id, {
        supportedVersions: [MODERN_VERSION],
        capabilities: { tools: {} },
        ttlMs: 0,
        cacheScope: "private",
        _meta: { "io.modelcontextprotocol/serverInfo": { name: "raw-2026", version: "1" } },
      });
    }
    if (method === "tools/list") {
      const tool = (name: string) => ({ name, inputSchema: { type: "object" } });
      return result(id, { tools: [tool("ask_sampling"), tool("loop")], ttlMs: 0, cacheScope: "private" });
    }
    if (method === "tools/call") {
      calls.push({ name: params.name, requestState: params.requestState });
      const inputRequests = params.name === "ask_sampling"
        ? { llm: { method: "sampling/createMessage", params: { messages: [], maxTokens: 5 } } }
        : {
          again: {
            method: "elicitation/create",
            params: { mode: "form", message: "Again?", requestedSchema: { type: "object", properties: {} } },
          },
        };
      return Response.json({
        jsonrpc: "2.0",
        id,
        result: { resultType: "input_required", inputRequests, requestState: STATE },
      });
    }
    return Response.json({ jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } }, {
      status: method === "initialize" ? 400 : 404,
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/mcp`,
    calls,
    STATE,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** What reached a backend that only a call or its follow-ups send (not the gateway's own pings and lists). */
function callTraffic(observed: readonly ObservedRequest[], since: number) {
  return observed.slice(since).filter((r) =>
    r.httpMethod === "POST" &&
    (r.method === undefined || r.method === "tools/call" || r.method.includes("cancel"))
  );
}

/** A wristband as Authorino signs it (the gateway then knows the caller: `sub`). */
function wristband(key: Parameters<SignJWT["sign"]>[0], sub: string) {
  return new SignJWT({
    sub,
    "allowed-capabilities": JSON.stringify({ tools: { legacy: ["confirm", "requests"] } }),
  })
    .setProtectedHeader({ alg: "ES256" })
    .setIssuer("authorino")
    .setExpirationTime("5m")
    .sign(key);
}

Deno.test("era bridge: elicitation and sampling between clients and backends of different eras", async (t) => {
  await using modern = await startModern({ mode: "modern" });
  await using legacy = await startModern({ mode: "legacy" });
  await using everything = await startEverything();
  await using raw = startRawModern();
  const keys = await generateKeyPair("ES256", { extractable: true });
  await using gw = await startGatewayFor([
    { name: "modern", url: modern.url, toolPrefix: "m_" },
    { name: "legacy", url: legacy.url, toolPrefix: "l_" },
    { name: "everything", url: everything.url, toolPrefix: "e_" },
    { name: "raw", url: raw.url, toolPrefix: "r_" },
  ], {
    env: { TRUSTED_HEADER_PUBLIC_KEY: await exportSPKI(keys.publicKey) },
    args: ["--input-required-timeout", String(INPUT_TIMEOUT_S)],
  });

  await t.step("2025 clients answer a 2026 backend's questions on the call's stream", async () => {
    await using v1 = await connectClient(gw.mcpUrl, { capabilities: { elicitation: {} } });
    v1.client.setRequestHandler(ElicitRequestSchema, (request) => ({
      action: "accept" as const,
      content: { confirmed: true, name: `v1 asked "${request.params.message}"` },
    }));
    assertEquals(
      textOf(await v1.client.callTool({ name: "m_confirm", arguments: { question: "Ship it?" } }) as any),
      'confirmed: action=accept, content={"confirmed":true,"name":"v1 asked \\"Ship it?\\""}',
    );
    await using v2 = await connectClientV2(gw.mcpUrl, {
      mode: "legacy",
      elicit: () => ({ action: "decline" }),
    });
    assertEquals(
      textOf(await v2.client.callTool({ name: "m_sample", arguments: { prompt: "2 + 2?" } })),
      "sampled answer: sampled: 2 + 2?",
    );
    assertEquals(
      textOf(await v2.client.callTool({ name: "m_confirm", arguments: {} })),
      "confirmed: action=decline, content={}",
    );
  });

  await t.step(
    "several questions at once over two rounds, progress between them, both directions",
    async () => {
      const answers = (params: { message: string }) => ({
        action: "accept" as const,
        content: (params.message === "Your name?" ? { name: "Ada" } : { color: "green" }) as Record<
          string,
          string
        >,
      });
      const expected = "survey: name=Ada, greeting=sampled: Say hello, color=green";
      const mark = modern.state.observed.length;
      // 2025 client, 2026 backend: one stream carries both rounds' questions, the progress, and the result.
      await using old = await connectClientV2(gw.mcpUrl, { mode: "legacy", elicit: answers });
      // The backend's progress between the rounds (an SDK v2 client in 2026 reports its own rounds too).
      let progress: string[] = [];
      const onprogress = (p: { message?: string }) => {
        if (p.message?.startsWith("round")) progress.push(p.message);
      };
      const asked = await old.client.callTool({ name: "m_survey", arguments: {} }, { onprogress });
      assertEquals([textOf(asked), progress], [expected, ["round 1 answered"]]);
      const calls = modern.state.observed.slice(mark).filter((r) => r.method === "tools/call");
      assertEquals(calls.length, 3, "the call, then a retry per round");

      // 2026 client, 2025 backend: the backend's two parallel requests come as one input_required, then one
      // more; its progress of the second round reaches the retry's own progress handler.
      await using neu = await connectClientV2(gw.mcpUrl, {
        mode: { pin: MODERN_VERSION },
        elicit: answers,
        record: true,
      });
      progress = [];
      const held = await neu.client.callTool({ name: "l_survey", arguments: {} }, { onprogress });
      assertEquals([textOf(held), progress], [expected, ["round 1 answered"]]);
      const rounds = neu.requests.filter((r) => r.body?.method === "tools/call").map((r) => r.body.params);
      assertEquals(rounds.length, 3, "the call and two retries");
      assertEquals(Object.keys(rounds[1].inputResponses).sort(), ["elicitation-1", "sampling-2"]);
      assertEquals(Object.keys(rounds[2].inputResponses), ["elicitation-3"]);
      assert(rounds[1].requestState !== rounds[2].requestState, "a requestState per round");
    },
  );

  await t.step("a real 2025-only backend (server-everything) asks a 2026 client", async () => {
    await using neu = await connectClientV2(gw.mcpUrl, {
      mode: { pin: MODERN_VERSION },
      elicit: () => ({ action: "accept", content: { name: "Grace Hopper", check: true } }),
    });
    const elicited = await neu.client.callTool({ name: "e_trigger-elicitation-request", arguments: {} });
    assertMatch(JSON.stringify(elicited.content), /Grace Hopper/);
    const sampled = await neu.client.callTool({
      name: "e_trigger-sampling-request",
      arguments: { prompt: "the answer", maxTokens: 10 },
    });
    assertMatch(JSON.stringify(sampled.content), /sampled: [^"]*the answer/);
  });

  await t.step(
    "a 2026 backend asking what the client did not declare, or asking forever, is not passed on",
    async () => {
      await using old = await connectClientV2(gw.mcpUrl, {
        mode: "legacy",
        capabilities: { elicitation: {} },
      });
      const undeclared = await old.client.callTool({ name: "r_ask_sampling", arguments: {} }).catch((e) => e);
      assertEquals(undeclared.code, -32021, String(undeclared));
      assertEquals(undeclared.data?.requiredCapabilities, { sampling: {} });
      let asked = 0;
      await using patient = await connectClientV2(gw.mcpUrl, {
        mode: "legacy",
        capabilities: { elicitation: {} },
        elicit: () => (asked++, { action: "accept", content: {} }),
      });
      const endless = await patient.client.callTool({ name: "r_loop", arguments: {} }).catch((e) => e);
      assertEquals(endless.code, -32603, String(endless));
      assertMatch(String(endless), /still needed input after 10 rounds/);
      const loops = raw.calls.filter((c) => c.name === "loop");
      assertEquals([asked, loops.length], [10, 11], "the call and ten retries, each answered");
      // Every retry carried the backend's requestState exactly as it was sent.
      assert(loops.slice(1).every((c) => c.requestState === raw.STATE), JSON.stringify(loops));
    },
  );

  await t.step("a 2025 client that never answers: the call ends with a timeout error", async () => {
    await using silent = await connectClientV2(gw.mcpUrl, {
      mode: "legacy",
      elicit: () => new Promise(() => {}),
    });
    const started = Date.now();
    const error = await silent.client.callTool({ name: "m_confirm", arguments: {} }).then(
      (r) => assert(false, `answered: ${JSON.stringify(r)}`),
      (e) => e,
    );
    assertEquals(error.code, -32001, String(error));
    assertMatch(
      String(error),
      new RegExp(`did not answer elicitation/create .* within ${INPUT_TIMEOUT_S} s`),
    );
    assert(Date.now() - started >= INPUT_TIMEOUT_S * 1000, "not before the timeout");
  });

  const alice = { "x-mcp-authorized": await wristband(keys.privateKey, "alice") };
  const bob = { "x-mcp-authorized": await wristband(keys.privateKey, "bob") };

  await t.step(
    "bad requestState: tampered, another caller's, made up — refused, never reaching the backend",
    async () => {
      const first = await call2026(gw.mcpUrl, 1, "l_confirm", {}, alice);
      assertEquals(first.response.result.resultType, "input_required", JSON.stringify(first.response));
      const [key] = Object.keys(first.response.result.inputRequests);
      assertEquals(first.response.result.inputRequests[key].method, "elicitation/create");
      const state: string = first.response.result.requestState;
      const inputResponses = { [key]: { action: "accept", content: { confirmed: true, name: "alice" } } };
      const mark = legacy.state.observed.length;
      const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === "A" ? "B" : "A") + s.slice(at + 1);
      const refusals: [string, string, Record<string, string>][] = [
        ["tampered signature", flip(state, state.length - 2), alice],
        ["tampered payload", flip(state, state.indexOf(".") + 5), alice],
        ["another caller's", state, bob],
        ["made up", "v1.e30.c2ln", alice],
      ];
      for (const [why, requestState, headers] of refusals) {
        const retry = await call2026(gw.mcpUrl, 2, "l_confirm", { inputResponses, requestState }, headers);
        assertEquals(retry.response.error?.code, -32602, `${why}: ${JSON.stringify(retry.response)}`);
        assertEquals(retry.response.error.data?.reason, "invalid_request_state", why);
      }
      assertEquals(callTraffic(legacy.state.observed, mark), [], "the backend saw none of them");
      // The state was good all along: its caller's retry completes the call.
      const done = await call2026(gw.mcpUrl, 3, "l_confirm", { inputResponses, requestState: state }, alice);
      assertEquals(
        textOf(done.response.result),
        'confirmed: action=accept, content={"confirmed":true,"name":"alice"}',
      );
      // …once: the same state again is refused.
      const again = await call2026(gw.mcpUrl, 4, "l_confirm", { inputResponses, requestState: state }, alice);
      assertEquals(again.response.error?.data?.reason, "invalid_request_state");
    },
  );

  await t.step(
    "a 2026 client that never retries: the backend call is cancelled, a late retry refused",
    async () => {
      const since = legacy.state.observed.length;
      const first = await call2026(gw.mcpUrl, 5, "l_confirm", {}, alice);
      const { requestState, inputRequests } = first.response.result;
      const [key] = Object.keys(inputRequests);
      const cancelled = () =>
        legacy.state.observed.slice(since).some((r) => r.method === "notifications/cancelled");
      await waitFor(cancelled, "the held call cancelled at the backend", (INPUT_TIMEOUT_S + 5) * 1000);
      const mark = legacy.state.observed.length;
      const late = await call2026(gw.mcpUrl, 6, "l_confirm", {
        inputResponses: { [key]: { action: "accept", content: { confirmed: true } } },
        requestState,
      }, alice);
      assertEquals(late.response.error?.code, -32602, JSON.stringify(late.response));
      assertEquals(late.response.error.data?.reason, "invalid_request_state");
      assertEquals(callTraffic(legacy.state.observed, mark), [], "the late retry reached no backend");
    },
  );
});
