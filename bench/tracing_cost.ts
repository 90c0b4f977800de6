/**
 * What tracing one call costs in a quiet process, without the gateway's HTTP around it: the broker's trace
 * hooks for a 2025 `tools/call` (SERVER span with the client's context, the route span, the CLIENT span and
 * its context into the backend's headers, the two histograms) and the export of its spans to an OTLP/HTTP
 * sink in another process. Scenario 9 measures the same inside a gateway under load; this isolates it.
 *
 * `deno run -A bench/tracing_cost.ts [http/json|http/protobuf] [--no-route]` prints CPU µs per call (this
 * process: user + system, export included).
 */
import process from "node:process";
import { InMemoryEventLog } from "../src/events/log.ts";
import { ANONYMOUS } from "../src/identity/identity.ts";
import { silentLogger } from "../src/observe/log.ts";
import { GatewayMetrics } from "../src/observe/metrics.ts";
import { tracingConfigFromEnv } from "../src/observe/tracing/config.ts";
import { startTracing } from "../src/observe/tracing/mod.ts";
import { projectGateway } from "../src/projections.ts";
import { spawnChild } from "./processes.ts";

const SINK =
  `Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log("sink " + port) },
  async (req) => { await req.arrayBuffer(); return Response.json({}); });`;

const protocol = Deno.args.find((a) => a.startsWith("http/")) ?? "http/json";
const withRoute = !Deno.args.includes("--no-route");
const sink = await spawnChild({ cmd: Deno.execPath(), args: ["eval", SINK], ready: /sink (\d+)/ });
try {
  const env: Record<string, string> = {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.ready[1]}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_TRACES_SAMPLER: "always_on",
    OTEL_BSP_SCHEDULE_DELAY: "100",
  };
  const config = tracingConfigFromEnv((name) => env[name]);
  if (!config.ok || !config.config) throw new Error("tracing config");
  const log = new InMemoryEventLog();
  const metrics = new GatewayMetrics(log, projectGateway(log).upstreams);
  const tracer = await startTracing(config.config, metrics, silentLogger);

  const headers = new Headers({ "content-type": "application/json", "mcp-protocol-version": "2025-11-25" });
  const server = { name: "fast", url: "http://127.0.0.1:4000/mcp" };
  const body =
    '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"m"}}}';
  const answer = '{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Echo: m"}]}}';
  const admitted = {
    envelope: { protocolVersion: "2025-11-25", capabilities: {} },
    identity: ANONYMOUS,
    session: { token: "t", claims: { id: "48ff82cc-593d-4eb6-adf5-0fbfdb13bbde" } },
  } as any;
  const decision = { server: "fast", target: { kind: "tool", served: "f_echo", upstream: "echo" } };
  const backendHeaders = { "content-type": "application/json", "mcp-session-id": "b" };

  /** The hooks the broker runs for one call, in its order. */
  const call = (i: number) => {
    const trace = tracer.serve({
      method: "tools/call",
      params: { name: "f_echo", arguments: { message: "m" } },
      rawId: String(i),
      header: (name) => headers.get(name),
      startedAt: performance.now(),
    });
    trace.admitted(admitted);
    if (withRoute) {
      trace.routing();
      trace.routed(decision, undefined, { wire: "session" });
    }
    trace.backend({
      method: "tools/call",
      name: "echo",
      server,
      rawId: String(i),
      sessionId: "b",
      protocolVersion: "2025-11-25",
    }).apply({ headers: backendHeaders, body }, false);
    trace.answered(answer);
    trace.end("ok");
  };
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) {
      call(i);
      // Let the batch processor's timer and the export's I/O run, as between requests.
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 0));
    }
    await tracer.flush();
  };
  await run(20_000); // warm-up
  const n = 50_000;
  const before = process.cpuUsage();
  await run(n);
  const used = process.cpuUsage(before);
  console.log(
    `${((used.user + used.system) / n).toFixed(1)} µs CPU per call (${protocol}${
      withRoute ? "" : ", no route span"
    })`,
  );
  await tracer.shutdown();
} finally {
  await sink.stop();
}
