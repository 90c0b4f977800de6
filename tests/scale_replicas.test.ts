/**
 * Three gateway replicas sharing sessions through a real `redis-server`, behind a round-robin front with no
 * stickiness, in front of server-everything and stateful backends (issue 12). One fixture serves every
 * scenario, in order: the last two kill a replica, then the store, under load.
 */
// @ts-types="@modelcontextprotocol/sdk/types"
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { prefixUri } from "../src/routing/aggregate.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { startEverything } from "./helpers/everything.ts";
import { type GatewayProcess, startGatewayFor } from "./helpers/gateway.ts";
import { connectClient, rawInitialize, rawPost, sessionIdOf, toolCallBody } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startRedis } from "./helpers/redis.ts";
import { startRoundRobin } from "./helpers/round_robin.ts";
import { readUntil } from "./helpers/streams.ts";
import { startConformance, WATCHED_RESOURCE } from "./servers/conformance.ts";
import { startWeather } from "./servers/weather.ts";

/** The backend session each replica's projection holds for (`session`, `server`). */
async function bindings(replicas: GatewayProcess[], session: string, server: string) {
  return await Promise.all(replicas.map(async (gw) => {
    const res = await fetch(`${gw.baseUrl}/debug/projections?name=sessions`);
    return (await res.json()).sessions.open[session]?.backends?.[server]?.id as string | undefined;
  }));
}

function headers(token: string) {
  return { "mcp-session-id": token, "mcp-protocol-version": "2025-11-25" };
}

/** Calls `c_test_simple_text` on `token`'s session through `url`, with a unique id; true when it answered. */
let nextId = 0;
async function call(url: string, token: string): Promise<{ id: string; ok: boolean; why?: string }> {
  const id = `load-${nextId++}`;
  try {
    const res = await rawPost(url, toolCallBody(id, "c_test_simple_text"), headers(token));
    const ok = res.status === 200 && res.json?.result?.content?.length > 0;
    return { id: JSON.stringify(id), ok, ...(ok ? {} : { why: `${res.status} ${res.text.slice(0, 300)}` }) };
  } catch (e) {
    return { id: JSON.stringify(id), ok: false, why: String(e) };
  }
}

/** Sessions calling in a loop until stopped: the load a fault must not disturb. */
function load(url: string, tokens: string[]) {
  const results: { id: string; ok: boolean; why?: string; token: string; at: number }[] = [];
  let stopped = false;
  const loops = tokens.map(async (token) => {
    while (!stopped) results.push({ ...await call(url, token), token, at: Date.now() });
  });
  return {
    results,
    done: (n: number) => waitFor(() => results.length >= n, `${n} calls under load`, 20_000),
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

Deno.test("three replicas behind a round-robin front share sessions through Redis", async (t) => {
  await using redis = await startRedis();
  await using everything = await startEverything();
  await using conformance = await startConformance();
  await using weather = await startWeather();
  const servers = [
    { name: "everything", url: everything.url, toolPrefix: "e_" },
    { name: "conformance", url: conformance.url, toolPrefix: "c_" },
    { name: "weather", url: weather.url, toolPrefix: "w_" },
  ];
  const started = await Promise.allSettled(
    [0, 1, 2].map(() => startGatewayFor(servers, { args: ["--session-store", redis.url] })),
  );
  const replicas = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
  await using front = startRoundRobin(replicas.map((gw) => gw.baseUrl));
  try {
    assertEquals(replicas.length, 3, "three replicas started");
    // One discovery session per replica on the stateful backend; a client adds its own.
    const upstreamSessions = conformance.sessionCount();
    assertEquals(upstreamSessions, 3);

    await using mcp = await connectClient(front.mcpUrl, { capabilities: { elicitation: {} } });
    const session = sessionIdOf(mcp.transport.sessionId!);

    await t.step("one client's calls, spread over every replica, use one backend session", async () => {
      const mark = front.routed.length;
      for (let i = 0; i < 6; i++) {
        const result = await mcp.client.callTool({ name: "c_test_simple_text", arguments: {} });
        assert(JSON.stringify(result.content).includes("text"), JSON.stringify(result));
      }
      const calls = front.routed.slice(mark).filter((r) => r.rpc === "tools/call");
      assertEquals(new Set(calls.map((r) => r.replica)).size, 3, "the calls reached every replica");
      assertEquals(conformance.sessionCount(), upstreamSessions + 1, "one backend session for the client");
      const ids = await bindings(replicas, session, "conformance");
      assert(ids[0] && ids.every((id) => id === ids[0]), `every replica uses the same one: ${ids}`);
    });

    await t.step("an elicitation started through one replica is answered through another", async () => {
      mcp.client.setRequestHandler(ElicitRequestSchema, () => ({
        action: "accept" as const,
        content: { name: "Ada Lovelace", check: true },
      }));
      const mark = front.routed.length;
      const result = await mcp.client.callTool({ name: "e_trigger-elicitation-request", arguments: {} });
      assert(JSON.stringify(result.content).includes("Ada Lovelace"), JSON.stringify(result.content));
      const routed = front.routed.slice(mark);
      const asked = routed.find((r) => r.tool === "e_trigger-elicitation-request")!;
      const answered = routed.find((r) => r.rpc === "(response)")!;
      assert(asked && answered, JSON.stringify(routed));
      assert(asked.replica !== answered.replica, `call on ${asked.replica}, answer on ${answered.replica}`);
    });

    await t.step("list_changed arrives once per client", async () => {
      await mcp.notificationStream();
      const before = mcp.listChanged("tools");
      await mcp.client.callTool({ name: "w_toggle_extra", arguments: { enabled: true } });
      // Every replica re-lists the backend and changes its catalog; only the one holding the client's stream
      // tells it (the backend's own list_changed on the client's backend session is not passed on either).
      await waitFor(async () => {
        const statuses = await Promise.all(replicas.map((gw) => gw.status()));
        return statuses.every((s) => s.servers.find((x: any) => x.name === "weather")?.totalTools === 6) &&
          mcp.listChanged("tools") > before;
      }, "every replica serving the new tool, and the client told");
      for (let i = 0; i < 3; i++) await mcp.client.ping();
      assertEquals(mcp.listChanged("tools"), before + 1);
    });

    await t.step("a resource subscription made via A delivers updates to a GET stream on B", async () => {
      const [a, b, c] = replicas;
      const token = await rawInitialize(a.mcpUrl);
      const stream = await fetch(b.mcpUrl, {
        headers: { ...headers(token), accept: "text/event-stream" },
      });
      assertEquals(stream.status, 200);
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      try {
        await readUntil(reader, (s) => s.includes(": connected"), "the GET stream on B");
        const uri = prefixUri("c_", WATCHED_RESOURCE);
        const subscribed = await rawPost(
          a.mcpUrl,
          JSON.stringify({ jsonrpc: "2.0", id: 1, method: "resources/subscribe", params: { uri } }),
          headers(token),
        );
        assertEquals(subscribed.status, 200, subscribed.text);
        const triggered = await rawPost(
          c.mcpUrl,
          toolCallBody(2, "c_test_trigger_resource_updated"),
          headers(token),
        );
        assertMatch(triggered.text, /Sent resources\/updated/);
        const seen = await readUntil(
          reader,
          (s) => s.includes("notifications/resources/updated") && s.includes(uri),
          "the update on B's stream",
        );
        assertMatch(seen, new RegExp(`"uri":"${uri.replace(/[/.]/g, "\\$&")}"`));
      } finally {
        await reader.cancel();
      }
    });

    const tokens = await Promise.all([0, 1, 2].map(() => rawInitialize(front.mcpUrl)));

    await t.step("killing a replica under load loses no session; only its calls in flight fail", async () => {
      const before = conformance.sessionCount();
      const traffic = load(front.mcpUrl, tokens);
      await traffic.done(15);
      const removedAt = front.routed.length;
      front.remove(2); // the dead pod's endpoint is removed; what was sent to it is lost with it
      await replicas[2].kill();
      await traffic.done(traffic.results.length + 15);
      await traffic.stop();
      const replicaOf = new Map(front.routed.filter((r) => r.id).map((r) => [r.id!, r.replica]));
      const failed = traffic.results.filter((r) => !r.ok);
      assert(failed.every((r) => replicaOf.get(r.id) === 2), `failures elsewhere: ${JSON.stringify(failed)}`);
      const sentAfter = new Set(front.routed.slice(removedAt).map((r) => r.id));
      const after = traffic.results.filter((r) => sentAfter.has(r.id));
      assert(
        after.length >= 10 && after.every((r) => r.ok),
        `every call sent after the removal succeeded: ${
          JSON.stringify(after.filter((r) => !r.ok))
        } ${after.length} ${JSON.stringify(front.routed.slice(removedAt - 3, removedAt + 5))}`,
      );
      for (const token of tokens) {
        assert(after.some((r) => r.token === token), "every session still serves");
      }
      // One backend session per client, opened before the kill and used by the survivors after it.
      assertEquals(conformance.sessionCount(), before + tokens.length, "one backend session per client");
    });

    await t.step("killing and restarting Redis under load: calls continue, and state recovers", async () => {
      const live = replicas.slice(0, 2);
      const traffic = load(front.mcpUrl, tokens);
      await traffic.done(10);
      await redis.kill();
      await waitFor(async () => {
        const statuses = await Promise.all(live.map((gw) => gw.status()));
        return statuses.every((s) => s.sessionStore.state === "degraded");
      }, "both replicas degraded");
      const readyz = await fetch(`${live[0].baseUrl}/readyz`);
      assertEquals(readyz.status, 200, "still ready: it serves from its own state");
      assertMatch(await readyz.text(), /degraded/);
      assertMatch(
        await (await fetch(`${live[1].baseUrl}/metrics`)).text(),
        /mcp_gateway_session_store_degraded 1/,
      );
      // A session opened while the store is away: each replica rebuilds it from the signed token.
      const outage = await rawInitialize(front.mcpUrl);
      for (let i = 0; i < 4; i++) {
        assert((await call(front.mcpUrl, outage)).ok, "calls on a new session work");
      }
      const mark = traffic.results.length;
      await traffic.done(mark + 10);
      await redis.restart();
      await waitFor(
        async () => {
          const statuses = await Promise.all(live.map((gw) => gw.status()));
          return statuses.every((s) => s.sessionStore.state === "ok");
        },
        "both replicas back in sync",
        20_000,
      );
      await traffic.done(traffic.results.length + 10);
      await traffic.stop();
      assert(traffic.results.every((r) => r.ok), "no call failed through the outage");
      // The store holds every session again, and the two backend sessions opened for the outage session
      // during the outage are down to one that both replicas use.
      const store = redis.client();
      for (const token of [...tokens, outage]) {
        assertEquals(await store.exists(`mcpgw:s:${sessionIdOf(token)}`), 1, "session written back");
      }
      for (let i = 0; i < 4; i++) assert((await call(front.mcpUrl, outage)).ok);
      const ids = await bindings(live, sessionIdOf(outage), "conformance");
      assert(ids[0] && ids[0] === ids[1], `one backend session for the outage session: ${ids}`);
    });
  } finally {
    await Promise.all(replicas.map((gw) => gw.stop()));
  }
});
