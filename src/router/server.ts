/**
 * The ext_proc gRPC edge: one `Process` stream per HTTP request. Messages are handled strictly in order
 * (Envoy waits for each reply), each phase by its own handler; unexpected failures become a 500 local
 * reply rather than a stuck request.
 */
import * as grpc from "@grpc/grpc-js";
import { GatewayError } from "../mcp/errors.ts";
import type { RouterContext, StreamState } from "./context.ts";
import {
  externalProcessorService,
  type ProcessingRequest,
  type ProcessingResponse,
  type ProcessStream,
} from "./proto.ts";
import { errorReply } from "./replies.ts";
import { handleRequestBody } from "./request_body.ts";
import { handleRequestHeaders } from "./request_headers.ts";
import { handleResponseHeaders } from "./response_headers.ts";

/** Decides one message. Exported for tests that drive the phases without gRPC. */
export async function processMessage(
  ctx: RouterContext,
  state: StreamState,
  request: ProcessingRequest,
): Promise<ProcessingResponse> {
  if (request.request_headers) return handleRequestHeaders(ctx, state, request.request_headers);
  if (request.request_body) return await handleRequestBody(ctx, state, request.request_body);
  if (request.response_headers) return handleResponseHeaders(ctx, state, request.response_headers);
  // Not asked for by the shipped processing mode; answer "continue unchanged" so the request still flows.
  if (request.response_body) return { response_body: { response: {} } };
  if (request.request_trailers) return { request_trailers: {} };
  if (request.response_trailers) return { response_trailers: {} };
  return errorReply(new GatewayError("internal", "Internal error: empty ext_proc message"));
}

function handleStream(ctx: RouterContext, call: ProcessStream) {
  const state: StreamState = {};
  let chain = Promise.resolve();
  let closed = false;
  const finish = () => {
    if (closed) return;
    closed = true;
    call.end();
  };
  // A routed call whose answer never arrived (client gone, Envoy reset): still one audit line.
  const unanswered = () => {
    if (state.audit) ctx.audit?.record({ ...state.audit, outcome: "error" });
    state.audit = undefined;
  };
  call.on("data", (request: ProcessingRequest) => {
    chain = chain.then(async () => {
      if (closed) return;
      let reply: ProcessingResponse;
      try {
        reply = await processMessage(ctx, state, request);
      } catch (e) {
        ctx.logger.error("ext_proc message failed", { error: e });
        reply = errorReply(new GatewayError("internal", "Internal error"));
      }
      if (closed || call.cancelled) return;
      call.write(reply);
      // Nothing follows a local reply or the response headers (response body NONE, trailers SKIP): a clean
      // close tells Envoy to continue without us, as the reference router does.
      if (reply.immediate_response || reply.response_headers) finish();
    });
  });
  // After the messages still being handled: the response headers may be the one that completes the audit.
  call.on("end", () => {
    chain = chain.then(() => {
      unanswered();
      finish();
    });
  });
  // Envoy may reset the stream at any time (client gone, newer Envoy's early close): that is normal.
  call.on("error", () => {
    unanswered();
    closed = true;
  });
  call.on("cancelled", () => {
    unanswered();
    closed = true;
  });
}

/** Starts the gRPC server on `address` ("host:port", port may be 0); resolves to the bound port. */
export async function serveExtProc(
  ctx: RouterContext,
  address: string,
): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(externalProcessorService(), {
    Process: (call: ProcessStream) => handleStream(ctx, call),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (e, p) => e ? reject(e) : resolve(p))
  );
  return { port, server };
}
