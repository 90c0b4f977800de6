/**
 * Load generator for the ext_proc router, in its own process: plays Envoy's side of one `tools/call`
 * (request headers, buffered request body, response headers) over real gRPC, many streams at once, with
 * no backend in the loop (the session's backend session is bound beforehand). Prints one JSON line.
 *
 * Run: `deno run -A bench/router_load.ts --router HOST:PORT --token JWT --tool NAME --expect-authority HOST|-
 *   [--concurrency 16] [--duration-ms 3000]`
 */
import * as grpc from "@grpc/grpc-js";
import { parseArgs } from "node:util";
import {
  externalProcessorClient,
  type HeaderMap,
  type ProcessCall,
  type ProcessingRequest,
  type ProcessingResponse,
} from "../src/router/proto.ts";
import { readProc } from "./proc_stats.ts";
import { summarize } from "./stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    router: { type: "string" },
    token: { type: "string" },
    tool: { type: "string" },
    "expect-authority": { type: "string" },
    concurrency: { type: "string", default: "16" },
    "duration-ms": { type: "string", default: "3000" },
  },
});
const enc = new TextEncoder();
const dec = new TextDecoder();
const headerMap = (h: Record<string, string>): HeaderMap => ({
  headers: Object.entries(h).map(([key, v]) => ({ key, raw_value: enc.encode(v) })),
});

const body = enc.encode(JSON.stringify({
  jsonrpc: "2.0",
  id: 7,
  method: "tools/call",
  params: { name: values.tool, arguments: { message: "hello" } },
}));
const requestHeaders: ProcessingRequest = {
  request: "request_headers",
  request_headers: {
    headers: headerMap({
      ":authority": "mcp.bench.local:8888",
      ":path": "/mcp",
      ":method": "POST",
      ":scheme": "http",
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "content-length": String(body.length),
      "mcp-session-id": values.token!,
      "mcp-protocol-version": "2025-11-25",
      "x-request-id": "bench",
    }),
    end_of_stream: false,
  },
};
const requestBody: ProcessingRequest = {
  request: "request_body",
  request_body: { body, end_of_stream: true },
};
const responseHeaders: ProcessingRequest = {
  request: "response_headers",
  response_headers: {
    headers: headerMap({ ":status": "200", "content-type": "application/json" }),
    end_of_stream: false,
  },
};

const Client = externalProcessorClient();
const client = new Client(values.router!, grpc.credentials.createInsecure());

/** One stream = one decision; resolves when the response-headers reply is in, rejects on a wrong one. */
function decide(): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = (client as unknown as { Process(): ProcessCall }).Process();
    let step = 0;
    const fail = (why: string) => {
      call.cancel();
      reject(new Error(why));
    };
    call.on("data", (reply: ProcessingResponse) => {
      if (reply.immediate_response) {
        const text = reply.immediate_response.body ? dec.decode(reply.immediate_response.body) : "";
        return fail(`local reply: ${text.slice(0, 200)}`);
      }
      if (step === 0) {
        if (!reply.request_headers) return fail("expected a request_headers reply");
        step = 1;
        call.write(requestBody);
      } else if (step === 1) {
        const set = reply.request_body?.response?.header_mutation?.set_headers ?? [];
        const authority = set.find((o) => o.header?.key === ":authority");
        const value = authority?.header?.raw_value ? dec.decode(authority.header.raw_value) : undefined;
        // "-" (the no-op processor): any well-formed body reply will do.
        if (values["expect-authority"] !== "-" && value !== values["expect-authority"]) {
          return fail(`routed to ${value}`);
        }
        step = 2;
        call.write(responseHeaders);
      } else if (step === 2) {
        if (!reply.response_headers) return fail("expected a response_headers reply");
        step = 3;
        call.end();
        resolve();
      }
    });
    call.on("error", (e: Error) => {
      if (step < 3) reject(e);
    });
    call.write(requestHeaders);
  });
}

const concurrency = Number(values.concurrency);
const durationMs = Number(values["duration-ms"]);
// Warm-up: connection, proto encoders, the router's caches.
for (let i = 0; i < 200; i++) await decide();
const samples: number[] = [];
let errors = 0;
let firstError: string | undefined;
const cpuBefore = readProc(Deno.pid)?.cpuSeconds ?? NaN;
const started = performance.now();
const deadline = started + durationMs;
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (performance.now() < deadline) {
    const t0 = performance.now();
    try {
      await decide();
      samples.push(performance.now() - t0);
    } catch (e) {
      errors++;
      firstError ??= (e as Error).message;
    }
  }
}));
const seconds = (performance.now() - started) / 1000;
const loadCpuSeconds = (readProc(Deno.pid)?.cpuSeconds ?? NaN) - cpuBefore;
client.close();
console.log(JSON.stringify({
  concurrency,
  decisions: samples.length,
  seconds,
  perSecond: samples.length / seconds,
  latency: summarize(samples),
  errors,
  firstError,
  /** This load generator's own CPU use in the window (1.0 = one core): near 1.0, it is the bound. */
  loadGeneratorCores: loadCpuSeconds / seconds,
}));
Deno.exit(0);
