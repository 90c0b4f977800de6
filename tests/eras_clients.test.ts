/**
 * SDK v2 clients through the gateway: one pinned to 2026-07-28 and one in `auto` (probe `server/discover`,
 * fall back to `initialize`) both settle on 2026-07-28 with the gateway, list, call and hear progress; the
 * gateway's own answers (`server/discover`, lists) carry what 2026 asks of them: both eras' versions, the
 * gateway's identity, the backends' extensions, and the lists' aggregate cache hint.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { rawPost } from "./helpers/mcp_client.ts";
import { connectClientV2, MODERN_VERSION, modernRequest } from "./helpers/mcp_client_v2.ts";
import { startModern } from "./servers/modern.ts";
import { startConformanceV2 } from "./servers/conformance_v2.ts";
import { waitFor } from "./helpers/ports.ts";

const textOf = (result: { content?: unknown }) => (result.content as { text: string }[])[0].text;

for (const [name, mode] of [["pinned", { pin: MODERN_VERSION }], ["auto", "auto"]] as const) {
  Deno.test(`SDK v2 client (${name}) through the gateway: 2026-07-28, list, call, progress`, async () => {
    await using backend = await startModern({ mode: "dual" });
    await using gw = await startGatewayFor([{ name: "modern", url: backend.url, toolPrefix: "m_" }]);
    await using mcp = await connectClientV2(gw.mcpUrl, { mode, record: true });
    assertEquals([mcp.era, mcp.protocolVersion], ["modern", MODERN_VERSION]);
    assertEquals(mcp.client.getServerVersion()?.name, "mcp-gateway");
    const discover = mcp.client.getDiscoverResult()!;
    assertEquals(discover.supportedVersions.slice(0, 2), [MODERN_VERSION, "2025-11-25"]);

    const tools = (await mcp.client.listTools()).tools.map((t) => t.name);
    assert(tools.includes("m_echo") && tools.includes("m_progress"), String(tools));
    assertEquals(
      textOf(await mcp.client.callTool({ name: "m_echo", arguments: { message: name } })),
      `Echo: ${name}`,
    );
    const progress: number[] = [];
    const result = await mcp.client.callTool(
      { name: "m_progress", arguments: { steps: 3 } },
      { onprogress: (p) => progress.push(p.progress) },
    );
    assertEquals(textOf(result), "progress done: 3 steps");
    assertEquals(progress, [1, 2, 3]);
    // Never a session: no Mcp-Session-Id went out, and no GET.
    assert(mcp.requests.every((r) => r.method === "POST" && !r.headers.has("mcp-session-id")));
  });
}

Deno.test("2026 lists carry the smallest TTL of their upstreams, private when one is private or it depends on the caller", async () => {
  await using slow = await startModern({
    mode: "modern",
    listCacheHint: { ttlMs: 60_000, cacheScope: "public" },
  });
  await using fast = await startModern({
    mode: "dual",
    listCacheHint: { ttlMs: 5_000, cacheScope: "public" },
  });
  await using gw = await startGatewayFor([
    { name: "slow", url: slow.url, toolPrefix: "s_" },
    { name: "fast", url: fast.url, toolPrefix: "f_" },
  ], { config: { virtualServers: [{ name: "echoes", tools: ["s_echo", "f_echo"] }] } });
  const list = async (method: string, headers: Record<string, string> = {}) => {
    const r = modernRequest(method);
    const res = await rawPost(gw.mcpUrl, JSON.stringify(r.body), { ...r.headers, ...headers });
    return (res.json as { result: Record<string, unknown> }).result;
  };
  for (const method of ["tools/list", "prompts/list", "resources/list", "resources/templates/list"]) {
    const result = await list(method);
    assertEquals([result.resultType, result.ttlMs, result.cacheScope], ["complete", 5_000, "public"], method);
    assertEquals(result._meta, {
      "io.modelcontextprotocol/serverInfo": { name: "mcp-gateway", version: "0.1.0" },
    });
  }
  // A virtual server narrows the list for this caller: not for a shared cache.
  const narrowed = await list("tools/list", { "x-mcp-virtualserver": "echoes" });
  assertEquals((narrowed.tools as { name: string }[]).map((t) => t.name), ["f_echo", "s_echo"]);
  assertEquals(narrowed.cacheScope, "private");

  // A 2025 list answer stays what it was: no 2026 members.
  await using old = await connectClientV2(gw.mcpUrl, { mode: "legacy" });
  const raw = await old.client.request({ method: "tools/list", params: {} }, (await import("zod")).z.any());
  assertEquals([raw.ttlMs, raw.cacheScope, raw.resultType], [undefined, undefined, undefined]);
});

Deno.test("2026 lists: a 2025 upstream promises no freshness (TTL 0), a private one makes the list private", async () => {
  await using cached = await startModern({
    mode: "modern",
    listCacheHint: { ttlMs: 60_000, cacheScope: "public" },
  });
  await using legacy = await startModern({ mode: "legacy" });
  await using personal = await startModern({
    mode: "modern",
    listCacheHint: { ttlMs: 30_000, cacheScope: "private" },
  });
  await using gw = await startGatewayFor([
    { name: "cached", url: cached.url, toolPrefix: "c_" },
    { name: "legacy", url: legacy.url, toolPrefix: "l_" },
    { name: "personal", url: personal.url, toolPrefix: "p_" },
  ]);
  const r = modernRequest("prompts/list");
  const res = await rawPost(gw.mcpUrl, JSON.stringify(r.body), r.headers);
  const result = (res.json as { result: Record<string, unknown> }).result;
  assertEquals([result.ttlMs, result.cacheScope], [0, "private"]);
});

Deno.test("server/discover: both eras, the gateway's identity, and a backend's extension only while one has it", async () => {
  await using backend = await startConformanceV2({ mode: "modern" });
  await using gw = await startGatewayFor([{ name: "conformance", url: backend.url, toolPrefix: "" }]);
  const discover = async () => {
    const r = modernRequest("server/discover", {}, "d-1");
    const res = await rawPost(gw.mcpUrl, JSON.stringify(r.body), r.headers);
    assertEquals(res.status, 200, res.text);
    return (res.json as { id: unknown; result: Record<string, any> });
  };
  const { id, result } = await discover();
  assertEquals(id, "d-1");
  assertEquals(result.resultType, "complete");
  assertEquals(result.supportedVersions, [
    MODERN_VERSION,
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
  ]);
  assertEquals(result._meta["io.modelcontextprotocol/serverInfo"].name, "mcp-gateway");
  assertEquals([typeof result.ttlMs, result.cacheScope], ["number", "public"]);
  assert(result.capabilities.tools && result.capabilities.prompts && result.capabilities.resources);
  assert(
    result.capabilities.extensions?.["io.modelcontextprotocol/tasks"],
    JSON.stringify(result.capabilities),
  );
  // The backend goes away: so does the extension.
  await gw.writeConfig({ servers: [] });
  await waitFor(
    async () => (await discover()).result.capabilities.extensions === undefined,
    "extension gone",
  );
  assertEquals((await discover()).result.capabilities.tools, { listChanged: true });
});
