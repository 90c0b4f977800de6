/**
 * Many fake MCP backends in one process, for the scale scenario: `--servers N` listeners on loopback,
 * each with `--tools M` echo tools named `t0…t{M-1}` (`tN {message}` → `Echo: <message>`). Plain JSON-RPC
 * over `Deno.serve`, stateful like real servers (it mints `Mcp-Session-Id`, but does not police it).
 * `GET /last-list` on any of them: when the fleet last answered `tools/list` (epoch ms).
 *
 * Run: `deno run -A bench/fleet.ts --servers 100 --tools 50` → one line `fleet [url,…]` on stdout.
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { servers: { type: "string", default: "100" }, tools: { type: "string", default: "50" } },
});
const toolCount = Number(values.tools);

function toolsOf(server: number) {
  return Array.from({ length: toolCount }, (_, j) => ({
    name: `t${j}`,
    description: `Tool ${j} of fake server ${server}: echoes its message`,
    inputSchema: {
      type: "object",
      properties: { message: { type: "string", description: "Message to echo" } },
      required: ["message"],
    },
    annotations: { readOnlyHint: true },
  }));
}

/** When any server of the fleet last answered `tools/list` (ms since the epoch): `GET /last-list`. */
let lastListAt = 0;

const blobs = new Map<number, string>();
function blob(bytes: number): string {
  let b = blobs.get(bytes);
  if (b === undefined) blobs.set(bytes, b = `{"x":"${"y".repeat(Math.max(0, bytes - 8))}"}`);
  return b;
}

function serve(index: number): Promise<string> {
  const tools = toolsOf(index);
  const listing = JSON.stringify({ tools });
  const listed = Promise.withResolvers<string>();
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (addr) => listed.resolve(`http://127.0.0.1:${addr.port}/mcp`),
  }, async (req) => {
    // `GET /blob?bytes=N`: N bytes of JSON-ish text, the floor for moving an answer that size over loopback.
    const url = new URL(req.url);
    if (url.pathname === "/blob") return new Response(blob(Number(url.searchParams.get("bytes") ?? 0)));
    if (url.pathname === "/last-list") return Response.json({ at: lastListAt });
    // No standalone SSE stream: the spec allows 405, and clients then live without server notifications.
    if (req.method === "GET") return new Response(null, { status: 405, headers: { allow: "POST, DELETE" } });
    if (req.method === "DELETE") return new Response(null, { status: 200 });
    const msg = await req.json().catch(() => undefined);
    if (!msg || msg.id === undefined) return new Response(null, { status: 202 });
    const reply = (result: unknown, headers: Record<string, string> = {}) =>
      new Response(
        `{"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"result":${
          typeof result === "string" ? result : JSON.stringify(result)
        }}`,
        {
          headers: { "content-type": "application/json", ...headers },
        },
      );
    switch (msg.method) {
      case "initialize":
        return reply({
          protocolVersion: msg.params?.protocolVersion ?? "2025-11-25",
          capabilities: { tools: { listChanged: false } },
          serverInfo: { name: `fake-${index}`, version: "1.0.0" },
        }, { "mcp-session-id": crypto.randomUUID() });
      case "ping":
        return reply({});
      case "tools/list":
        lastListAt = Date.now();
        return reply(listing);
      case "tools/call":
        return reply({ content: [{ type: "text", text: `Echo: ${msg.params?.arguments?.message}` }] });
      default:
        return Response.json({
          jsonrpc: "2.0",
          id: msg.id,
          error: { code: -32601, message: "Method not found" },
        });
    }
  });
  return listed.promise;
}

const urls: string[] = [];
for (let i = 0; i < Number(values.servers); i++) urls.push(await serve(i));
console.log(`fleet ${JSON.stringify(urls)}`);
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
Deno.addSignalListener("SIGINT", () => Deno.exit(0));
