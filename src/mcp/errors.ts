/**
 * Every error the gateway answers with, as a value: the HTTP status and JSON-RPC code live here, in one
 * place, so the broker and the router (Envoy immediate responses) say the same thing for the same problem.
 */
import { redactUrlsIn } from "../observe/redact.ts";
import { RpcCode } from "./protocol.ts";

export type GatewayErrorKind =
  | "parse"
  | "invalid-request"
  | "batch"
  | "method-not-found"
  | "unknown-tool"
  | "invalid-params"
  | "resource-not-found"
  | "missing-session"
  | "invalid-session"
  | "body-too-large"
  | "request-timeout"
  | "content-type"
  | "not-acceptable"
  | "upstream-unavailable"
  | "upstream-error"
  | "forbidden"
  | "too-many-streams"
  | "unauthorized"
  | "insufficient-scope"
  | "auth-unavailable"
  | "header-mismatch"
  | "invalid-envelope"
  | "missing-client-capability"
  | "unsupported-version"
  | "method-not-in-era"
  | "input-failed"
  | "input-unanswered"
  | "internal";

const MAPPING: Record<GatewayErrorKind, { status: number; code: number }> = {
  "parse": { status: 400, code: RpcCode.ParseError },
  "invalid-request": { status: 400, code: RpcCode.InvalidRequest },
  "batch": { status: 400, code: RpcCode.InvalidRequest },
  // JSON-RPC errors about the method or its params are answers, not transport failures: HTTP 200.
  "method-not-found": { status: 200, code: RpcCode.MethodNotFound },
  "unknown-tool": { status: 200, code: RpcCode.InvalidParams },
  "invalid-params": { status: 200, code: RpcCode.InvalidParams },
  "resource-not-found": { status: 200, code: RpcCode.ResourceNotFound },
  // Spec (Streamable HTTP, session management): no session id → 400; unknown or expired → 404.
  "missing-session": { status: 400, code: RpcCode.InvalidRequest },
  "invalid-session": { status: 404, code: RpcCode.InvalidRequest },
  "body-too-large": { status: 413, code: RpcCode.InvalidRequest },
  // The body did not arrive within --http-body-timeout.
  "request-timeout": { status: 408, code: RpcCode.InvalidRequest },
  "content-type": { status: 415, code: RpcCode.InvalidRequest },
  "not-acceptable": { status: 406, code: RpcCode.InvalidRequest },
  "upstream-unavailable": { status: 502, code: RpcCode.InternalError },
  "upstream-error": { status: 502, code: RpcCode.InternalError },
  "forbidden": { status: 403, code: RpcCode.InvalidRequest },
  "too-many-streams": { status: 429, code: RpcCode.InvalidRequest },
  // OAuth resource server (RFC 6750 §3.1, MCP authorization): the challenge travels in WWW-Authenticate.
  "unauthorized": { status: 401, code: RpcCode.InvalidRequest },
  "insufficient-scope": { status: 403, code: RpcCode.InvalidRequest },
  // The issuer's metadata or keys cannot be fetched: the token may be fine, so not a 401.
  "auth-unavailable": { status: 503, code: RpcCode.InternalError },
  // MCP 2026-07-28, Streamable HTTP "Server Validation": the inbound validation ladder answers with HTTP
  // statuses of its own — 400 for header, envelope, capability and version problems, 404 for a method the
  // revision does not have (removed, like `initialize` and `ping`, or unknown).
  "header-mismatch": { status: 400, code: RpcCode.HeaderMismatch },
  "invalid-envelope": { status: 400, code: RpcCode.InvalidParams },
  "missing-client-capability": { status: 400, code: RpcCode.MissingRequiredClientCapability },
  "unsupported-version": { status: 400, code: RpcCode.UnsupportedProtocolVersion },
  "method-not-in-era": { status: 404, code: RpcCode.MethodNotFound },
  // A call bridged between eras (`broker/bridge/`) ended without its result: the client refused the input a
  // backend asked for, or the backend kept asking, or the call was lost with the replica holding it.
  "input-failed": { status: 200, code: RpcCode.InternalError },
  // The client did not answer the backend's request in time (--input-required-timeout).
  "input-unanswered": { status: 200, code: RpcCode.RequestTimeout },
  "internal": { status: 500, code: RpcCode.InternalError },
};

/** Extra facts for the client: JSON-RPC `error.data`, and when a retry may succeed. */
export interface GatewayErrorDetails {
  /** Becomes the JSON-RPC error's `data`. */
  data?: Record<string, unknown>;
  /** Sent as `Retry-After` (rounded up to seconds); marks the error retryable. */
  retryAfterMs?: number;
  /** Further response headers (e.g. the `WWW-Authenticate` challenge of a 401). */
  headers?: Record<string, string>;
  /** The gateway refused by policy, though the client hears "unknown": for the audit log, never sent. */
  denied?: boolean;
}

/** An error a client gets told about. `rawId` is the raw JSON text of the request id, when known. */
export class GatewayError extends Error {
  readonly status: number;
  readonly code: number;
  constructor(
    readonly kind: GatewayErrorKind,
    message: string,
    readonly rawId: string = "null",
    readonly details: GatewayErrorDetails = {},
  ) {
    // Messages often carry a backend's error (fetch names the URL it failed on): URLs are redacted here, once.
    super(redactUrlsIn(message));
    this.status = MAPPING[kind].status;
    this.code = MAPPING[kind].code;
  }

  /** The same error, answering another request id. */
  withId(rawId: string): GatewayError {
    return rawId === this.rawId ? this : new GatewayError(this.kind, this.message, rawId, this.details);
  }

  /** The JSON-RPC error object as JSON text (ids are spliced raw so their type and digits survive). */
  body(): string {
    const data = this.details.data ? `,"data":${JSON.stringify(this.details.data)}` : "";
    return `{"jsonrpc":"2.0","id":${this.rawId},"error":{"code":${this.code},"message":${
      JSON.stringify(this.message)
    }${data}}}`;
  }

  /** Headers the answer carries besides its content type (`Retry-After` for retryable errors). */
  headers(): Record<string, string> {
    const headers: Record<string, string> = { ...this.details.headers };
    const after = this.details.retryAfterMs;
    if (after !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(after / 1000)));
    return headers;
  }

  toResponse(headers: HeadersInit = {}): Response {
    const h = new Headers(headers);
    for (const [k, v] of Object.entries(this.headers())) h.set(k, v);
    h.set("content-type", "application/json");
    return new Response(this.body(), { status: this.status, headers: h });
  }
}
