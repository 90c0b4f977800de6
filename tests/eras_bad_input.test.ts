/**
 * 2026-07-28 requests the gateway must refuse, each with the spec's error (Streamable HTTP "Server
 * Validation"; the SDK's inbound ladder), echoing the request id, and never served: the backend behind it
 * (a 2026-only one, which records every request it gets) sees none of them.
 */
import { assertEquals } from "./helpers/assert.ts";
import { call, CASES } from "./helpers/eras_bad_input.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { rawPost } from "./helpers/mcp_client.ts";
import { startModern } from "./servers/modern.ts";

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
