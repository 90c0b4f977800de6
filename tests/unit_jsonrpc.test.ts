/** JSON-RPC parsing and byte-exact rewriting: only params.name changes, ids of every type survive. */
import { assert, assertEquals } from "./helpers/assert.ts";
import { memberSpans, parseJsonRpc, replaceParamsName } from "../src/mcp/jsonrpc.ts";
import type { GatewayError } from "../src/mcp/errors.ts";
import { parseSse } from "../src/mcp/sse.ts";
import { negotiateProtocolVersion } from "../src/mcp/protocol.ts";

Deno.test("replaceParamsName changes that one string and no other byte", () => {
  const body =
    `{ "id" : 12345678901234567890, "jsonrpc":"2.0","method":"tools/call",\n "params":{"arguments":{"name":"not me","n":1.50},"name":"a_\\u0065cho","_meta":{"progressToken":"p"}}}`;
  const out = replaceParamsName(body, "echo");
  assertEquals(out, body.replace(`"a_\\u0065cho"`, `"echo"`));
  assertEquals(parseJsonRpc(out).message.kind, "request");
  const message = parseJsonRpc(body).message;
  assert(message.kind === "request");
  assertEquals(message.rawId, "12345678901234567890");
});

Deno.test("memberSpans: nested strings with braces and escapes do not confuse it", () => {
  const text = `{"a":"}{\\"","b":[1,{"c":"]"}],"id":"x"}`;
  const spans = memberSpans(text);
  assertEquals(text.slice(...spans.get("id")!), `"x"`);
  assertEquals(text.slice(...spans.get("b")!), `[1,{"c":"]"}]`);
});

Deno.test("parseJsonRpc classifies and rejects with the right error", () => {
  assertEquals(parseJsonRpc(`{"jsonrpc":"2.0","method":"notifications/x"}`).message.kind, "notification");
  assertEquals(parseJsonRpc(`{"jsonrpc":"2.0","id":null,"result":{}}`).message.kind, "response");
  const codes = [
    `{`,
    `[]`,
    `{"jsonrpc":"2.0","id":true,"method":"x"}`,
    `{"jsonrpc":"2.0","id":1,"method":""}`,
    `{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}`,
  ]
    .map((t) => {
      try {
        parseJsonRpc(t);
        return 0;
      } catch (e) {
        return (e as GatewayError).code;
      }
    });
  assertEquals(codes, [-32700, -32600, -32600, -32600, -32600]);
});

Deno.test("SSE parsing handles CRLF, multi-line data and comments", async () => {
  const text = ': hi\r\nevent: message\r\ndata: {"a":\r\ndata: 1}\r\nid: 7\r\n\r\ndata: x\n\n';
  const events = [];
  for await (const e of parseSse(new Blob([text]).stream())) events.push(e);
  assertEquals(events, [{ event: "message", data: `{"a":\n1}`, id: "7" }, { data: "x" }]);
});

Deno.test("protocol negotiation answers the client's version when supported, else the latest", () => {
  assertEquals(negotiateProtocolVersion("2024-11-05"), "2024-11-05");
  assertEquals(negotiateProtocolVersion("2025-03-26"), "2025-03-26");
  assertEquals(negotiateProtocolVersion("2099-01-01"), "2025-11-25");
  assertEquals(negotiateProtocolVersion(undefined), "2025-11-25");
});
