/**
 * An OTLP/HTTP traces receiver on loopback, as a collector's `otlp` receiver would be: `POST /v1/traces`
 * with the JSON encoding (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`, OTLP's protobuf-JSON mapping: ids as hex,
 * enums as numbers, attributes as `{key, value: {stringValue|intValue|…}}`), flattened into one record per
 * span. Protobuf requests are counted but not decoded.
 */
import { waitFor } from "./ports.ts";

/** OTLP `SpanKind` numbers. */
export const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
  /** `status.code`: 0 unset, 1 ok, 2 error. */
  status: number;
  statusMessage?: string;
  startMs: number;
  endMs: number;
  resource: Record<string, unknown>;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:PORT`: the value for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  endpoint: string;
  /** Every span received so far. */
  spans(): ReceivedSpan[];
  /** Export requests received, by content type. */
  requests(): { contentType: string; path: string }[];
  /** Waits until `predicate` holds over the spans received (they arrive in batches). */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean, what: string): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
};

function valueOf(v: AnyValue | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(valueOf);
  return undefined;
}

function attributesOf(list: { key: string; value: AnyValue }[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, valueOf(a.value)]));
}

const nanosToMs = (n: string | number) => Number(BigInt(n) / 1000n) / 1000;

export function startOtlpReceiver(): OtlpReceiver {
  const spans: ReceivedSpan[] = [];
  const requests: { contentType: string; path: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const contentType = req.headers.get("content-type") ?? "";
    requests.push({ contentType, path });
    if (req.method !== "POST" || path !== "/v1/traces") return new Response("not found", { status: 404 });
    if (!contentType.includes("json")) {
      await req.body?.cancel();
      return new Response(new Uint8Array(), { headers: { "content-type": "application/x-protobuf" } });
    }
    const body = await req.json();
    for (const rs of body.resourceSpans ?? []) {
      const resource = attributesOf(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          spans.push({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId ?? "",
            name: s.name,
            kind: s.kind,
            attributes: attributesOf(s.attributes),
            links: (s.links ?? []).map((l: { traceId: string; spanId: string }) => ({
              traceId: l.traceId,
              spanId: l.spanId,
            })),
            status: s.status?.code ?? 0,
            statusMessage: s.status?.message,
            startMs: nanosToMs(s.startTimeUnixNano),
            endMs: nanosToMs(s.endTimeUnixNano),
            resource,
          });
        }
      }
    }
    return Response.json({ partialSuccess: {} });
  });
  const close = async () => {
    await server.shutdown();
  };
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    spans: () => [...spans],
    requests: () => [...requests],
    async waitFor(predicate, what) {
      await waitFor(() => predicate(spans), what);
      return [...spans];
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The environment that sends a gateway's spans to `receiver` quickly (50 ms batches), as JSON. */
export function tracingEnv(
  receiver: OtlpReceiver,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "50",
    OTEL_SERVICE_NAME: "mcp-gateway-test",
    ...extra,
  };
}

/** A W3C `traceparent` with fresh ids (sampled), and its parts. */
export function newTraceparent(): { traceparent: string; traceId: string; spanId: string } {
  const hex = (n: number) =>
    Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceparent: `00-${traceId}-${spanId}-01`, traceId, spanId };
}

/** The span id a `traceparent` names as the parent. */
export function parentIdOf(traceparent: unknown): string | undefined {
  return typeof traceparent === "string" ? traceparent.split("-")[2] : undefined;
}
