/**
 * The floor for any proxy written on Deno's HTTP stack: a pass-through that forwards each request to one
 * upstream with `fetch` and streams the answer back, with no MCP logic at all. What the gateway adds
 * beyond this proxy's own overhead is the gateway's; what this proxy adds is Deno's `Deno.serve` + `fetch`.
 *
 * Run: `deno run -A bench/null_proxy.ts --upstream URL` → prints `listening on http://127.0.0.1:PORT/mcp`.
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({ args: Deno.args, options: { upstream: { type: "string" } } });
const upstream = values.upstream;
if (!upstream) throw new Error("--upstream is required");
const PASSED = ["content-type", "accept", "mcp-session-id", "mcp-protocol-version"];

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: (addr) => console.log(`listening on http://127.0.0.1:${addr.port}/mcp`),
}, async (req) => {
  const headers: Record<string, string> = {};
  for (const name of PASSED) {
    const value = req.headers.get(name);
    if (value) headers[name] = value;
  }
  const body = req.method === "POST" ? await req.text() : undefined;
  const res = await fetch(upstream, { method: req.method, headers, body });
  const out: Record<string, string> = {};
  for (const name of ["content-type", "mcp-session-id"]) {
    const value = res.headers.get(name);
    if (value) out[name] = value;
  }
  return new Response(res.body, { status: res.status, headers: out });
});
const stop = async () => {
  await server.shutdown();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
