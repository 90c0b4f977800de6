/**
 * The SDK v2 test backend (tests/servers/modern.ts), run as a process in each of its three modes, meets
 * SDK v2 clients the way the spec's compatibility matrix says it should: pinned 2026-07-28 and `auto`
 * clients reach a 2026 or dual-era backend in the modern era, a 2025 client reaches a dual-era or 2025
 * backend through `initialize`, and every other pairing fails with the spec's error. The tools the gateway
 * tests lean on (elicitation, sampling, progress, list changes, resource updates, `inspect`) work in
 * whichever era the connection settled on.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { spawnServer } from "./servers/serve.ts";
import { COUNTER_URI, EXTRA_TOOL, MODERN_PROMPTS, MODERN_TOOLS, startModern } from "./servers/modern.ts";
import { connectClientV2, LEGACY_VERSION, MODERN_VERSION } from "./helpers/mcp_client_v2.ts";
import { rawPost } from "./helpers/mcp_client.ts";
import type { VersionNegotiationMode } from "@modelcontextprotocol/client";

const MODERN_SCRIPT = new URL("./servers/modern.ts", import.meta.url);

const BACKEND_FLAGS = {
  modern: ["--modern-only"],
  dual: [],
  legacy: ["--legacy-only"],
} as const;

const CLIENT_MODES: Record<string, VersionNegotiationMode> = {
  pinned: { pin: MODERN_VERSION },
  auto: "auto",
  legacy: "legacy",
};

/** Which era each (backend, client) pairing settles on; `undefined`: connect must fail. */
const EXPECTED: Record<keyof typeof BACKEND_FLAGS, Record<string, "modern" | "legacy" | undefined>> = {
  modern: { pinned: "modern", auto: "modern", legacy: undefined },
  dual: { pinned: "modern", auto: "modern", legacy: "legacy" },
  legacy: { pinned: undefined, auto: "legacy", legacy: "legacy" },
};

const textOf = (result: { content?: unknown }) => (result.content as { text: string }[])[0].text;

for (const backend of Object.keys(BACKEND_FLAGS) as (keyof typeof BACKEND_FLAGS)[]) {
  Deno.test(`modern backend (${backend}): SDK v2 clients list and call in the era they negotiate`, async () => {
    await using served = await spawnServer(MODERN_SCRIPT, [...BACKEND_FLAGS[backend]]);
    for (const [clientName, mode] of Object.entries(CLIENT_MODES)) {
      const expected = EXPECTED[backend][clientName];
      if (!expected) {
        await rejects(
          connectClientV2(served.url, { mode }),
          `${clientName} client must not connect to ${backend}`,
        );
        continue;
      }
      await using mcp = await connectClientV2(served.url, { mode });
      assertEquals(mcp.era, expected, `${clientName} client on ${backend} backend`);
      assertEquals(mcp.protocolVersion, expected === "modern" ? MODERN_VERSION : LEGACY_VERSION);

      const tools = (await mcp.client.listTools()).tools.map((t) => t.name);
      for (const name of MODERN_TOOLS) assert(tools.includes(name), `${name} missing from ${tools}`);
      assertEquals((await mcp.client.listPrompts()).prompts.map((p) => p.name), [...MODERN_PROMPTS]);

      assertEquals(
        textOf(await mcp.client.callTool({ name: "echo", arguments: { message: "hi" } })),
        "Echo: hi",
      );
      assertEquals(
        textOf(await mcp.client.callTool({ name: "confirm", arguments: { question: "Ship it?" } })),
        'confirmed: action=accept, content={"confirmed":true,"name":"tester"}',
      );
      assertEquals(
        textOf(await mcp.client.callTool({ name: "sample", arguments: { prompt: "2+2" } })),
        "sampled answer: sampled: 2+2",
      );
      const progress: number[] = [];
      await mcp.client.callTool({ name: "progress", arguments: { steps: 3 } }, {
        onprogress: (p) => progress.push(p.progress),
      });
      assertEquals(progress, [1, 2, 3]);
    }
  });
}

Deno.test("modern backend (dual): one toggle reaches a 2026 listen stream and a 2025 session", async () => {
  await using served = await startModern({ mode: "dual" });
  await using modern = await connectClientV2(served.url, { mode: { pin: MODERN_VERSION } });
  await using legacy = await connectClientV2(served.url, { mode: "legacy" });
  const subscription = await modern.client.listen({
    toolsListChanged: true,
    resourceSubscriptions: [COUNTER_URI],
  });
  assertEquals(subscription.honoredFilter, { toolsListChanged: true, resourceSubscriptions: [COUNTER_URI] });
  await legacy.client.subscribeResource({ uri: COUNTER_URI });

  await modern.client.callTool({ name: "toggle_extra", arguments: {} });
  const changed = await modern.nextNotification("notifications/tools/list_changed");
  assert((changed.params?._meta as Record<string, unknown>)["io.modelcontextprotocol/subscriptionId"]);
  await legacy.nextNotification("notifications/tools/list_changed");
  assert(
    (await legacy.client.listTools()).tools.some((t) => t.name === EXTRA_TOOL),
    "2025 session sees the tool",
  );
  assert(
    (await modern.client.listTools()).tools.some((t) => t.name === EXTRA_TOOL),
    "2026 request sees the tool",
  );

  await legacy.client.callTool({ name: "bump_counter", arguments: {} });
  assertEquals((await modern.nextNotification("notifications/resources/updated")).params?.uri, COUNTER_URI);
  assertEquals((await legacy.nextNotification("notifications/resources/updated")).params?.uri, COUNTER_URI);
  await subscription.close();
});

Deno.test("modern backend: inspect and requests report the headers and _meta that reached the backend", async () => {
  await using served = await startModern({ mode: "dual" });
  await using modern = await connectClientV2(served.url, { mode: { pin: MODERN_VERSION } });
  const report = (await modern.client.callTool({ name: "inspect", arguments: { note: "x" } }))
    .structuredContent as any;
  assertEquals(report.era, "modern");
  assertEquals(report.headers["mcp-method"], "tools/call");
  assertEquals(report.headers["mcp-name"], "inspect");
  assertEquals(report.headers["mcp-protocol-version"], MODERN_VERSION);
  assertEquals(report.envelope["io.modelcontextprotocol/protocolVersion"], MODERN_VERSION);
  assertEquals(report.sessionId, null);

  await using legacy = await connectClientV2(served.url, { mode: "legacy" });
  const old = (await legacy.client.callTool({ name: "inspect", arguments: {} })).structuredContent as any;
  assertEquals(old.era, "legacy");
  assertEquals(old.envelope, {});
  assertEquals(old.headers["mcp-session-id"], legacy.transport.sessionId);

  const seen = (await modern.client.callTool({ name: "requests", arguments: { method: "server/discover" } }))
    .structuredContent as { requests: { headers: Record<string, string>; meta: Record<string, unknown> }[] };
  assertEquals(seen.requests.length, 1);
  assertEquals(seen.requests[0].headers["mcp-method"], "server/discover");
  assertEquals(seen.requests[0].meta["io.modelcontextprotocol/protocolVersion"], MODERN_VERSION);
});

Deno.test("modern backend: an Mcp-Param header that disagrees with the body is refused (400, -32020)", async () => {
  await using served = await startModern({ mode: "modern" });
  await using mcp = await connectClientV2(served.url, { mode: { pin: MODERN_VERSION }, record: true });
  await mcp.client.listTools();
  assertEquals(
    textOf(await mcp.client.callTool({ name: "region_echo", arguments: { region: "eu" } })),
    "region=eu message=",
  );
  assertEquals(mcp.requests.at(-1)?.headers.get("mcp-param-region"), "eu");

  const call = (region: string) =>
    rawPost(
      served.url,
      JSON.stringify({
        jsonrpc: "2.0",
        id: 3,
        method: "tools/call",
        params: {
          name: "region_echo",
          arguments: { region: "eu" },
          _meta: {
            "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
            "io.modelcontextprotocol/clientCapabilities": {},
          },
        },
      }),
      {
        "mcp-protocol-version": MODERN_VERSION,
        "mcp-method": "tools/call",
        "mcp-name": "region_echo",
        "mcp-param-region": region,
      },
    );
  const mismatch = await call("us");
  assertEquals(mismatch.status, 400);
  assertEquals(mismatch.json.error.code, -32020);
  assertEquals((await call("eu")).status, 200);
});

Deno.test("modern backend (modern-only): 2025 session operations are refused as the spec says", async () => {
  await using served = await startModern({ mode: "modern" });
  const get = await fetch(served.url, { headers: { accept: "text/event-stream" } });
  await get.body?.cancel();
  assertEquals(get.status, 405);
  const init = await rawPost(
    served.url,
    JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: LEGACY_VERSION,
        capabilities: {},
        clientInfo: { name: "old", version: "1" },
      },
    }),
  );
  assertEquals(init.status, 400);
  assertEquals(init.json.error.code, -32022);
  assertEquals(init.json.error.data.supported, [MODERN_VERSION]);
});
