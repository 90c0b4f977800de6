/**
 * Local workers (`--workers`) and the Envoy data path with several replicas, sharing sessions through a real
 * `redis-server` (issue 12).
 */
// @ts-types="@modelcontextprotocol/sdk/types"
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { startEverything } from "./helpers/everything.ts";
import { runGatewayToExit, startGatewayFor } from "./helpers/gateway.ts";
import { connectClient, rawInitialize, sessionIdOf, toolCallBody } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startRedis } from "./helpers/redis.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";
import { startConformance } from "./servers/conformance.ts";

/** A request on a connection of its own: the kernel picks the worker anew for each. */
async function fresh<T>(use: (client: Deno.HttpClient) => Promise<T>): Promise<T> {
  const client = Deno.createHttpClient({});
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

/** Which worker answers a new connection, and the backend session it holds for (session, server). */
function workerView(baseUrl: string, session: string, server: string) {
  return fresh(async (client) => {
    const status = await (await fetch(`${baseUrl}/status`, { client })).json();
    const projections = await (await fetch(`${baseUrl}/debug/projections?name=sessions`, { client })).json();
    return {
      replica: status.sessionStore.replica as string,
      ready: status.servers.every((s: { ready: boolean }) => s.ready),
      binding: projections.sessions.open[session]?.backends?.[server]?.id as string | undefined,
    };
  });
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test("--workers 2 share the port and the sessions; a crashed worker is started again", async () => {
  await using redis = await startRedis();
  await using conformance = await startConformance();
  await using gw = await startGatewayFor([{ name: "conformance", url: conformance.url, toolPrefix: "c_" }], {
    args: ["--session-store", redis.url, "--workers", "2"],
  });
  const workers = async (session = "") => {
    const seen = new Map<string, Awaited<ReturnType<typeof workerView>>>();
    for (let i = 0; i < 12; i++) {
      const view = await workerView(gw.baseUrl, session, "conformance");
      seen.set(view.replica, view);
    }
    return seen;
  };
  const first = await waitFor(async () => {
    const seen = await workers();
    return seen.size === 2 && [...seen.values()].every((w) => w.ready) ? seen : undefined;
  }, "two workers answering on the one port, both ready");
  assertEquals(conformance.sessionCount(), 2, "each worker connects to the backend");

  const token = await rawInitialize(gw.mcpUrl);
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-session-id": token,
  };
  const callOnFreshConnections = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const text = await fresh(async (client) =>
        (await fetch(gw.mcpUrl, {
          method: "POST",
          headers,
          body: toolCallBody(i, "c_test_simple_text"),
          client,
        }))
          .text()
      );
      assertMatch(text, /"result"/);
    }
  };
  await callOnFreshConnections(8);
  assertEquals(conformance.sessionCount(), 3, "one backend session for the client, whichever worker served");
  const session = sessionIdOf(token);
  const known = await waitFor(async () => {
    const seen = await workers(session);
    return seen.size === 2 && [...seen.values()].every((w) => w.binding) ? seen : undefined;
  }, "both workers knowing the client's backend session");
  const ids = [...known.values()].map((w) => w.binding);
  assertEquals(ids[0], ids[1]);

  // A worker crashes: the parent starts another in its place, which serves the same sessions.
  const crashed = [...first.keys()][0];
  const pid = Number(crashed.split("/")[1]);
  Deno.kill(pid, "SIGKILL");
  const after = await waitFor(
    async () => {
      const seen = await workers(session);
      const replaced = seen.size === 2 && !seen.has(crashed);
      return replaced && [...seen.values()].every((w) => w.ready && w.binding) ? seen : undefined;
    },
    "a new worker in place of the crashed one",
    20_000,
  );
  assert([...after.values()].every((w) => w.binding === ids[0]), "it knows the client's backend session");
  await callOnFreshConnections(4);
  assertEquals(
    conformance.sessionCount(),
    4,
    "the crashed worker's discovery session is replaced, nothing more",
  );

  const pids = [...after.keys()].map((replica) => Number(replica.split("/")[1]));
  await gw.stop();
  assert(pids.every((p) => !alive(p)), "SIGTERM to the parent stops every worker");
});

Deno.test("--workers 2 without a shared session store is refused with the reason", async () => {
  const { code, output } = await runGatewayToExit({ config: { servers: [] }, args: ["--workers", "2"] });
  assertEquals(code, 2);
  assertMatch(output, /--workers 2 needs a shared session store \(--session-store redis:/);
});

Deno.test("the store the config names (urlFile, as the controller writes it) serves every worker; a new one waits for a restart", async () => {
  await using redis = await startRedis();
  await using conformance = await startConformance();
  const dir = await Deno.makeTempDir({ prefix: "mcp-gw-store-" });
  try {
    // As the controller writes it: the URL in a file (a mounted Secret), the config naming the file.
    const urlFile = `${dir}/session-store-url`;
    await Deno.writeTextFile(urlFile, `${redis.url}\n`);
    const servers = [{ name: "conformance", url: conformance.url, toolPrefix: "c_" }];
    await using gw = await startGatewayFor(servers, {
      config: { sessionStore: { urlFile } },
      args: ["--workers", "2"],
    });
    const stores = () =>
      fresh(async (client) => (await (await fetch(`${gw.baseUrl}/status`, { client })).json()).sessionStore);
    const replicas = await waitFor(async () => {
      const seen = new Map<string, { kind: string; state: string }>();
      for (let i = 0; i < 12; i++) {
        const store = await stores();
        seen.set(store.replica, store);
      }
      return seen.size === 2 ? seen : undefined;
    }, "two workers answering");
    assert([...replicas.values()].every((s) => s.kind === "redis"), JSON.stringify([...replicas.values()]));

    // Another store named later: said in the log (its password never), the running store kept.
    await gw.writeConfig({ servers, sessionStore: { url: "redis://user:hunter2@127.0.0.1:1/0" } });
    await waitFor(
      () => gw.logs().includes("the config names another session store"),
      "the change noticed",
    );
    assert(!gw.logs().includes("hunter2"), "the new store's password is not logged");
    const store = await stores();
    assertEquals([store.kind, store.state], ["redis", "ok"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two replicas behind Envoy share backend sessions and answer each other's elicitations", async () => {
  await using redis = await startRedis();
  await using conformance = await startConformance();
  await using everything = await startEverything();
  await using stack = await startEnvoyStack([
    { name: "conformance", url: conformance.url, hostname: "conformance.mcp.local", toolPrefix: "c_" },
    { name: "everything", url: everything.url, hostname: "everything.mcp.local", toolPrefix: "e_" },
  ], { replicas: 2, sessionStore: redis.url });
  const base = conformance.sessionCount();
  await using mcp = await connectClient(stack.mcpUrl, { capabilities: { elicitation: {} } });
  for (let i = 0; i < 6; i++) {
    const result = await mcp.client.callTool({ name: "c_test_simple_text", arguments: {} });
    assert(JSON.stringify(result.content).includes("text"), JSON.stringify(result));
  }
  assertEquals(conformance.sessionCount(), base + 1, "the routers opened one backend session for the client");
  const session = sessionIdOf(mcp.transport.sessionId!);
  const ids = stack.replicas.map((r) =>
    r.gateway.context.sessions.state.open.get(session)?.backends?.get("conformance")?.id
  );
  assert(ids[0] && ids[0] === ids[1], `both replicas route to it: ${ids}`);

  mcp.client.setRequestHandler(ElicitRequestSchema, () => ({
    action: "accept" as const,
    content: { name: "Ada Lovelace", check: true },
  }));
  for (let i = 0; i < 2; i++) {
    // Twice: whichever router carried the call, the answer goes through the other one at least once.
    const result = await mcp.client.callTool({ name: "e_trigger-elicitation-request", arguments: {} });
    assert(JSON.stringify(result.content).includes("Ada Lovelace"), JSON.stringify(result.content));
  }
});
