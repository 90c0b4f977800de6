/**
 * 2026-07-28 requests a gateway must refuse, each with the spec's error (Streamable HTTP "Server
 * Validation"; the SDK's inbound ladder): a valid `tools/call` of a 2026 backend's `echo` (served as
 * `m_echo`) with one thing broken about it, and methods 2026 removed. Shared by the broker path
 * (eras_bad_input.test.ts) and the Envoy path (eras_envoy.test.ts), which must answer alike.
 */
import { assert, assertEquals } from "./assert.ts";
import { envelope, MODERN_VERSION, modernRequest } from "./mcp_client_v2.ts";

export interface Case {
  why: string;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  status: number;
  code: number;
  data?: (data: any) => void;
}

/** A valid `tools/call` of the backend's `echo` (served as `m_echo`), then one thing broken about it. */
export function call(change: (r: ReturnType<typeof modernRequest>) => void = () => {}) {
  const request = modernRequest("tools/call", { name: "m_echo", arguments: { message: "never served" } }, 7);
  change(request);
  return request;
}
const params = (r: ReturnType<typeof modernRequest>) => r.body.params as Record<string, unknown>;

export const CASES: Case[] = [
  {
    why: "a 2026 header without the _meta envelope",
    ...call((r) => delete params(r)._meta),
    status: 400,
    code: -32602,
    data: (d) => assertEquals(d.envelope.missing, ["_meta"]),
  },
  {
    why: "an envelope without clientCapabilities",
    ...call((r) => params(r)._meta = envelope({ "io.modelcontextprotocol/clientCapabilities": undefined })),
    status: 400,
    code: -32602,
    data: (d) =>
      assertEquals(d.envelope, { key: "io.modelcontextprotocol/clientCapabilities", problem: "missing" }),
  },
  {
    why: "a malformed clientInfo",
    ...call((r) => params(r)._meta = envelope({ "io.modelcontextprotocol/clientInfo": "me" })),
    status: 400,
    code: -32602,
  },
  {
    why: "an unsupported version",
    ...call((r) => {
      params(r)._meta = envelope({ "io.modelcontextprotocol/protocolVersion": "2027-01-01" });
      r.headers["mcp-protocol-version"] = "2027-01-01";
    }),
    status: 400,
    code: -32022,
    data: (d) => {
      assertEquals(d.requested, "2027-01-01");
      assert(d.supported.includes(MODERN_VERSION) && d.supported.includes("2025-11-25"), JSON.stringify(d));
    },
  },
  {
    why: "MCP-Protocol-Version disagreeing with the envelope",
    ...call((r) => r.headers["mcp-protocol-version"] = "2025-11-25"),
    status: 400,
    code: -32020,
  },
  {
    why: "Mcp-Method disagreeing with the body",
    ...call((r) => r.headers["mcp-method"] = "tools/list"),
    status: 400,
    code: -32020,
  },
  {
    why: "Mcp-Name naming another tool than the body",
    ...call((r) => r.headers["mcp-name"] = "m_inspect"),
    status: 400,
    code: -32020,
    data: (d) => assertEquals(d.mismatch.header, "m_inspect"),
  },
  { why: "no Mcp-Name", ...call((r) => delete r.headers["mcp-name"]), status: 400, code: -32020 },
  { why: "no Mcp-Method", ...call((r) => delete r.headers["mcp-method"]), status: 400, code: -32020 },
  {
    why: "an Mcp-Name sentinel that is not canonical base64",
    ...call((r) => r.headers["mcp-name"] = "=?base64?bV9lY2h?="),
    status: 400,
    code: -32020,
  },
  { why: "ping (removed)", ...modernRequest("ping", {}, 8), status: 404, code: -32601 },
  {
    why: "logging/setLevel (removed)",
    ...modernRequest("logging/setLevel", { level: "info" }, 9),
    status: 404,
    code: -32601,
  },
  {
    why: "resources/subscribe (removed)",
    ...modernRequest("resources/subscribe", { uri: "modern://m_counter" }, 10),
    status: 404,
    code: -32601,
  },
  {
    why: "initialize with a 2026 envelope",
    ...modernRequest("initialize", { protocolVersion: MODERN_VERSION, capabilities: {} }, 11),
    status: 404,
    code: -32601,
  },
  {
    why: "tasks/get without the tasks extension",
    ...modernRequest("tasks/get", { taskId: "t-1" }, 12),
    status: 400,
    code: -32021,
    data: (d) =>
      assertEquals(Object.keys(d.requiredCapabilities.extensions), ["io.modelcontextprotocol/tasks"]),
  },
];
