/** A scripted ext_proc server for the harness's own tests: each stream's replies come from a script. */
import * as grpc from "@grpc/grpc-js";
import {
  externalProcessorService,
  type ProcessingRequest,
  type ProcessingResponse,
  type ProcessStream,
} from "../../src/router/proto.ts";

/** What the script does with one message: reply (one or more), close cleanly, fail, or stay silent. */
export type ScriptStep = ProcessingResponse | ProcessingResponse[] | "end" | "error" | "silent";
export type Script = (message: ProcessingRequest, index: number) => ScriptStep;

export interface FakeProcessor {
  address: string;
  /** Messages received, one array per stream. */
  streams: ProcessingRequest[][];
  /** Per stream: whether Envoy cancelled it (closed it without waiting for the processor to end it). */
  cancelled: boolean[];
  script: Script;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** "Continue unchanged" for whatever arm the message is. */
export function passThrough(message: ProcessingRequest): ProcessingResponse {
  return { [message.request!]: {} } as ProcessingResponse;
}

export async function startFakeProcessor(script: Script = passThrough): Promise<FakeProcessor> {
  const server = new grpc.Server();
  const fake: FakeProcessor = {
    address: "",
    streams: [],
    cancelled: [],
    script,
    close: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
    [Symbol.asyncDispose]: () => fake.close(),
  };
  server.addService(externalProcessorService(), {
    Process(call: ProcessStream) {
      const received: ProcessingRequest[] = [];
      const index = fake.streams.push(received) - 1;
      fake.cancelled[index] = false;
      call.on("cancelled", () => fake.cancelled[index] = true);
      call.on("data", (message: ProcessingRequest) => {
        received.push(message);
        const step = fake.script(message, received.length - 1);
        if (step === "end") call.end();
        else if (step === "error") {
          call.emit("error", { code: grpc.status.INTERNAL, details: "scripted failure" });
        } else if (step !== "silent") {
          for (const reply of Array.isArray(step) ? step : [step]) call.write(reply);
        }
      });
      call.on("error", () => {});
      call.on("end", () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (e, p) => e ? reject(e) : resolve(p),
    )
  );
  fake.address = `127.0.0.1:${port}`;
  return fake;
}
