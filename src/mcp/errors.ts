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
  "internal": { status: 500, code: RpcCode.InternalError },
};

/**
 * An error a client gets told about. `id` is the raw JSON text of the request id, when known. Messages often
 * carry a backend's error (fetch names the URL it failed on), so URLs in them are redacted here, once.
 */
export class GatewayError extends Error {
  readonly status: number;
  readonly code: number;
  constructor(readonly kind: GatewayErrorKind, message: string, readonly rawId: string = "null") {
    super(redactUrlsIn(message));
    this.status = MAPPING[kind].status;
    this.code = MAPPING[kind].code;
  }

  /** The JSON-RPC error object as JSON text (ids are spliced raw so their type and digits survive). */
  body(): string {
    return `{"jsonrpc":"2.0","id":${this.rawId},"error":{"code":${this.code},"message":${
      JSON.stringify(this.message)
    }}}`;
  }

  toResponse(headers: HeadersInit = {}): Response {
    const h = new Headers(headers);
    h.set("content-type", "application/json");
    return new Response(this.body(), { status: this.status, headers: h });
  }
}
