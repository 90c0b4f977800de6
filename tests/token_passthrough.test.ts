/**
 * What a backend sees of who is calling, in both data paths: the server's configured credential, never the
 * client's token, cookies or internal headers (MCP forbids token passthrough). A server that opts in with
 * `forwardClientToken` gets the client's token on the Envoy path only, where a policy on its route can
 * exchange it. Rotating a `credentialFile` changes what the next call carries.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { type RecordedRequest, startRecordingProxy } from "./helpers/e2e_recording_proxy.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";
import { connectClient } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";
import { startConformance } from "./servers/conformance.ts";

const CLIENT_HEADERS = {
  authorization: "Bearer client-token",
  cookie: "sid=client-cookie",
  "proxy-authorization": "Basic Y2xpZW50OnByb3h5",
  // Addressed to the gateway (an unknown virtual server narrows nothing), never to a backend.
  "x-mcp-virtualserver": "team/not-configured",
};

/** Headers that must never reach a backend, whatever the path. */
const NEVER = [
  "cookie",
  "proxy-authorization",
  "x-mcp-authorized",
  "x-authorized-tools",
  "x-mcp-virtualserver",
  "x-mcp-hairpin-token",
];

function assertClean(requests: RecordedRequest[], where: string) {
  assert(requests.length > 0, `${where}: the backend saw no request`);
  for (const r of requests) {
    for (const name of NEVER) {
      assert(!(name in r.headers), `${where}: ${r.messages[0]?.method ?? r.method} carried ${name}`);
    }
  }
}

/** The Authorization each routed JSON-RPC method carried, last one per method. */
function authorizationByMethod(requests: RecordedRequest[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const r of requests) if (r.messages[0]?.method) out[r.messages[0].method] = r.headers.authorization;
  return out;
}

/** One call of each routed kind, through `url`, as a client holding its own token and cookies. */
async function exercise(url: string) {
  await using mcp = await connectClient(url, { headers: CLIENT_HEADERS });
  const call = await mcp.client.callTool({ name: "c_test_simple_text", arguments: {} });
  assertEquals((call.content as { text: string }[])[0].text, "This is a simple text response for testing.");
  const prompt = await mcp.client.getPrompt({ name: "c_test_simple_prompt" });
  assert(prompt.messages.length > 0, "prompt answered");
  const read = await mcp.client.readResource({ uri: "test://c_static-text" });
  assertEquals(read.contents[0].uri, "test://c_static-text");
}

async function credentialFile(value: string): Promise<{ path: string; write(v: string): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-cred-" });
  const path = `${dir}/token`;
  const write = async (v: string) => {
    await Deno.writeTextFile(`${path}.tmp`, v);
    await Deno.rename(`${path}.tmp`, path);
  };
  await write(value);
  return { path, write };
}

Deno.test("broker path: backends get the configured credential, never the client's token or cookies", async () => {
  await using backend = await startConformance();
  await using proxy = startRecordingProxy(backend.url);
  await using opted = startRecordingProxy(backend.url);
  const cred = await credentialFile("Bearer server-secret-1");
  await using gw = await startGatewayProcess({
    config: {
      servers: [
        { name: "conf", url: proxy.url, toolPrefix: "c_", credentialFile: cred.path },
        // The opt-in is for a policy on an Envoy route; the broker path has none, so it sends the credential.
        {
          name: "opted",
          url: opted.url,
          toolPrefix: "o_",
          credential: "Bearer opted-secret",
          forwardClientToken: true,
        },
      ],
    },
  });
  await waitFor(async () => (await gw.status()).healthyServers === 2, "both servers ready");
  await exercise(gw.mcpUrl);
  assertClean(proxy.requests(), "broker");
  const seen = authorizationByMethod(proxy.requests());
  for (const method of ["initialize", "tools/call", "prompts/get", "resources/read"]) {
    assertEquals(seen[method], "Bearer server-secret-1", `${method} carried the credential`);
  }
  await using client = await connectClient(gw.mcpUrl, { headers: CLIENT_HEADERS });
  await client.client.callTool({ name: "o_test_simple_text", arguments: {} });
  assertClean(opted.requests(), "broker, opted in");
  assertEquals(authorizationByMethod(opted.requests())["tools/call"], "Bearer opted-secret");

  // A rotated Secret: the next call carries the new value.
  await cred.write("Bearer server-secret-2");
  await waitFor(async () => {
    await client.client.callTool({ name: "c_test_simple_text", arguments: {} });
    return authorizationByMethod(proxy.requests())["tools/call"] === "Bearer server-secret-2";
  }, "the rotated credential on the next call");
  assertClean(proxy.requests(), "broker after rotation");
});

Deno.test("Envoy path: routed calls and the hairpin initialize carry the credential; opt-in forwards the client's token", async () => {
  await using backend = await startConformance();
  await using proxy = startRecordingProxy(backend.url);
  await using opted = startRecordingProxy(backend.url);
  const cred = await credentialFile("Bearer server-secret-1");
  await using stack = await startEnvoyStack([
    { name: "conf", url: proxy.url, hostname: "conf.mcp.local", toolPrefix: "c_", credentialFile: cred.path },
    {
      name: "opted",
      url: opted.url,
      hostname: "opted.mcp.local",
      toolPrefix: "o_",
      credential: "Bearer opted-secret",
      forwardClientToken: true,
    },
  ], { expectTools: 2 });
  await exercise(stack.mcpUrl);
  assertClean(proxy.requests(), "envoy");
  const hairpin = proxy.requests().filter((r) => r.headers["x-mcp-method"] === "initialize");
  assertEquals(hairpin.length, 1, "one hairpin initialize reached the backend");
  assertEquals(hairpin[0].headers.authorization, "Bearer server-secret-1");
  const routed = proxy.requests().filter((r) => r.headers["x-mcp-servername"] === "conf");
  assertEquals(
    routed.map((r) => [r.messages[0]?.method, r.headers.authorization]).filter(([m]) => m !== undefined),
    [
      ["initialize", "Bearer server-secret-1"],
      ["notifications/initialized", "Bearer server-secret-1"],
      ["tools/call", "Bearer server-secret-1"],
      ["prompts/get", "Bearer server-secret-1"],
    ],
  );
  // resources/read goes through the broker, which sends the credential too.
  assertEquals(authorizationByMethod(proxy.requests())["resources/read"], "Bearer server-secret-1");

  // Opted in: Envoy carries the client's token to the route's policy, for the call and the hairpin alike.
  await using client = await connectClient(stack.mcpUrl, { headers: CLIENT_HEADERS });
  await client.client.callTool({ name: "o_test_simple_text", arguments: {} });
  assertClean(opted.requests(), "envoy, opted in");
  const viaEnvoy = opted.requests().filter((r) => r.headers["x-mcp-servername"] === "opted");
  assert(viaEnvoy.length >= 2, "hairpin and call went through Envoy");
  for (const r of viaEnvoy) {
    assertEquals(r.headers.authorization, "Bearer client-token", r.messages[0]?.method);
  }

  // A rotated Secret: the next routed call carries the new value.
  await cred.write("Bearer server-secret-2");
  await waitFor(async () => {
    await client.client.callTool({ name: "c_test_simple_text", arguments: {} });
    return authorizationByMethod(proxy.requests())["tools/call"] === "Bearer server-secret-2";
  }, "the rotated credential on the next call");
  assertClean(proxy.requests(), "envoy after rotation");
});
