/**
 * Tracing configuration from the standard OpenTelemetry environment variables (the SDK configuration spec's
 * `OTEL_*` names), read once at start. Tracing is on only when an OTLP endpoint is set (or
 * `OTEL_TRACES_EXPORTER=console`); otherwise the gateway builds no tracer provider at all and every hook in
 * the data paths is skipped. The SDK 3.x packages no longer read the sampler or the resource from the
 * environment themselves, and the gateway's environment is injectable (in-process tests), so it is read
 * here, in one place.
 *
 * ```ts
 * const read = tracingConfigFromEnv((name) => Deno.env.get(name));
 * if (!read.ok) throw new Error(read.error);
 * read.config; // undefined: tracing off
 * ```
 */
import { parseKeyPairsIntoRecord } from "@opentelemetry/core";

/** `OTEL_TRACES_SAMPLER` values the gateway understands (the spec's built-in samplers). */
export const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;
export type SamplerName = typeof SAMPLERS[number];

/** Whether (and how) a span names the caller: off by default, since a subject is personal data. */
export type TraceSubject = "off" | "id" | "hash";

export interface TracingConfig {
  exporter:
    | { kind: "otlp"; url: string; protocol: "http/protobuf" | "http/json"; headers: Record<string, string> }
    | { kind: "console" };
  /** Resource attributes: `OTEL_RESOURCE_ATTRIBUTES`, `service.name` from `OTEL_SERVICE_NAME` over them. */
  resource: Record<string, string>;
  sampler: { name: SamplerName; ratio: number };
  /** W3C `tracecontext` and `baggage` (`OTEL_PROPAGATORS`); both off with `none`. */
  propagators: { traceContext: boolean; baggage: boolean };
  /** `OTEL_BSP_*` (milliseconds and counts), when set. */
  batch: {
    scheduledDelayMillis?: number;
    maxQueueSize?: number;
    maxExportBatchSize?: number;
    exportTimeoutMillis?: number;
  };
  /** `--trace-subject` (env `MCP_TRACE_SUBJECT`): `user.id` (id) or `user.hash` (hash) on SERVER spans. */
  subject: TraceSubject;
  /** Propagators named in `OTEL_PROPAGATORS` that the gateway does not implement (b3, jaeger…): warned about. */
  ignoredPropagators: string[];
}

export type TracingConfigResult = { ok: true; config: TracingConfig | undefined } | {
  ok: false;
  error: string;
};

const DEFAULT_SERVICE_NAME = "mcp-gateway";
const DEFAULT_PROTOCOL = "http/json";

function value(env: (name: string) => string | undefined, name: string): string | undefined {
  const v = env(name)?.trim();
  return v ? v : undefined;
}

/** `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL: the signal's path is appended (spec: "/v1/traces"). */
function tracesUrl(base: string): string {
  return `${base.replace(/\/+$/, "")}/v1/traces`;
}

function nonNegative(env: (name: string) => string | undefined, name: string): number | undefined | string {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : `${name} must be a number of 0 or more, got "${raw}"`;
}

/**
 * Reads the tracing configuration; `config` undefined means tracing is off (no endpoint, `OTEL_SDK_DISABLED`,
 * `OTEL_TRACES_EXPORTER=none`). `subject` is `--trace-subject`.
 */
export function tracingConfigFromEnv(
  env: (name: string) => string | undefined,
  subject: TraceSubject = "off",
): TracingConfigResult {
  if (/^true$/i.test(value(env, "OTEL_SDK_DISABLED") ?? "")) return { ok: true, config: undefined };
  const exporterNames = (value(env, "OTEL_TRACES_EXPORTER") ?? "otlp").split(",").map((s) => s.trim());
  if (exporterNames.includes("none")) return { ok: true, config: undefined };
  const unknownExporter = exporterNames.find((n) => n !== "otlp" && n !== "console");
  if (unknownExporter) {
    return {
      ok: false,
      error: `OTEL_TRACES_EXPORTER=${unknownExporter} is not supported: use otlp (default), console or none`,
    };
  }

  let exporter: TracingConfig["exporter"];
  if (exporterNames.includes("otlp")) {
    const url = value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ??
      (value(env, "OTEL_EXPORTER_OTLP_ENDPOINT") && tracesUrl(value(env, "OTEL_EXPORTER_OTLP_ENDPOINT")!));
    // No endpoint: off. An OTLP exporter guessing localhost:4318 would send spans nobody asked for.
    if (!url) {
      if (!exporterNames.includes("console")) return { ok: true, config: undefined };
      exporter = { kind: "console" };
    } else {
      try {
        const parsed = new URL(url);
        if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("not http(s)");
      } catch {
        return { ok: false, error: `the OTLP traces endpoint must be an http(s) URL, got "${url}"` };
      }
      // JSON by default, not the spec's suggested protobuf: this SDK encodes JSON in about half the CPU
      // (bench scenario 9), and every OTLP/HTTP receiver must accept both.
      const protocol = value(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ??
        value(env, "OTEL_EXPORTER_OTLP_PROTOCOL") ?? DEFAULT_PROTOCOL;
      if (protocol !== "http/protobuf" && protocol !== "http/json") {
        return {
          ok: false,
          error: `OTLP protocol "${protocol}" is not supported: use http/json (default) or http/protobuf ` +
            "(a collector's OTLP/HTTP receiver, port 4318)",
        };
      }
      const headers = {
        ...parseKeyPairsIntoRecord(value(env, "OTEL_EXPORTER_OTLP_HEADERS")),
        ...parseKeyPairsIntoRecord(value(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS")),
      };
      exporter = { kind: "otlp", url, protocol, headers };
    }
  } else exporter = { kind: "console" };

  const samplerName = (value(env, "OTEL_TRACES_SAMPLER") ?? "parentbased_always_on").toLowerCase();
  if (!(SAMPLERS as readonly string[]).includes(samplerName)) {
    return {
      ok: false,
      error: `OTEL_TRACES_SAMPLER=${samplerName} is not supported: use one of ${SAMPLERS.join(", ")}`,
    };
  }
  let ratio = 1;
  if (samplerName.endsWith("traceidratio")) {
    const arg = value(env, "OTEL_TRACES_SAMPLER_ARG");
    if (arg !== undefined) {
      ratio = Number(arg);
      if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
        return { ok: false, error: `OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got "${arg}"` };
      }
    }
  }

  const propagatorNames = (value(env, "OTEL_PROPAGATORS") ?? "tracecontext,baggage").split(",")
    .map((s) => s.trim()).filter(Boolean);
  const propagators = {
    traceContext: propagatorNames.includes("tracecontext"),
    baggage: propagatorNames.includes("baggage"),
  };
  const ignoredPropagators = propagatorNames.filter((n) => !["tracecontext", "baggage", "none"].includes(n));

  const batch: TracingConfig["batch"] = {};
  for (
    const [name, key] of [
      ["OTEL_BSP_SCHEDULE_DELAY", "scheduledDelayMillis"],
      ["OTEL_BSP_MAX_QUEUE_SIZE", "maxQueueSize"],
      ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "maxExportBatchSize"],
      ["OTEL_BSP_EXPORT_TIMEOUT", "exportTimeoutMillis"],
    ] as const
  ) {
    const n = nonNegative(env, name);
    if (typeof n === "string") return { ok: false, error: n };
    if (n !== undefined) batch[key] = n;
  }

  const resource: Record<string, string> = {
    ...parseKeyPairsIntoRecord(value(env, "OTEL_RESOURCE_ATTRIBUTES")),
  };
  resource["service.name"] = value(env, "OTEL_SERVICE_NAME") ?? resource["service.name"] ??
    DEFAULT_SERVICE_NAME;

  return {
    ok: true,
    config: {
      exporter,
      resource,
      sampler: { name: samplerName as SamplerName, ratio },
      propagators,
      batch,
      subject,
      ignoredPropagators,
    },
  };
}
