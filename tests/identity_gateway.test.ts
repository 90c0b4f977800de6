/**
 * Identity through the gateway itself, against a real authorization server (`oidc-provider`): the whole
 * MCP OAuth flow, per-user tools in both data paths, sessions bound to their subject, expiry, key rotation,
 * other audiences, the trusted header with and without enforcement, and the audit log's lines.
 */
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { connectClient, initializeBody, rawPost, toolCallBody, toolNames } from "./helpers/mcp_client.ts";
import { connectWithOAuth } from "./helpers/oauth_client.ts";
import { freePort, waitFor } from "./helpers/ports.ts";
import { type OidcHarness, startOidcProvider } from "./harness/oidc.ts";
import { startEnvoyStack } from "./harness/envoy_stack.ts";
import { startWeather } from "./servers/weather.ts";

const USERS = {
  alice: { password: "alice-pw", resourceAccess: { weather: ["tool:get_current"] } },
  bob: { password: "bob-pw", resourceAccess: { weather: ["tool:get_forecast", "tool:get_alerts"] } },
};

/** Token validation on, capabilities from Keycloak-style roles, keys refetched at once, no clock leeway. */
function oauthEnv(idp: OidcHarness, resource: string): Record<string, string> {
  return {
    OAUTH_RESOURCE: resource,
    OAUTH_AUTHORIZATION_SERVERS: idp.issuer,
    OAUTH_JWKS_COOLDOWN_SECONDS: "0",
    OAUTH_CLOCK_TOLERANCE_SECONDS: "0",
  };
}
const OAUTH_ARGS = ["--oauth-validate-tokens", "--token-capabilities", "resource_access"];

async function token(idp: OidcHarness, user: "alice" | "bob", resource: string): Promise<string> {
  return (await idp.userToken(user, { resource, password: USERS[user].password })).access_token;
}

/** Initializes a raw session as the holder of `bearer`; returns the session id. */
async function openSession(url: string, bearer: string): Promise<string> {
  const res = await rawPost(url, initializeBody(), { authorization: `Bearer ${bearer}` });
  assertEquals(res.status, 200, res.text);
  return res.headers.get("mcp-session-id")!;
}

/** The trace and request ids a call carries here, as a tracing client and Envoy would set them. */
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const correlation = (id: number) => ({
  traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01`,
  "x-request-id": `req-${id}`,
});

function callAs(url: string, bearer: string, session: string, id: number, name: string) {
  return rawPost(url, toolCallBody(id, name, { city: "Paris", days: 1, region: "EU" }), {
    authorization: `Bearer ${bearer}`,
    "mcp-session-id": session,
    ...correlation(id),
  });
}

async function auditLines(file: string): Promise<any[]> {
  const text = await Deno.readTextFile(file).catch(() => "");
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

Deno.test("broker path: OAuth flow, per-user tools, session bound to its subject, expiry, rotation, audit", async () => {
  await using idp = await startOidcProvider({ users: USERS });
  await using weather = await startWeather();
  const port = freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const audit = await Deno.makeTempFile({ suffix: ".jsonl" });
  await using gw = await startGatewayFor([{ name: "weather", url: weather.url, toolPrefix: "w_" }], {
    args: ["--mcp-broker-address", `127.0.0.1:${port}`, ...OAUTH_ARGS, "--audit-log", audit],
    env: oauthEnv(idp, resource),
  });

  // No token: 401 with the challenge pointing at the protected resource metadata.
  const anonymous = await rawPost(gw.mcpUrl, initializeBody());
  assertEquals(anonymous.status, 401);
  assertEquals(
    anonymous.headers.get("www-authenticate")?.includes(
      `resource_metadata="http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp"`,
    ),
    true,
    String(anonymous.headers.get("www-authenticate")),
  );

  // The whole flow, as an MCP SDK client does it: 401 → metadata → registration → code + PKCE → tools.
  await using viaFlow = await connectWithOAuth(gw.mcpUrl, idp, {
    username: "alice",
    password: USERS.alice.password,
  });
  assertEquals(await toolNames(viaFlow.client), ["w_get_current"]);

  // Two users, two views; a call outside one's view is refused like an unknown tool.
  const alice = await token(idp, "alice", resource);
  const bob = await token(idp, "bob", resource);
  await using aliceClient = await connectClient(gw.mcpUrl, { headers: { authorization: `Bearer ${alice}` } });
  await using bobClient = await connectClient(gw.mcpUrl, { headers: { authorization: `Bearer ${bob}` } });
  assertEquals(await toolNames(aliceClient.client), ["w_get_current"]);
  assertEquals(await toolNames(bobClient.client), ["w_get_alerts", "w_get_forecast"]);
  const aliceSession = await openSession(gw.mcpUrl, alice);
  const allowed = await callAs(gw.mcpUrl, alice, aliceSession, 1, "w_get_current");
  assert(allowed.json.result, allowed.text);
  const denied = await callAs(gw.mcpUrl, alice, aliceSession, 2, "w_get_forecast");
  assertEquals([denied.status, denied.json.error.code], [200, -32602]);
  assertEquals(denied.json.error.message, "Unknown tool: w_get_forecast");
  // A failed call: the tool runs and reports an error (an unknown city is an error result of weather).
  const failed = await rawPost(gw.mcpUrl, toolCallBody(3, "w_get_current", { city: 42 }), {
    authorization: `Bearer ${alice}`,
    "mcp-session-id": aliceSession,
  });
  assertEquals(failed.status, 200);

  // Alice's session with Bob's token: not his.
  const hijack = await callAs(gw.mcpUrl, bob, aliceSession, 4, "w_get_forecast");
  assertEquals(hijack.status, 404, hijack.text);

  // Another resource's token is refused.
  const foreign = await token(idp, "alice", "http://elsewhere.example/mcp");
  assertEquals(
    (await rawPost(gw.mcpUrl, initializeBody(), { authorization: `Bearer ${foreign}` })).status,
    401,
  );

  // A token expiring mid-session: the next request gets 401, a fresh token carries on in the same session.
  idp.setAccessTokenTtl(1);
  const shortLived = await token(idp, "alice", resource);
  idp.setAccessTokenTtl(300);
  const short = await openSession(gw.mcpUrl, shortLived);
  assert((await callAs(gw.mcpUrl, shortLived, short, 5, "w_get_current")).json.result);
  await waitFor(
    async () => (await callAs(gw.mcpUrl, shortLived, short, 6, "w_get_current")).status === 401,
    "the expired token refused",
  );
  assert(
    (await callAs(gw.mcpUrl, alice, short, 7, "w_get_current")).json.result,
    "a renewed token, same session",
  );

  // The provider rotates its keys: tokens signed with the new key are accepted at once.
  await idp.rotateKeys({ keepOld: false });
  const rotated = await token(idp, "bob", resource);
  const bobSession = await openSession(gw.mcpUrl, rotated);
  assert((await callAs(gw.mcpUrl, rotated, bobSession, 8, "w_get_forecast")).json.result);

  // The audit log: one line per routed call, allowed, denied and failed, never a token.
  await waitFor(async () => (await auditLines(audit)).length >= 4, "audit lines");
  const lines = await auditLines(audit);
  const byId = (id: number) => lines.find((l) => l.rpcId === id && l.session !== null);
  assertEquals(
    [byId(1)?.outcome, byId(1)?.subject, byId(1)?.server, byId(1)?.name],
    ["ok", "alice", "weather", "w_get_current"],
  );
  assertEquals([byId(2)?.outcome, byId(2)?.server], ["denied", "weather"]);
  assertEquals(byId(3)?.outcome, "error");
  // Each line can be found again by the request's trace and request ids.
  assertEquals([byId(1)?.traceId, byId(1)?.requestId], [TRACE_ID, "req-1"]);
  assertEquals([byId(2)?.traceId, byId(2)?.requestId], [TRACE_ID, "req-2"]);
  const text = await Deno.readTextFile(audit);
  for (const t of [alice, bob, shortLived, rotated]) assert(!text.includes(t), "no token in the audit log");
  assert(!text.includes(aliceSession), "no session id in the audit log");
});

Deno.test("Envoy path: per-user tools and refusals in the router; audit lines from the router", async () => {
  await using idp = await startOidcProvider({ users: USERS });
  await using weather = await startWeather();
  const resource = "http://mcp.127-0-0-1.sslip.io:8888/mcp";
  const audit = await Deno.makeTempFile({ suffix: ".jsonl" });
  await using stack = await startEnvoyStack(
    [{ name: "weather", url: weather.url, hostname: "weather.mcp.local", toolPrefix: "w_" }],
    { args: [...OAUTH_ARGS, "--audit-log", audit], env: oauthEnv(idp, resource) },
  );
  const alice = await token(idp, "alice", resource);
  const bob = await token(idp, "bob", resource);
  await using aliceClient = await connectClient(stack.mcpUrl, {
    headers: { authorization: `Bearer ${alice}` },
  });
  await using bobClient = await connectClient(stack.mcpUrl, { headers: { authorization: `Bearer ${bob}` } });
  assertEquals(await toolNames(aliceClient.client), ["w_get_current"]);
  assertEquals(await toolNames(bobClient.client), ["w_get_alerts", "w_get_forecast"]);
  const ok = await aliceClient.client.callTool({ name: "w_get_current", arguments: { city: "Paris" } });
  assert(!ok.isError, JSON.stringify(ok));
  const aliceSession = aliceClient.transport.sessionId!;
  const denied = await callAs(stack.mcpUrl, alice, aliceSession, 2, "w_get_forecast");
  assertEquals([denied.status, denied.json.error.code], [200, -32602]);
  const hijack = await callAs(stack.mcpUrl, bob, aliceSession, 3, "w_get_current");
  assertEquals(hijack.status, 404, hijack.text);
  assertEquals((await rawPost(stack.mcpUrl, initializeBody())).status, 401);

  await waitFor(async () => (await auditLines(audit)).some((l) => l.outcome === "denied"), "audit lines");
  const lines = await auditLines(audit);
  const router = lines.filter((l) => l.path === "router");
  assert(router.some((l) => l.outcome === "ok" && l.subject === "alice" && l.name === "w_get_current"));
  const refused = router.find((l) => l.outcome === "denied" && l.rpcId === 2);
  assertEquals([refused?.traceId, refused?.requestId], [TRACE_ID, "req-2"]);
});

Deno.test("trusted header: Kuadrant's x-mcp-authorized narrows tools; forged, expired or missing, with and without enforcement", async () => {
  await using weather = await startWeather();
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const pem = await exportSPKI(publicKey);
  const sign = (claims: Record<string, unknown>, key = privateKey, exp = "5m") =>
    new SignJWT(claims).setProtectedHeader({ alg: "ES256" }).setIssuer("authorino").setExpirationTime(exp)
      .sign(key);
  const capabilities = (tools: string[]) => ({
    "allowed-capabilities": JSON.stringify({ tools: { weather: tools } }),
  });
  const servers = [{ name: "weather", url: weather.url, toolPrefix: "w_" }];
  const listAs = async (url: string, headers: Record<string, string>) => {
    await using client = await connectClient(url, { headers });
    return await toolNames(client.client);
  };

  // The PEM travels in the environment (as a Secret mounted into it would); the flag takes it or a file.
  await using open = await startGatewayFor(servers, { env: { TRUSTED_HEADER_PUBLIC_KEY: pem } });
  const all = await listAs(open.mcpUrl, {});
  assert(all.length >= 4, "no header, no enforcement: everything");
  assertEquals(
    await listAs(open.mcpUrl, { "x-mcp-authorized": await sign(capabilities(["get_current"])) }),
    ["w_get_current"],
  );
  // The kagenti-era header and claim.
  assertEquals(
    await listAs(open.mcpUrl, {
      "x-authorized-tools": await sign({ "allowed-tools": JSON.stringify({ weather: ["get_alerts"] }) }),
    }),
    ["w_get_alerts"],
  );
  const { privateKey: otherKey } = await generateKeyPair("ES256");
  assertEquals(
    await listAs(open.mcpUrl, { "x-mcp-authorized": await sign(capabilities(["get_current"]), otherKey) }),
    [],
    "forged: nothing",
  );
  const expired = await sign(
    capabilities(["get_current"]),
    privateKey,
    Math.floor(Date.now() / 1000) - 60 as never,
  );
  assertEquals(await listAs(open.mcpUrl, { "x-mcp-authorized": expired }), [], "expired: nothing");
  // A call the header does not allow is refused even without listing first.
  const headers = { "x-mcp-authorized": await sign(capabilities(["get_current"])) };
  const init = await rawPost(open.mcpUrl, initializeBody(), headers);
  const session = init.headers.get("mcp-session-id")!;
  const refused = await rawPost(open.mcpUrl, toolCallBody(1, "w_get_forecast", { city: "Paris", days: 1 }), {
    ...headers,
    "mcp-session-id": session,
  });
  assertEquals(refused.json.error.code, -32602);

  const keyFile = await Deno.makeTempFile({ suffix: ".pem" });
  await Deno.writeTextFile(keyFile, pem);
  await using enforced = await startGatewayFor(servers, {
    args: ["--trusted-header-public-key", keyFile, "--enforce-capability-filtering"],
  });
  assertEquals(await listAs(enforced.mcpUrl, {}), [], "enforced, no header: nothing");
  assertEquals(
    await listAs(enforced.mcpUrl, { "x-mcp-authorized": await sign(capabilities(["get_forecast"])) }),
    ["w_get_forecast"],
  );
});
