/**
 * Load generator for the ext_proc router, in its own process: plays Envoy's side of one request over real
 * gRPC, many streams at once, with no backend in the loop. It sends what Envoy with the shipped filter
 * config would send (processing mode SEND/SEND/BUFFERED/NONE/SKIP/SKIP, `allow_mode_override: true`), so a
 * `mode_override` in the request-headers reply trims the messages exactly as Envoy would: no body message
 * when the body mode becomes NONE, no response-headers message when that mode becomes SKIP. Prints one
 * JSON line.
 *
 * Kinds of request (`--kind`):
 * - `2025-call`: a 2025 `tools/call` on a gateway session (`--token`) whose backend session is bound.
 * - `2026-call`: a 2026-07-28 `tools/call` (envelope and standard headers), no session.
 * - `2026-list`: a 2026-07-28 `tools/list`, which the broker answers.
 *
 * Run: `deno run -A bench/router_load.ts --router HOST:PORT --kind 2025-call|2026-call|2026-list
 *   [--token JWT] [--tool NAME] [--expect-authority HOST|-] [--concurrency 16] [--duration-ms 3000]
 *   [--warmup 200]`
 */
import * as grpc from "@grpc/grpc-js";
import { parseArgs } from "node:util";
import {
  externalProcessorClient,
  type HeaderMap,
  type ProcessCall,
  type ProcessingMode,
  type ProcessingRequest,
  type ProcessingResponse,
} from "../src/router/proto.ts";
import { readProc } from "./proc_stats.ts";
import { summarize } from "./stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    router: { type: "string" },
    kind: { type: "string", default: "2025-call" },
    token: { type: "string", default: "" },
    tool: { type: "string", default: "f_echo" },
    "expect-authority": { type: "string", default: "-" },
    concurrency: { type: "string", default: "16" },
    "duration-ms": { type: "string", default: "3000" },
    warmup: { type: "string", default: "200" },
  },
});
const kind = values.kind as "2025-call" | "2026-call" | "2026-list";
if (!["2025-call", "2026-call", "2026-list"].includes(kind)) throw new Error(`unknown --kind ${kind}`);
const enc = new TextEncoder();
const dec = new TextDecoder();
const headerMap = (h: Record<string, string>): HeaderMap => ({
  headers: Object.entries(h).map(([key, v]) => ({ key, raw_value: enc.encode(v) })),
});

const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": {},
  "io.modelcontextprotocol/clientInfo": { name: "mcp-gateway-bench", version: "1.0.0" },
};
const modern = kind !== "2025-call";
const method = kind === "2026-list" ? "tools/list" : "tools/call";
const params = method === "tools/call" ? { name: values.tool, arguments: { message: "hello" } } : {};
const body = enc.encode(JSON.stringify({
  jsonrpc: "2.0",
  id: 7,
  method,
  params: modern ? { ...params, _meta: ENVELOPE } : params,
}));
const eraHeaders: Record<string, string> = modern
  ? {
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": method,
    ...(method === "tools/call" ? { "mcp-name": values.tool! } : {}),
  }
  : { "mcp-session-id": values.token!, "mcp-protocol-version": "2025-11-25" };
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
      ...eraHeaders,
      "x-request-id": "bench",
    }),
    end_of_stream: false,
  },
  protocol_config: { request_body_mode: "BUFFERED", response_body_mode: "NONE" },
  metadata_context: {},
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

/** What Envoy does with a `mode_override` (newer Envoy: DEFAULT header modes keep the configured value). */
function phasesAfter(override: ProcessingMode | null | undefined) {
  if (!override) return { body: true, responseHeaders: true };
  return {
    body: (override.request_body_mode ?? "NONE") !== "NONE",
    responseHeaders: override.response_header_mode !== "SKIP",
  };
}

const Client = externalProcessorClient();
const client = new Client(values.router!, grpc.credentials.createInsecure());
let messages = 0;

/** One stream = one decision; resolves after the router's last reply, rejects on a wrong one. */
function decide(): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = (client as unknown as { Process(): ProcessCall }).Process();
    let phases = { body: true, responseHeaders: true };
    let done = false;
    const fail = (why: string) => {
      done = true;
      call.cancel();
      reject(new Error(why));
    };
    const finish = () => {
      done = true;
      call.end();
      resolve();
    };
    const send = (message: ProcessingRequest) => {
      messages++;
      call.write(message);
    };
    const checkAuthority = (reply: ProcessingResponse) => {
      const arm = reply.request_body ?? reply.request_headers;
      const set = arm?.response?.header_mutation?.set_headers ?? [];
      const authority = set.find((o) => o.header?.key === ":authority");
      const value = authority?.header?.raw_value ? dec.decode(authority.header.raw_value) : undefined;
      // "-" (the no-op processor, broker-bound requests): any well-formed reply will do.
      return values["expect-authority"] === "-" || value === values["expect-authority"];
    };
    const afterBody = (reply: ProcessingResponse) => {
      if (!checkAuthority(reply)) return fail(`not routed to ${values["expect-authority"]}`);
      if (phases.responseHeaders) send(responseHeaders);
      else finish();
    };
    let step: "headers" | "body" | "response" = "headers";
    call.on("data", (reply: ProcessingResponse) => {
      if (done) return;
      if (reply.immediate_response) {
        const text = reply.immediate_response.body ? dec.decode(reply.immediate_response.body) : "";
        return fail(`local reply: ${text.slice(0, 200)}`);
      }
      if (step === "headers") {
        if (!reply.request_headers) return fail("expected a request_headers reply");
        phases = phasesAfter(reply.mode_override);
        if (phases.body) {
          step = "body";
          send(requestBody);
        } else {
          step = "response";
          afterBody(reply);
        }
      } else if (step === "body") {
        if (!reply.request_body) return fail("expected a request_body reply");
        step = "response";
        afterBody(reply);
      } else {
        if (!reply.response_headers) return fail("expected a response_headers reply");
        finish();
      }
    });
    // A clean close after the last reply is the router being done; before it, a failure.
    call.on("status", (status: grpc.StatusObject) => {
      if (!done) fail(`stream closed early: ${status.code} ${status.details}`);
    });
    call.on("error", (e: Error) => {
      if (!done) fail(e.message);
    });
    send(requestHeaders);
  });
}

const concurrency = Number(values.concurrency);
const durationMs = Number(values["duration-ms"]);
// Warm-up: connection, proto encoders, the router's caches.
for (let i = 0; i < Number(values.warmup); i++) await decide();
messages = 0;
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
  /** ext_proc messages Envoy sent per decision (3 without a mode_override; fewer with one). */
  messagesPerDecision: samples.length + errors ? messages / (samples.length + errors) : NaN,
  errors,
  firstError,
  /** This load generator's own CPU use in the window (1.0 = one core): near 1.0, it is the bound. */
  loadGeneratorCores: loadCpuSeconds / seconds,
}));
Deno.exit(0);
