/**
 * Which era an inbound message speaks, decided once at the edge with the SDK's own classifier
 * (`classifyInboundRequest`: body-primary, the `MCP-Protocol-Version` header only cross-checks), then the
 * rest of the 2026-07-28 inbound validation ladder (Streamable HTTP, "Server Validation"): the revision
 * must be one the gateway serves (-32022), and a request's standard headers must be present and agree with
 * its body (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` with its base64 sentinel; -32020).
 *
 * The result is one {@link NormalizedRequest}: what the rest of the gateway needs, whichever era. Nothing
 * else in the gateway imports the SDK's classifier or tells the eras apart from headers and `_meta`.
 *
 * ```ts
 * const parsed = parseJsonRpc(text);
 * const request = classifyInbound((name) => req.headers.get(name), parsed); // throws GatewayError
 * request.era; // "2025" | "2026"
 * ```
 */
import { classifyInboundRequest } from "@modelcontextprotocol/server";
import type { HeaderLookup } from "../mcp/backend_headers.ts";
import { GatewayError, type GatewayErrorKind } from "../mcp/errors.ts";
import type { JsonRpcMessage, ParsedBody } from "../mcp/jsonrpc.ts";
import {
  ALL_PROTOCOL_VERSIONS,
  type Era,
  eraOfVersion,
  MODERN_PROTOCOL_VERSIONS,
  RpcCode,
} from "../mcp/protocol.ts";
import { type ClientEnvelope, PROTOCOL_VERSION_META_KEY, readEnvelope } from "./envelope.ts";
import {
  decodeHeaderValue,
  MCP_METHOD_HEADER,
  MCP_NAME_HEADER,
  nameSource,
  PROTOCOL_VERSION_HEADER,
  stripOws,
} from "./headers.ts";

/** One inbound message, as the gateway handles it whichever era it came in. */
export interface NormalizedRequest {
  era: Era;
  /** 2026: the revision the envelope claims; 2025: the `MCP-Protocol-Version` header, when sent. */
  protocolVersion?: string;
  /**
   * 2026: what the request's `_meta` declares of its client. 2025: absent here; the session's claims say
   * it once the request is admitted (`Admitted.envelope`).
   */
  envelope?: ClientEnvelope;
  /** The JSON-RPC message (method, params, raw id). */
  message: JsonRpcMessage;
  /** The body as received, for splicing. */
  text: string;
}

const KIND_BY_CODE: Partial<Record<number, GatewayErrorKind>> = {
  [RpcCode.ParseError]: "parse",
  [RpcCode.InvalidRequest]: "invalid-request",
  [RpcCode.InvalidParams]: "invalid-envelope",
  [RpcCode.HeaderMismatch]: "header-mismatch",
  [RpcCode.UnsupportedProtocolVersion]: "unsupported-version",
  [RpcCode.MissingRequiredClientCapability]: "missing-client-capability",
};

/**
 * The body as the SDK's classifier reads it. The id stands in for the real one, which our parser keeps
 * raw: the gateway carries ids of any size, where the SDK's schema wants safe integers, and an id says
 * nothing of the era.
 */
function bodyOf(message: Exclude<JsonRpcMessage, { kind: "response" }>): Record<string, unknown> {
  switch (message.kind) {
    case "request":
      return { jsonrpc: "2.0", id: 0, method: message.method, ...paramsOf(message.params) };
    case "notification":
      return { jsonrpc: "2.0", method: message.method, ...paramsOf(message.params) };
  }
}

/** Whether `params._meta` carries the envelope's claim (the protocol-version key, whatever its value). */
function hasClaim(params: Record<string, unknown> | undefined): boolean {
  const meta = params?._meta;
  return !!meta && typeof meta === "object" && !Array.isArray(meta) && PROTOCOL_VERSION_META_KEY in meta;
}

function paramsOf(params: Record<string, unknown> | undefined) {
  return params === undefined ? {} : { params };
}

function rawIdOf(message: JsonRpcMessage): string {
  return message.kind === "notification" ? "null" : message.rawId;
}

function header(lookup: HeaderLookup, name: string): string | undefined {
  const value = lookup(name);
  return value === null || value === undefined ? undefined : value;
}

/** A -32020 answer: the headers and the body disagree (or a required header is missing). */
function mismatch(rawId: string, header: string, body: string): GatewayError {
  return new GatewayError(
    "header-mismatch",
    `Bad Request: the request headers and body disagree: ${body}`,
    rawId,
    { data: { mismatch: { header, body } } },
  );
}

/**
 * Classifies a parsed POST body with its headers. Throws the {@link GatewayError} the spec expects for a
 * message no era may serve (malformed envelope, header/body disagreement, unsupported revision).
 */
export function classifyInbound(lookup: HeaderLookup, parsed: ParsedBody): NormalizedRequest {
  const { message, text } = parsed;
  const rawId = rawIdOf(message);
  const versionHeader = header(lookup, PROTOCOL_VERSION_HEADER);
  const methodHeader = header(lookup, MCP_METHOD_HEADER);
  const nameHeader = header(lookup, MCP_NAME_HEADER);
  // A posted response answers a 2025 backend's request: 2026 has none (the classifier says the same).
  if (message.kind === "response") return { era: "2025", protocolVersion: versionHeader, message, text };
  // The 2025 hot path: no envelope claim and no 2026 version header is 2025 by every rule of the
  // classifier (our parser has already checked the JSON-RPC shape), so it is not asked.
  if (
    !hasClaim(message.params) &&
    (versionHeader === undefined || eraOfVersion(stripOws(versionHeader)) === "2025")
  ) {
    return { era: "2025", protocolVersion: versionHeader, message, text };
  }
  const outcome = classifyInboundRequest({
    httpMethod: "POST",
    protocolVersionHeader: versionHeader,
    mcpMethodHeader: methodHeader,
    mcpNameHeader: nameHeader,
    body: bodyOf(message),
  });
  if (outcome.kind === "reject") {
    throw new GatewayError(KIND_BY_CODE[outcome.code] ?? "invalid-request", outcome.message, rawId, {
      data: outcome.data as Record<string, unknown> | undefined,
    });
  }
  if (outcome.kind === "legacy") return { era: "2025", protocolVersion: versionHeader, message, text };

  const revision = outcome.classification.revision;
  if (revision === undefined || !(MODERN_PROTOCOL_VERSIONS as readonly string[]).includes(revision)) {
    throw new GatewayError(
      "unsupported-version",
      `Unsupported protocol version: ${revision ?? "(none)"}; supported: ${ALL_PROTOCOL_VERSIONS.join(", ")}`,
      rawId,
      { data: { supported: [...ALL_PROTOCOL_VERSIONS], requested: revision ?? "unknown" } },
    );
  }
  if (message.kind !== "request") return { era: "2026", protocolVersion: revision, message, text };

  // The standard-header rung: the SDK's classifier cross-checks only what is present; a request must also
  // carry them all, and `Mcp-Name` must name what the body names.
  if (versionHeader === undefined) {
    throw mismatch(
      rawId,
      "(missing)",
      `the body names protocol version ${revision} but MCP-Protocol-Version is absent`,
    );
  }
  if (methodHeader === undefined) {
    throw mismatch(rawId, "(missing)", `the body names method ${message.method} but Mcp-Method is absent`);
  }
  const field = nameSource(message.method);
  const bodyValue = field === undefined ? undefined : message.params?.[field];
  if (field !== undefined && typeof bodyValue === "string") {
    if (nameHeader === undefined) {
      throw mismatch(
        rawId,
        "(missing)",
        `the body carries params.${field}="${bodyValue}" but Mcp-Name is absent`,
      );
    }
    const named = stripOws(nameHeader);
    const decoded = decodeHeaderValue(named);
    if (decoded === undefined) {
      throw mismatch(rawId, named, "the Mcp-Name header carries an invalid Base64 sentinel value");
    }
    if (decoded !== bodyValue) {
      throw mismatch(
        rawId,
        named,
        `the body carries params.${field}="${bodyValue}" but Mcp-Name names "${decoded}"`,
      );
    }
  }
  const meta = message.params?._meta as Record<string, unknown>;
  return { era: "2026", protocolVersion: revision, envelope: readEnvelope(meta), message, text };
}

/** A message that did not come as a 2026 POST (the router's 2025 data path, GET and DELETE). */
export function legacyRequest(lookup: HeaderLookup, parsed: ParsedBody): NormalizedRequest {
  return { era: "2025", protocolVersion: header(lookup, PROTOCOL_VERSION_HEADER), ...parsed };
}
