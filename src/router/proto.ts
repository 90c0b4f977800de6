/**
 * The ext_proc wire contract: the proto subset in `proto/` loaded with proto-loader, and TypeScript shapes
 * for the messages as proto-loader presents them (snake_case keys, enums as names, bytes as Uint8Array).
 * The harness (the Envoy side) and the router (the processor side) share this one definition.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

const PROTO_ROOT = fileURLToPath(new URL("../../proto/", import.meta.url));
const SERVICE_FILE = "envoy/service/ext_proc/v3/external_processor.proto";

export type HeaderSendMode = "DEFAULT" | "SEND" | "SKIP";
export type BodySendMode =
  | "NONE"
  | "STREAMED"
  | "BUFFERED"
  | "BUFFERED_PARTIAL"
  | "FULL_DUPLEX_STREAMED"
  | "GRPC";

export interface HeaderValue {
  key: string;
  value?: string;
  raw_value?: Uint8Array;
}
export interface HeaderValueOption {
  header?: HeaderValue;
  append?: { value?: boolean } | null;
  append_action?: string | number;
  keep_empty_value?: boolean;
}
export interface HeaderMap {
  headers?: HeaderValue[];
}
export interface HeaderMutation {
  set_headers?: HeaderValueOption[];
  remove_headers?: string[];
}
export interface BodyMutation {
  body?: Uint8Array;
  clear_body?: boolean;
  streamed_response?: { body?: Uint8Array; end_of_stream?: boolean };
  mutation?: string;
}
export interface CommonResponse {
  status?: "CONTINUE" | "CONTINUE_AND_REPLACE";
  header_mutation?: HeaderMutation | null;
  body_mutation?: BodyMutation | null;
  clear_route_cache?: boolean;
}
export interface ProcessingMode {
  request_header_mode?: HeaderSendMode;
  response_header_mode?: HeaderSendMode;
  request_body_mode?: BodySendMode;
  response_body_mode?: BodySendMode;
  request_trailer_mode?: HeaderSendMode;
  response_trailer_mode?: HeaderSendMode;
}
export interface ImmediateResponse {
  status?: { code?: string | number } | null;
  headers?: HeaderMutation | null;
  body?: Uint8Array;
  grpc_status?: { status?: number } | null;
  details?: string;
}
/**
 * google.protobuf.Struct as proto-loader encodes it. The well-known types come from protobufjs's built-in
 * definitions, whose field names are camelCase even with `keepCase`.
 */
export interface PbStruct {
  fields?: Record<string, PbValue>;
}
export interface PbValue {
  nullValue?: string | number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: PbStruct;
  listValue?: { values?: PbValue[] };
  kind?: string;
}

/** Plain JSON → Struct (for `dynamic_metadata`). */
export function toStruct(value: Record<string, unknown>): PbStruct {
  const fields: Record<string, PbValue> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) fields[k] = toValue(v);
  return { fields };
}

function toValue(v: unknown): PbValue {
  if (v === null) return { nullValue: "NULL_VALUE" };
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v as Record<string, unknown>) };
}

/** Struct → plain JSON (the Envoy side reads `dynamic_metadata` with this). */
export function fromStruct(struct: PbStruct | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(struct?.fields ?? {})) out[k] = fromValue(v);
  return out;
}

function fromValue(v: PbValue): unknown {
  if (v.structValue) return fromStruct(v.structValue);
  if (v.listValue) return (v.listValue.values ?? []).map(fromValue);
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.numberValue !== undefined) return v.numberValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return null;
}
export interface HttpHeaders {
  headers?: HeaderMap | null;
  end_of_stream?: boolean;
}
export interface HttpBody {
  body?: Uint8Array;
  end_of_stream?: boolean;
}

export interface ProcessingRequest {
  request_headers?: HttpHeaders;
  response_headers?: HttpHeaders;
  request_body?: HttpBody;
  response_body?: HttpBody;
  request_trailers?: { trailers?: HeaderMap };
  response_trailers?: { trailers?: HeaderMap };
  metadata_context?: { filter_metadata?: Record<string, PbStruct> };
  observability_mode?: boolean;
  protocol_config?: {
    request_body_mode?: BodySendMode;
    response_body_mode?: BodySendMode;
    send_body_without_waiting_for_header_response?: boolean;
  };
  /** Which arm of the `request` oneof is set (proto-loader `oneofs: true`). */
  request?: RequestArm;
}
export type RequestArm =
  | "request_headers"
  | "response_headers"
  | "request_body"
  | "response_body"
  | "request_trailers"
  | "response_trailers";

export interface ProcessingResponse {
  request_headers?: { response?: CommonResponse | null };
  response_headers?: { response?: CommonResponse | null };
  request_body?: { response?: CommonResponse | null };
  response_body?: { response?: CommonResponse | null };
  request_trailers?: { header_mutation?: HeaderMutation | null };
  response_trailers?: { header_mutation?: HeaderMutation | null };
  immediate_response?: ImmediateResponse;
  streamed_immediate_response?: unknown;
  dynamic_metadata?: PbStruct | null;
  mode_override?: ProcessingMode | null;
  override_message_timeout?: { seconds?: string | number; nanos?: number } | null;
  /** Which arm of the `response` oneof is set. */
  response?: ResponseArm;
}
export type ResponseArm = RequestArm | "immediate_response" | "streamed_immediate_response";

export type ProcessStream = grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>;
export type ProcessCall = grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;

let cached: grpc.ServiceDefinition | undefined;

/** The `envoy.service.ext_proc.v3.ExternalProcessor` service, loaded once from `proto/`. */
export function externalProcessorService(): grpc.ServiceDefinition {
  if (cached) return cached;
  const definition = protoLoader.loadSync(SERVICE_FILE, {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } };
  };
  cached = pkg.envoy.service.ext_proc.v3.ExternalProcessor.service;
  return cached;
}

/** A client constructor for the service (the Envoy side: the harness and tests). */
export function externalProcessorClient(): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(externalProcessorService(), "ExternalProcessor");
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A header for a mutation: Envoy applies only `raw_value` (it ignores `value`, issue #31555). */
export function rawHeader(key: string, value: string): HeaderValueOption {
  return { header: { key, raw_value: headerBytes(value) } };
}

/**
 * Most header values a router writes repeat from request to request (hosts, paths, server and method
 * names, versions): their bytes are encoded once and shared (never written to), instead of one encoder
 * call per header per reply. Bounded; long or one-off values are encoded each time.
 */
const encodedValues = new Map<string, Uint8Array>();
const MAX_ENCODED_VALUES = 1024;

function headerBytes(value: string): Uint8Array {
  let bytes = encodedValues.get(value);
  if (bytes) return bytes;
  bytes = encoder.encode(value);
  if (value.length <= 256) {
    if (encodedValues.size >= MAX_ENCODED_VALUES) encodedValues.clear();
    encodedValues.set(value, bytes);
  }
  return bytes;
}

/** Reads a header value as Envoy sends it: `raw_value` bytes, falling back to `value` for old Envoys. */
export function headerText(h: HeaderValue): string {
  return h.raw_value && h.raw_value.length > 0 ? decoder.decode(h.raw_value) : h.value ?? "";
}

/** Flattens a HeaderMap into lower-case name → value (repeated headers joined with ", "). */
export function headerRecord(map: HeaderMap | null | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const h of map?.headers ?? []) {
    const key = h.key.toLowerCase();
    const value = headerText(h);
    const previous = out.get(key);
    out.set(key, previous === undefined ? value : `${previous}, ${value}`);
  }
  return out;
}

/** `envoy.type.v3.StatusCode` names in the subset → HTTP status (proto-loader decodes known values as names). */
const STATUS_BY_NAME: Record<string, number> = {
  Empty: 0,
  Continue: 100,
  OK: 200,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  NotAcceptable: 406,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  InternalServerError: 500,
  BadGateway: 502,
  ServiceUnavailable: 503,
  GatewayTimeout: 504,
};

/** An `HttpStatus.code` as a number, whether it decoded as a name or a bare number. */
export function statusNumber(code: string | number | undefined): number {
  if (typeof code === "number") return code;
  if (code === undefined) return 0;
  return STATUS_BY_NAME[code] ?? (Number.isInteger(Number(code)) ? Number(code) : 0);
}
