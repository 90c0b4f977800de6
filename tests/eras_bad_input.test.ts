/**
 * 2026-07-28 requests the gateway must refuse, each with the spec's error (Streamable HTTP "Server
 * Validation"; the SDK's inbound ladder), echoing the request id, and never served: the backend behind it
 * (a 2026-only one, which records every request it gets) sees none of them.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { rawPost } from "./helpers/mcp_client.ts";
import { envelope, MODERN_VERSION, modernRequest } from "./helpers/mcp_client_v2.ts";
import { startModern } from "./servers/modern.ts";

interface Case {
  why: string;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  status: number;
  code: number;
  data?: (data: any) => void;
}

/** A valid `tools/call` of the backend's `echo` (served as `m_echo`), then one thing broken about it. */
function call(change: (r: ReturnType<typeof modernRequest>) => void = () => {}) {
  const request = modernRequest("tools/call", { name: "m_echo", arguments: { message: "never served" } }, 7);
  change(request);
  return request;
}
const params = (r: ReturnType<typeof modernRequest>) => r.body.params as Record<string, unknown>;

const CASES: Case[] = [
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

Deno.test("2026 bad input: each gets the spec's error with its id and never reaches the backend", async () => {
  await using backend = await startModern({ mode: "modern" });
  await using gw = await startGatewayFor([{ name: "m", url: backend.url, toolPrefix: "m_" }]);
  const before = backend.state.observed.length;
  for (const c of CASES) {
    const r = await rawPost(gw.mcpUrl, JSON.stringify(c.body), c.headers);
    const json = r.json as { id?: unknown; error?: { code: number; data?: unknown } };
    assertEquals([r.status, json?.error?.code], [c.status, c.code], `${c.why}: ${r.text}`);
    assertEquals(json.id, c.body.id, `${c.why}: the error answers the request`);
    c.data?.(json.error?.data);
  }
  const reached = backend.state.observed.slice(before).filter((o) => o.method === "tools/call");
  assertEquals(reached, [], "no refused call was served");
  // The same call, well-formed, is served: the refusals above were about what each broke. (Its Mcp-Name is
  // the base64 sentinel form of "m_echo", which any value may take.)
  const ok = call((r) => r.headers["mcp-name"] = `=?base64?${btoa("m_echo")}?=`);
  const r = await rawPost(gw.mcpUrl, JSON.stringify(ok.body), ok.headers);
  assertEquals((r.json as any)?.result?.content?.[0]?.text, "Echo: never served", r.text);
});
