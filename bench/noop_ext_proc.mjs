/**
 * bench/noop_ext_proc.ts on Node: the same no-op ext_proc processor (the same messages asked for, the same
 * answers, the same grpc-js server options), on grpc-js over Node's native HTTP/2, to compare the two
 * runtimes as the router's transport. Plain JavaScript: Node runs it as it is, from the repository (its
 * `node_modules`).
 *
 * Run: `node bench/noop_ext_proc.mjs` → prints `listening on 127.0.0.1:PORT`.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

const definition = protoLoader.loadSync("envoy/service/ext_proc/v3/external_processor.proto", {
  includeDirs: [fileURLToPath(new URL("../proto/", import.meta.url))],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});
const service = grpc.loadPackageDefinition(definition).envoy.service.ext_proc.v3.ExternalProcessor.service;
const HEADERS_ONLY = {
  request_header_mode: "SEND",
  response_header_mode: "SKIP",
  request_body_mode: "NONE",
  response_body_mode: "NONE",
  request_trailer_mode: "SKIP",
  response_trailer_mode: "SKIP",
};
const text = new TextDecoder();

const server = new grpc.Server({ "grpc.enable_channelz": 0 });
server.addService(service, {
  Process: (call) => {
    call.on("data", (message) => {
      if (message.request === "request_headers") {
        const header = message.request_headers?.headers?.headers?.find((h) =>
          h.key.toLowerCase() === "mcp-method"
        );
        const method = header && (header.raw_value?.length ? text.decode(header.raw_value) : header.value);
        if (method !== undefined && method !== "tools/call") {
          call.write({ request_headers: {}, mode_override: HEADERS_ONLY });
          return call.end();
        }
      }
      call.write({ [message.request]: {} });
      if (message.request === "response_headers") call.end();
    });
    call.on("end", () => call.end());
    call.on("error", () => {});
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(`listening on 127.0.0.1:${port}`);
});
const stop = () => {
  server.forceShutdown();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
