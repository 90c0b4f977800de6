/**
 * The MCP Inspector CLI, a real client we did not write, against the gateway in front of two real
 * server-everything backends (prefixes `a_` and `b_`). Each answer is compared with what the same CLI gets
 * from a backend directly, so the gateway is judged against the backend, not against our expectations.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startTwoBackends } from "./helpers/two_backends.ts";
import { inspectorCli, type InspectorResult } from "./helpers/e2e_inspector.ts";

/** server-everything tools listed only to clients declaring sampling, elicitation or roots. */
const CAPABILITY_GATED = [
  "get-roots-list",
  "trigger-elicitation-request",
  "trigger-sampling-request",
  "trigger-url-elicitation",
];
const prefixed = (prefix: string, names: string[]) => names.map((n) => `${prefix}${n}`);
/** `demo://resource/x` → `demo://a_resource/x`: the prefix goes right after the scheme's `://`. */
const prefixedUri = (prefix: string, uri: string) => uri.replace("://", `://${prefix}`);
const sorted = (names: string[]) => [...names].sort();

function ok(result: InspectorResult, what: string): any {
  assertEquals(result.code, 0, `${what}: exit ${result.code}\n${result.stdout}\n${result.stderr}`);
  assert(result.json !== undefined, `${what}: output is not JSON:\n${result.stdout}\n${result.stderr}`);
  return result.json;
}

Deno.test("e2e: the MCP Inspector CLI lists and calls tools, prompts and resources through the gateway", async (t) => {
  await using backends = await startTwoBackends({ names: ["everything-a", "everything-b"] });
  const { a, gw } = backends;
  await using inspector = await inspectorCli();
  const direct = (...args: string[]) => inspector.run(a.url, args);
  const viaGateway = (...args: string[]) => inspector.run(gw.mcpUrl, args);

  const directTools = ok(await direct("--method", "tools/list"), "direct tools/list");
  const [gwTools, directPrompts, gwPrompts, directResources, gwResources] = await Promise.all([
    viaGateway("--method", "tools/list"),
    direct("--method", "prompts/list"),
    viaGateway("--method", "prompts/list"),
    direct("--method", "resources/list"),
    viaGateway("--method", "resources/list"),
  ]);

  await t.step("tools/list: both backends' tools, each prefixed once", () => {
    const names: string[] = directTools.tools.map((x: { name: string }) => x.name);
    assert(names.includes("echo"), names.join(", "));
    const served: string[] = ok(gwTools, "tools/list").tools.map((x: { name: string }) => x.name);
    const expected = [...prefixed("a_", names), ...prefixed("b_", names)];
    assertEquals(expected.filter((n) => !served.includes(n)), [], "every backend tool is served");
    // The gateway discovers with every client capability declared, so it also lists the tools
    // server-everything shows only to clients that declare sampling, elicitation or roots. Nothing else.
    const extra = served.filter((n) => !expected.includes(n));
    assertEquals(
      extra.filter((n) => !CAPABILITY_GATED.some((tool) => n === `a_${tool}` || n === `b_${tool}`)),
      [],
      `unexpected extra tools: ${extra.join(", ")}`,
    );
    assertEquals(served.length, new Set(served).size, "no duplicates");
  });

  // The Inspector CLI declares no sampling/elicitation/roots: it must not be listed tools that need them.
  await t.step({
    name: "tools/list: exactly the tools the backend shows this client (no capability-gated extras)",
    fn: () => {
      const names: string[] = directTools.tools.map((x: { name: string }) => x.name);
      const served: string[] = ok(gwTools, "tools/list").tools.map((x: { name: string }) => x.name);
      assertEquals(sorted(served), sorted([...prefixed("a_", names), ...prefixed("b_", names)]));
    },
  });

  await t.step("tools/call: echo and get-sum reach the right backend and answer as directly", async () => {
    const [echo, sum, directSum] = await Promise.all([
      viaGateway("--method", "tools/call", "--tool-name", "b_echo", "--tool-arg", "message=hello inspector"),
      viaGateway("--method", "tools/call", "--tool-name", "a_get-sum", "--tool-arg", "a=19", "b=23"),
      direct("--method", "tools/call", "--tool-name", "get-sum", "--tool-arg", "a=19", "b=23"),
    ]);
    assertEquals(ok(echo, "b_echo").content, [{ type: "text", text: "Echo: hello inspector" }]);
    assertEquals(ok(sum, "a_get-sum").content, ok(directSum, "direct get-sum").content);
    assert(JSON.stringify(ok(sum, "a_get-sum").content).includes("42"), sum.stdout);
  });

  await t.step("tools/call of an unknown tool is an error, not a crash", async () => {
    const result = await viaGateway(
      "--method",
      "tools/call",
      "--tool-name",
      "c_echo",
      "--tool-arg",
      "message=x",
    );
    const text = `${result.stdout}\n${result.stderr}`;
    assert(result.code !== 0 || result.json?.isError === true, `unknown tool refused: ${text}`);
    assert(/unknown tool|c_echo/i.test(text), text);
  });

  await t.step("prompts/list and prompts/get", async () => {
    const names: string[] = ok(directPrompts, "direct prompts/list").prompts.map((p: { name: string }) =>
      p.name
    );
    assert(names.includes("args-prompt"), names.join(", "));
    const served: string[] = ok(gwPrompts, "prompts/list").prompts.map((p: { name: string }) => p.name);
    assertEquals(sorted(served), sorted([...prefixed("a_", names), ...prefixed("b_", names)]));
    const [viaGw, viaBackend] = await Promise.all([
      viaGateway("--method", "prompts/get", "--prompt-name", "b_args-prompt", "--prompt-args", "city=Lisbon"),
      direct("--method", "prompts/get", "--prompt-name", "args-prompt", "--prompt-args", "city=Lisbon"),
    ]);
    const messages = ok(viaGw, "prompts/get").messages;
    assertEquals(messages, ok(viaBackend, "direct prompts/get").messages);
    assert(JSON.stringify(messages).includes("Lisbon"), JSON.stringify(messages));
  });

  const uris: string[] = ok(directResources, "direct resources/list").resources.map((r: { uri: string }) =>
    r.uri
  );
  assert(uris.length > 0, "server-everything lists resources");

  await t.step(
    "resources/read: a prefixed URI reads the backend's resource and keeps the served URI",
    async () => {
      const uri = uris[0];
      const served = prefixedUri("b_", uri);
      const [viaGw, viaBackend] = await Promise.all([
        viaGateway("--method", "resources/read", "--uri", served),
        direct("--method", "resources/read", "--uri", uri),
      ]);
      const contents = ok(viaGw, `resources/read ${served}`).contents;
      const expected = ok(viaBackend, "direct resources/read").contents;
      assertEquals(contents, expected.map((c: { uri: string }) => ({ ...c, uri: served })));
    },
  );

  await t.step("resources/list: both backends' resources with prefixed URIs", () => {
    const served: string[] = ok(gwResources, "resources/list").resources.map((r: { uri: string }) => r.uri);
    assertEquals(
      sorted(served),
      sorted([...uris.map((u) => prefixedUri("a_", u)), ...uris.map((u) => prefixedUri("b_", u))]),
    );
  });
});
