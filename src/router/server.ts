/**
 * The ext_proc gRPC edge: one `Process` stream per HTTP request. Messages are handled strictly in order
 * (Envoy waits for each reply), each phase by its own handler; unexpected failures become a 500 local
 * reply rather than a stuck request.
 */
import * as grpc from "@grpc/grpc-js";
import net from "node:net";
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
import { ALL_PHASES } from "./phases.ts";
import { traceReply } from "./tracing.ts";

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

/**
 * Nothing follows a local reply, the response headers (response body NONE, trailers SKIP), or the last
 * message the request-headers reply asked for: a clean close then tells Envoy to continue without us, as
 * the reference router does. (Newer Envoy closes first, having worked out the same.)
 */
function isLastReply(state: StreamState, reply: ProcessingResponse): boolean {
  if (reply.immediate_response || reply.response_headers) return true;
  const phases = state.phases ?? ALL_PHASES;
  if (reply.request_headers) return !phases.body && !phases.responseHeaders;
  if (reply.request_body) return !phases.responseHeaders;
  return false;
}

function handleStream(ctx: RouterContext, call: ProcessStream) {
  const state: StreamState = {};
  let chain = Promise.resolve();
  let closed = false;
  const finish = () => {
    state.trace?.end();
    if (closed) return;
    closed = true;
    call.end();
  };
  // A routed call whose answer never arrived (client gone, Envoy reset): still one audit line.
  const unanswered = () => {
    if (state.audit) ctx.audit?.record({ ...state.audit, outcome: "error" });
    state.audit = undefined;
    state.trace?.end();
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
      if (state.trace) traceReply(state, reply);
      if (closed || call.cancelled) return;
      call.write(reply);
      if (isLastReply(state, reply)) finish();
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

/**
 * grpc-js tracks every call for channelz (a debugging service the router does not serve): ≈10 % of the
 * transport's CPU per decision, measured with a no-op processor (bench/noop_ext_proc.ts).
 */
export const SERVER_OPTIONS: grpc.ServerOptions = { "grpc.enable_channelz": 0 };

/**
 * Starts the gRPC server on `address` ("host:port", port may be 0); resolves to the bound port. With
 * `reusePort`, several processes (local workers) listen on the same port: grpc-js has no such option (the C
 * core's `grpc.so_reuseport` is not read by it), so the socket is ours, listening with SO_REUSEPORT, and each
 * accepted connection is handed to grpc-js (`createConnectionInjector`).
 */
export async function serveExtProc(
  ctx: RouterContext,
  address: string,
  reusePort = false,
): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server(SERVER_OPTIONS);
  server.addService(externalProcessorService(), {
    Process: (call: ProcessStream) => handleStream(ctx, call),
  });
  const credentials = grpc.ServerCredentials.createInsecure();
  if (!reusePort) {
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, credentials, (e, p) => e ? reject(e) : resolve(p))
    );
    return { port, server };
  }
  const injector = server.createConnectionInjector(credentials);
  const listener = net.createServer((socket) => injector.injectConnection(socket));
  const split = address.lastIndexOf(":");
  const host = address.slice(0, split).replace(/^\[|\]$/g, "") || "0.0.0.0";
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen({ host, port: Number(address.slice(split + 1)), reusePort: true }, () => resolve());
  });
  listener.on("error", (e) => ctx.logger.warn("router listener error", { error: e }));
  // grpc-js closes the injected connections on shutdown; the listening socket is ours to close.
  const shutdown = server.tryShutdown.bind(server);
  server.tryShutdown = (callback) => listener.close(() => shutdown(callback));
  const forceShutdown = server.forceShutdown.bind(server);
  server.forceShutdown = () => {
    listener.close();
    forceShutdown();
  };
  return { port: (listener.address() as net.AddressInfo).port, server };
}
