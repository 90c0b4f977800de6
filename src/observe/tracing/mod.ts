/**
 * Traces (OpenTelemetry): configured by the standard `OTEL_*` variables (`config.ts`), on only when an OTLP
 * endpoint is set. The SDK is loaded here, on demand, so a gateway without tracing never loads it.
 */
import type { Logger } from "../log.ts";
import type { GatewayMetrics } from "../metrics.ts";
import type { TracingConfig } from "./config.ts";
import type { GatewayTracer } from "./tracer.ts";

export { type TracingConfig, tracingConfigFromEnv } from "./config.ts";
export type { GatewayTracer } from "./tracer.ts";

/** Loads the SDK and builds the gateway's tracer for `config`. */
export async function startTracing(
  config: TracingConfig,
  metrics: GatewayMetrics,
  logger: Logger,
): Promise<GatewayTracer> {
  const { GatewayTracer } = await import("./tracer.ts");
  const tracer = GatewayTracer.create(config, metrics, logger);
  const exporter = config.exporter;
  logger.info("tracing on", {
    exporter: exporter.kind === "otlp" ? exporter.url : "console",
    protocol: exporter.kind === "otlp" ? exporter.protocol : undefined,
    sampler: config.sampler.name,
    service: config.resource["service.name"],
  });
  return tracer;
}
