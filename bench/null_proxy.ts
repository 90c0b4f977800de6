/**
 * The floor for any proxy written on Deno's HTTP stack: a pass-through that forwards each request to one
 * upstream with `fetch` and streams the answer back, with no MCP logic at all. What the gateway adds
 * beyond this proxy's own overhead is the gateway's; what this proxy adds is Deno's `Deno.serve` + `fetch`.
 *
 * `--read-in-js`: the answer's bytes pass through JavaScript on their way (read "bring your own buffer"
 * into one reused buffer, each chunk copied out and streamed on), as they must in any proxy that looks at
 * them, the gateway's SSE relay among them. Without it the answer body is handed to `Deno.serve` as the
 * `fetch` body itself, which Deno pipes natively, never through JavaScript.
 *
 * Run: `deno run -A bench/null_proxy.ts --upstream URL [--read-in-js]` → prints
 * `listening on http://127.0.0.1:PORT/mcp`.
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { upstream: { type: "string" }, "read-in-js": { type: "boolean", default: false } },
});
const upstream = values.upstream;
if (!upstream) throw new Error("--upstream is required");
const readInJs = values["read-in-js"];
const PASSED = ["content-type", "accept", "mcp-session-id", "mcp-protocol-version"];

/** The answer body read in JavaScript, chunk by chunk, into one reused 16 KiB buffer. */
function throughJs(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader({ mode: "byob" });
  let scratch = new ArrayBuffer(16 * 1024);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await reader.read(new Uint8Array(scratch));
      if (done || !value) return controller.close();
      scratch = value.buffer as ArrayBuffer;
      controller.enqueue(value.slice());
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

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
  const answer = readInJs && res.body ? throughJs(res.body) : res.body;
  return new Response(answer, { status: res.status, headers: out });
});
const stop = async () => {
  await server.shutdown();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
