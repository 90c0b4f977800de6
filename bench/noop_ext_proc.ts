/**
 * The transport floor for the router: an ext_proc server on the same gRPC stack (grpc-js on Deno) that
 * decides nothing — every message is answered "continue unchanged", the stream ends after the response
 * headers as the router's does. Its decisions/s bound what any router on this stack can reach.
 *
 * Run: `deno run -A bench/noop_ext_proc.ts` → prints `listening on 127.0.0.1:PORT`.
 */
import * as grpc from "@grpc/grpc-js";
import {
  externalProcessorService,
  type ProcessingRequest,
  type ProcessingResponse,
  type ProcessStream,
} from "../src/router/proto.ts";

const server = new grpc.Server();
server.addService(externalProcessorService(), {
  Process: (call: ProcessStream) => {
    call.on("data", (message: ProcessingRequest) => {
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
