/**
 * The transport floor for the router: an ext_proc server on the same gRPC stack (grpc-js on Deno, the
 * router's own server options) that decides nothing. It asks Envoy for the messages the router would ask
 * for (a 2026 request whose `Mcp-Method` is not `tools/call`: the request headers alone, through a
 * `mode_override`; anything else: headers, body and response headers), answers each "continue
 * unchanged", and ends the stream after the last, as the router does. Its decisions/s and CPU per decision
 * bound what any router on this stack can reach. `bench/noop_ext_proc.mjs` is the same on Node.
 *
 * Run: `deno run -A bench/noop_ext_proc.ts` → prints `listening on 127.0.0.1:PORT`.
 */
import * as grpc from "@grpc/grpc-js";
import {
  externalProcessorService,
  headerRecord,
  type ProcessingRequest,
  type ProcessingResponse,
  type ProcessStream,
} from "../src/router/proto.ts";
import { SERVER_OPTIONS } from "../src/router/server.ts";

/** The override a headers-only decision sends (all six fields, as the router does). */
const HEADERS_ONLY = {
  request_header_mode: "SEND",
  response_header_mode: "SKIP",
  request_body_mode: "NONE",
  response_body_mode: "NONE",
  request_trailer_mode: "SKIP",
  response_trailer_mode: "SKIP",
} as const;

const server = new grpc.Server(SERVER_OPTIONS);
server.addService(externalProcessorService(), {
  Process: (call: ProcessStream) => {
    call.on("data", (message: ProcessingRequest) => {
      if (message.request === "request_headers") {
        const method = headerRecord(message.request_headers?.headers).get("mcp-method");
        if (method !== undefined && method !== "tools/call") {
          call.write({ request_headers: {}, mode_override: HEADERS_ONLY });
          return call.end();
        }
      }
      call.write({ [message.request!]: {} } as ProcessingResponse);
      if (message.request === "response_headers") call.end();
    });
    call.on("end", () => call.end());
    call.on("error", () => {});
  },
});
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync(
    "127.0.0.1:0",
    grpc.ServerCredentials.createInsecure(),
    (e, p) => e ? reject(e) : resolve(p),
  )
);
console.log(`listening on 127.0.0.1:${port}`);
const stop = () => {
  server.forceShutdown();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
