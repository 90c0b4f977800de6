/**
 * One slow, broken or lying backend never delays or breaks the others: each is reported on /status with
 * the reason, and the healthy server's tools are served meanwhile.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { startEverything } from "./helpers/everything.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";
import { connectClient, toolNames } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";

/** A minimal JSON MCP server whose answers are scripted per method. */
function fakeServer(answer: (method: string) => unknown | Promise<unknown>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (req.method !== "POST") return new Response(null, { status: 405 });
    const message = await req.json();
    if (!("id" in message)) return new Response(null, { status: 202 });
    const result = await answer(message.method);
    return Response.json({ jsonrpc: "2.0", id: message.id, result }, { headers: { "mcp-session-id": "s1" } });
  });
  return { url: `http://127.0.0.1:${server.addr.port}/mcp`, close: () => server.shutdown() };
}

const init = (protocolVersion: string) => ({
  protocolVersion,
  capabilities: { tools: {} },
  serverInfo: { name: "fake", version: "1" },
});

Deno.test("slow, lying and broken backends are isolated and reported", async () => {
  await using good = await startEverything();
  let release!: () => void;
  const hang = new Promise<void>((r) => release = r);
  const slow = fakeServer(async (m) => {
    await hang; // never answers initialize until the test ends
    return m === "initialize" ? init("2025-06-18") : {};
  });
  const lying = fakeServer((m) => m === "initialize" ? init("2021-11-05") : {});
  const broken = fakeServer((m) =>
    m === "initialize" ? init("2025-06-18") : m === "tools/list"
      ? {
        tools: [{ name: "ok_tool", inputSchema: { type: "object" } }, { name: "no_schema" }, {
          name: "bad name!",
          inputSchema: { type: "object" },
        }],
      }
      : {}
  );
  try {
    await using gw = await startGatewayProcess({
      config: {
        servers: [
          { name: "slow", url: slow.url, toolPrefix: "slow_" },
          { name: "lying", url: lying.url, toolPrefix: "lie_" },
          { name: "broken", url: broken.url, toolPrefix: "br_" },
          { name: "good", url: good.url, toolPrefix: "good_" },
        ],
      },
    });
    const byName = async () =>
      Object.fromEntries((await gw.status()).servers.map((s: { name: string }) => [s.name, s])) as Record<
        string,
        any
      >;
    await waitFor(
      async () => (await byName()).good.ready && (await byName()).broken.ready,
      "good and broken ready",
    );
    const status = await byName();
    assertEquals(status.slow.ready, false);
    assertEquals(status.lying.ready, false);
    await waitFor(async () => (await byName()).lying.lastError, "the lying server's failure reported");
    assertMatch((await byName()).lying.message, /protocol version/i);

    await using client = await connectClient(gw.mcpUrl);
    const names = await toolNames(client.client);
    assert(names.includes("good_echo"));
    // The broken server's valid tool is served; the invalid ones are not.
    assertEquals(names.filter((n) => n.startsWith("br_")), ["br_ok_tool"]);
    assert(!names.some((n) => n.startsWith("slow_") || n.startsWith("lie_")));
    const result = await client.client.callTool({ name: "good_echo", arguments: { message: "isolated" } });
    assertEquals(result.content, [{ type: "text", text: "Echo: isolated" }]);
  } finally {
    release();
    await slow.close();
    await lying.close();
    await broken.close();
  }
});
