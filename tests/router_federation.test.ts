/**
 * Federation through the Envoy data path (harness → router → backends, broker on the default route):
 * the conformance suite passes as it does directly, and prompts, completion, sampling, elicitation and roots
 * are routed to the right backend with the client's answers returned to the backend that asked.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startEverything } from "./helpers/everything.ts";
import { asLocalhost, connectClient } from "./helpers/mcp_client.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";
import { startConformance } from "./servers/conformance.ts";
import {
  ACTIVE_SERVER_SCENARIOS,
  PENDING_SERVER_SCENARIOS,
  runConformance,
} from "./servers/conformance_runner.ts";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

Deno.test("conformance through the Envoy harness path: every scenario passing directly passes", async () => {
  await using backend = await startConformance();
  await using stack = await startEnvoyStack([
    { name: "conformance", url: backend.url, hostname: "conformance.mcp.local", toolPrefix: "" },
  ]);
  const [direct, viaEnvoy] = await Promise.all([
    runConformance(asLocalhost(backend.url), { suite: "all" }),
    runConformance(asLocalhost(stack.mcpUrl), { suite: "all" }),
  ]);
  assertEquals([...direct.passed].sort(), [...ACTIVE_SERVER_SCENARIOS, ...PENDING_SERVER_SCENARIOS].sort());
  const lost = direct.passed.filter((s) => !viaEnvoy.passed.includes(s));
  assertEquals(lost, [], `scenarios passing directly but not through Envoy:\n${viaEnvoy.output}`);
  // The calls really took the Envoy path to the backend, not the broker's own forwarding.
  assert(
    stack.envoy.exchanges.some((x) =>
      x.upstream === backend.url || x.upstream?.startsWith(new URL(backend.url).origin)
    ),
    "routed to the backend cluster",
  );
});

Deno.test("Envoy path: prompts, completion and server-to-client requests reach the right backend", async (t) => {
  await using a = await startEverything();
  await using b = await startEverything();
  await using stack = await startEnvoyStack([
    { name: "server-a", url: a.url, hostname: "a.mcp.local", toolPrefix: "a_" },
    { name: "server-b", url: b.url, hostname: "b.mcp.local", toolPrefix: "b_" },
  ], { expectTools: 20 });
  await using client = await connectClient(stack.mcpUrl, {
    capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } },
  });
  const asked: string[] = [];
  client.client.setRequestHandler(CreateMessageRequestSchema, () => {
    asked.push("sampling");
    return {
      model: "test-model",
      role: "assistant",
      content: { type: "text", text: "sampled by the client" },
    };
  });
  client.client.setRequestHandler(ElicitRequestSchema, () => {
    asked.push("elicitation");
    return { action: "accept", content: { color: "blue" } };
  });
  client.client.setRequestHandler(
    ListRootsRequestSchema,
    () => ({ roots: [{ uri: "file:///work", name: "work" }] }),
  );
  const toBackend = (url: string) =>
    stack.envoy.exchanges.filter((x) => x.upstream?.startsWith(new URL(url).origin)).length;

  await t.step("prompts/get goes to the owning backend through Envoy", async () => {
    const before = toBackend(b.url);
    const prompt = await client.client.getPrompt({ name: "b_simple-prompt", arguments: {} });
    assert(JSON.stringify(prompt.messages).length > 10);
    assert(toBackend(b.url) > before, "b's cluster saw the request");
  });

  await t.step("completion/complete for a prompt is routed by the prompt's name", async () => {
    const prompts = (await client.client.listPrompts()).prompts;
    const completable = prompts.find((p: { name: string }) => p.name === "a_completable-prompt");
    assert(completable, prompts.map((p: { name: string }) => p.name).join());
    const seen = stack.envoy.exchanges.length;
    const result = await client.client.complete({
      ref: { type: "ref/prompt", name: "a_completable-prompt" },
      argument: { name: "department", value: "Eng" },
    });
    assertEquals(result.completion.values, ["Engineering"]);
    // Envoy carried it to a's cluster, with the prompt's name as a knows it (not through the broker).
    const completions = stack.envoy.exchanges.slice(seen).filter((x) =>
      x.upstreamBody?.includes(`"completion/complete"`)
    );
    assertEquals(completions.map((x) => x.upstream), [new URL(a.url).origin]);
    assertEquals(JSON.parse(completions[0].upstreamBody!).params.ref.name, "completable-prompt");
  });

  await t.step("sampling during a call: the client's answer reaches the backend that asked", async () => {
    const result = await client.client.callTool({
      name: "b_trigger-sampling-request",
      arguments: { prompt: "hello", maxTokens: 10 },
    });
    assert(JSON.stringify(result.content).includes("sampled by the client"), JSON.stringify(result.content));
  });

  await t.step("elicitation during a call", async () => {
    const result = await client.client.callTool({ name: "a_trigger-elicitation-request", arguments: {} });
    assert(JSON.stringify(result.content).includes("blue"), JSON.stringify(result.content));
  });

  await t.step("roots during a call", async () => {
    const result = await client.client.callTool({ name: "a_get-roots-list", arguments: {} });
    assert(JSON.stringify(result.content).includes("file:///work"), JSON.stringify(result.content));
  });
  assertEquals(asked.sort(), ["elicitation", "sampling"]);
});
