/**
 * SIGTERM under load loses nothing: calls in flight (streamed ones included) get their whole answer, GET
 * streams end cleanly, backend sessions are DELETEd, new connections are refused, and the process exits 0.
 * With `--shutdown-delay`, `/readyz` answers 503 at once while new work is still served. The router lets
 * an open ext_proc stream finish the same way.
 */
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { type GatewayProcess, startGatewayProcess } from "./helpers/gateway.ts";
import { rawInitialize, rawPost } from "./helpers/mcp_client.ts";
import { freePort, waitFor } from "./helpers/ports.ts";
import { startEnvoyHarness } from "./harness/envoy.ts";
import { serveMcp } from "./servers/serve.ts";

const STEPS = 8;
const STEP_MS = 300;

/** A backend whose `slow` tool streams `steps` progress notifications, `stepMs` apart, then answers. */
function createSlowServer(): McpServer {
  const server = new McpServer({ name: "slow", version: "1.0.0" }, { capabilities: { tools: {} } });
  server.registerTool("slow", {
    description: "Counts slowly, reporting progress",
    inputSchema: { steps: z.number().int().min(0), stepMs: z.number().int().min(0) },
  }, async ({ steps, stepMs }, extra) => {
    const token = extra._meta?.progressToken;
    for (let i = 1; i <= steps; i++) {
      await new Promise((r) => setTimeout(r, stepMs));
      if (token !== undefined) {
        await extra.sendNotification({
          method: "notifications/progress",
          params: { progressToken: token, progress: i, total: steps },
        });
      }
    }
    return { content: [{ type: "text", text: `counted to ${steps}` }] };
  });
  return server;
}

function slowCall(id: number, steps: number, stepMs: number): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: "s_slow", arguments: { steps, stepMs }, _meta: { progressToken: `p${id}` } },
  });
}

/** A streamed call: how many progress events arrived, and the final answer (or what went wrong). */
async function streamCall(url: string, session: string, body: string, onProgress: () => void) {
  let progress = 0;
  let text = "";
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": session,
        "mcp-protocol-version": "2025-11-25",
      },
      body,
    });
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const seen = text.split('"notifications/progress"').length - 1;
      if (seen > progress) {
        progress = seen;
        onProgress();
      }
    }
    return { status: res.status, progress, result: /"result":\{.*?"text":"([^"]*)"/.exec(text)?.[1] };
  } catch (e) {
    return { status: 0, progress, error: `${e}: ${(e as Error).cause ?? ""}` };
  }
}

/** A client's GET stream: resolves with "ended" when the server closes it cleanly, else the error. */
async function openGetStream(
  url: string,
  session: string,
): Promise<{ opened: boolean; end: Promise<string> }> {
  const res = await fetch(url, {
    headers: { accept: "text/event-stream", "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" },
  });
  const end = (async () => {
    try {
      for await (const _ of res.body!) { /* keep-alive comments */ }
      return "ended";
    } catch (e) {
      return `error: ${e}`;
    }
  })();
  return { opened: res.status === 200, end };
}

/** A request on a connection of its own (never a pooled one), as a new client would open. */
async function onNewConnection(url: string, init: RequestInit = {}): Promise<number | string> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    const res = await fetch(url, { ...init, client });
    await res.body?.cancel();
    return res.status;
  } catch (e) {
    return String((e as Error).cause ?? e);
  } finally {
    client.close();
  }
}

async function exitedWithin(gw: GatewayProcess, ms: number): Promise<Deno.CommandStatus> {
  return await Promise.race([
    gw.exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms)
    ),
  ]);
}

Deno.test("SIGTERM under load: calls in flight finish, GET streams end, backend sessions are DELETEd, exit 0", async () => {
  await using backend = await serveMcp(createSlowServer);
  await using gw = await startGatewayProcess({
    config: { servers: [{ name: "slow", url: backend.url, toolPrefix: "s_" }] },
  });
  await waitFor(async () => (await gw.status()).healthyServers === 1, "backend ready");
  const discoverySessions = backend.sessionCount();

  const clients = 4;
  const sessions = await Promise.all(Array.from({ length: clients }, () => rawInitialize(gw.mcpUrl)));
  const streams = await Promise.all(sessions.map((s) => openGetStream(gw.mcpUrl, s)));
  assert(streams.every((s) => s.opened), "GET streams open");
  let started = 0;
  const calls = sessions.map((s, i) =>
    streamCall(gw.mcpUrl, s, slowCall(i, STEPS, STEP_MS), () => started++)
  );
  await waitFor(() => started >= clients, "every call streaming");
  assertEquals(backend.sessionCount(), discoverySessions + clients, "one backend session per client");

  const signalled = Date.now();
  Deno.kill(gw.pid, "SIGTERM");
  // New connections are refused while the calls in flight still run.
  await waitFor(
    async () => /refused/i.test(String(await onNewConnection(`${gw.baseUrl}/healthz`))),
    "new connections refused",
    2_000,
    20,
  );
  assert(Date.now() - signalled < STEPS * STEP_MS, "refused before the calls in flight ended");

  const results = await Promise.all(calls);
  for (const r of results) {
    assertEquals(r, { status: 200, progress: STEPS, result: `counted to ${STEPS}` }, JSON.stringify(r));
  }
  assertEquals(await Promise.all(streams.map((s) => s.end)), Array(clients).fill("ended"));
  const status = await exitedWithin(gw, 10_000);
  assertEquals(status.code, 0, gw.logs());
  assertEquals(backend.sessionCount(), discoverySessions, "every client's backend session was DELETEd");
  assertMatch(gw.logs(), /stopped .*connectionsCut=0/);
});

Deno.test("--shutdown-delay: /readyz answers 503 at once while new work is still served, then the door closes", async () => {
  await using backend = await serveMcp(createSlowServer);
  await using gw = await startGatewayProcess({
    config: { servers: [{ name: "slow", url: backend.url, toolPrefix: "s_" }] },
    args: ["--shutdown-delay", "1.5", "--shutdown-grace", "10"],
  });
  await waitFor(async () => (await gw.status()).healthyServers === 1, "backend ready");
  assertEquals(await onNewConnection(`${gw.baseUrl}/readyz`), 200);
  const session = await rawInitialize(gw.mcpUrl);

  const signalled = Date.now();
  Deno.kill(gw.pid, "SIGTERM");
  await waitFor(async () => await onNewConnection(`${gw.baseUrl}/readyz`) === 503, "/readyz 503", 1_000, 20);
  // Still serving new connections: a call, and a brand-new session.
  const call = await rawPost(gw.mcpUrl, slowCall(1, 0, 0), { "mcp-session-id": session });
  assertEquals(call.status, 200, call.text);
  assertMatch(call.text, /counted to 0/);
  await rawInitialize(gw.mcpUrl);
  assert(Date.now() - signalled < 1_500, "all of that within the delay");

  await waitFor(
    async () => /refused/i.test(String(await onNewConnection(`${gw.baseUrl}/healthz`))),
    "new connections refused after the delay",
    5_000,
    20,
  );
  assert(Date.now() - signalled >= 1_400, `refused only after the delay (${Date.now() - signalled} ms)`);
  assertEquals((await exitedWithin(gw, 10_000)).code, 0, gw.logs());
});

Deno.test("SIGTERM with an ext_proc stream open: the router lets it finish and the call succeeds via Envoy", async () => {
  await using backend = await serveMcp(createSlowServer);
  // The backend's answer to tools/call is held back, so the router's stream waits for the response headers.
  let held = 0;
  const front = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = req.body ? await req.text() : undefined;
    if (body?.includes('"tools/call"')) {
      held++;
      await new Promise((r) => setTimeout(r, 2_500));
    }
    return fetch(backend.url, { method: req.method, headers: req.headers, body });
  });
  const envoyPort = freePort();
  const hostname = "slow.mcp.local";
  await using gw = await startGatewayProcess({
    config: {
      servers: [{ name: "slow", url: `http://127.0.0.1:${front.addr.port}/mcp`, hostname, toolPrefix: "s_" }],
    },
    args: ["--mcp-gateway-private-host", `127.0.0.1:${envoyPort}`],
  });
  await using envoy = await startEnvoyHarness({
    extProc: gw.routerAddress!,
    port: envoyPort,
    clusters: { [hostname]: `http://127.0.0.1:${front.addr.port}` },
    defaultCluster: gw.baseUrl,
  });
  try {
    await waitFor(async () => (await gw.status()).healthyServers === 1, "backend ready");
    const session = await rawInitialize(`${envoy.url}/mcp`);
    const call = rawPost(`${envoy.url}/mcp`, slowCall(7, 2, 10), { "mcp-session-id": session });
    await waitFor(() => held > 0, "the call waiting at the backend");
    Deno.kill(gw.pid, "SIGTERM");
    const res = await call;
    assertEquals(res.status, 200, res.text);
    assertMatch(res.text, /counted to 2/);
    const exchange = envoy.exchanges.find((e) => e.upstream?.includes(String(front.addr.port)));
    assertEquals(exchange?.status, 200);
    assertEquals((await exitedWithin(gw, 10_000)).code, 0, gw.logs());
  } finally {
    await front.shutdown();
  }
});
