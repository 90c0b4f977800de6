/**
 * A conformance *client* built on the MCP SDK v2, for the suite's client scenarios
 * (`conformance client --command "deno run -A tests/servers/conformance_client_v2.ts" --scenario NAME`).
 * The suite starts a scenario server, runs the command with that server's URL appended as the last
 * argument, and passes `MCP_CONFORMANCE_SCENARIO`, `MCP_CONFORMANCE_PROTOCOL_VERSION` and (for some
 * scenarios) `MCP_CONFORMANCE_CONTEXT` (JSON) in the environment. Gateway tests put the gateway between
 * this client and the scenario server.
 *
 * The era follows `MCP_CONFORMANCE_PROTOCOL_VERSION`: 2026-07-28 pins the modern era (`server/discover`,
 * per-request `_meta`, `Mcp-Method`/`Mcp-Name`/`Mcp-Param-*`, auto-fulfilled `input_required`); anything
 * else is the plain 2025 `initialize`. `--auto` probes instead of pinning. Exits non-zero on failure.
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const MODERN = "2026-07-28";

interface ToolCall {
  name: string;
  arguments?: Record<string, unknown>;
}

function context(): { toolCalls?: ToolCall[] } {
  const raw = Deno.env.get("MCP_CONFORMANCE_CONTEXT");
  return raw ? JSON.parse(raw) : {};
}

/** Lists every tool and calls it (with the scenario's arguments when the context names them). */
async function callEveryTool(client: Client): Promise<void> {
  const { tools } = await client.listTools();
  const given = new Map((context().toolCalls ?? []).map((c) => [c.name, c.arguments ?? {}]));
  for (const tool of tools) {
    await client.callTool({ name: tool.name, arguments: given.get(tool.name) ?? {} }).catch((e) =>
      console.error(`tools/call ${tool.name}: ${e}`)
    );
  }
}

async function visitEverything(client: Client): Promise<void> {
  await callEveryTool(client);
  const caps = client.getServerCapabilities() ?? {};
  if (caps.resources) {
    for (const r of (await client.listResources()).resources) await client.readResource({ uri: r.uri });
  }
  if (caps.prompts) {
    for (const p of (await client.listPrompts()).prompts) {
      const args = Object.fromEntries((p.arguments ?? []).map((a) => [a.name, "test"]));
      await client.getPrompt({ name: p.name, arguments: args });
    }
  }
}

const SCENARIOS: Record<string, (client: Client) => Promise<void>> = {
  initialize: async () => {},
  tools_call: async (client) => {
    await client.callTool({ name: "add_numbers", arguments: { a: 5, b: 3 } });
  },
  "request-metadata": async (client) => {
    await client.listTools();
    await client.callTool({ name: "any_tool", arguments: {} }).catch(() => {});
  },
  "http-standard-headers": visitEverything,
  "http-custom-headers": callEveryTool,
  "http-invalid-tool-headers": callEveryTool,
  "sep-2322-client-request-state": callEveryTool,
};

export async function runConformanceClient(url: string, scenario: string, version: string, auto: boolean) {
  const run = SCENARIOS[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario} (known: ${Object.keys(SCENARIOS).join(", ")})`);
  const client = new Client(
    { name: "mcp-gateway-conformance-client-v2", version: "1.0.0" },
    {
      capabilities: { elicitation: {}, sampling: {}, roots: {} },
      versionNegotiation: { mode: version === MODERN ? (auto ? "auto" : { pin: MODERN }) : "legacy" },
    },
  );
  client.setRequestHandler("elicitation/create", () => ({ action: "accept", content: { confirmed: true } }));
  client.setRequestHandler("sampling/createMessage", () => ({
    role: "assistant",
    content: { type: "text", text: "conformance client sample" },
    model: "test-model",
    stopReason: "endTurn",
  }));
  client.setRequestHandler("roots/list", () => ({ roots: [{ uri: "file:///tmp", name: "tmp" }] }));
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  try {
    await run(client);
  } finally {
    if (transport.sessionId) await transport.terminateSession().catch(() => {});
    await client.close();
  }
}

if (import.meta.main) {
  const args = Deno.args.filter((a) => a !== "--auto");
  const url = args.at(-1);
  const scenario = Deno.env.get("MCP_CONFORMANCE_SCENARIO") ?? "";
  if (!url) {
    console.error("usage: conformance_client_v2.ts [--auto] URL (scenario from MCP_CONFORMANCE_SCENARIO)");
    Deno.exit(2);
  }
  try {
    await runConformanceClient(
      url,
      scenario,
      Deno.env.get("MCP_CONFORMANCE_PROTOCOL_VERSION") ?? "",
      Deno.args.includes("--auto"),
    );
    Deno.exit(0);
  } catch (e) {
    console.error(e);
    Deno.exit(1);
  }
}
