/**
 * The whole MCP authorization flow with real parts on both sides: an MCP SDK client, the `oidc-provider`
 * harness, and a small MCP endpoint protected by the identity modules (BearerValidator, the broker's
 * protected resource metadata, token-claim capabilities, visibleItems). 401 → resource metadata →
 * authorization server metadata → dynamic registration → code + PKCE through the provider's login and
 * consent forms → token → tools, per user.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects as assertRejects } from "node:assert/strict";
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { decodeJwt } from "jose";
import { protectedResourceMetadata } from "../src/broker/oauth.ts";
import { bearerErrorResponse, BearerValidator } from "../src/identity/bearer.ts";
import type { Identity } from "../src/identity/identity.ts";
import { visibleItems } from "../src/identity/authorize.ts";
import type { ServedItem } from "../src/routing/aggregate.ts";
import { startOidcProvider } from "./harness/oidc.ts";
import { connectWithOAuth } from "./helpers/oauth_client.ts";
import { toolNames } from "./helpers/mcp_client.ts";

const CATALOG: ServedItem[] = [
  { name: "weather_get_forecast", server: "weather-service", upstreamName: "get_forecast", item: {} },
  { name: "weather_get_alerts", server: "weather-service", upstreamName: "get_alerts", item: {} },
  { name: "cal_list_events", server: "calendar-service", upstreamName: "list_events", item: {} },
];

interface ProtectedEndpoint {
  mcpUrl: string;
  seen: Identity[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** A stateless MCP endpoint that admits only tokens the BearerValidator accepts, and serves per identity. */
function startProtectedEndpoint(issuer: string): ProtectedEndpoint {
  const seen: Identity[] = [];
  // Both need the port Deno.serve picks, and the handler needs both.
  const late: { validator?: BearerValidator; env: Record<string, string> } = { env: {} };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path.startsWith("/.well-known/oauth-protected-resource")) {
      return Response.json(protectedResourceMetadata((name) => late.env[name]));
    }
    if (path !== "/mcp") return new Response("not found", { status: 404 });
    const result = await late.validator!.validate(req.headers.get("authorization"));
    if (!result.ok) return bearerErrorResponse(result.error);
    seen.push(result.identity);
    const mcp = new McpServer({ name: "protected", version: "1.0.0" });
    for (const item of visibleItems(result.identity, "tool", CATALOG).items) {
      mcp.registerTool(item.name, { description: item.upstreamName }, () => ({
        content: [{ type: "text", text: `${result.identity.subject} called ${item.name}` }],
      }));
    }
    const transport = new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true });
    await mcp.connect(transport);
    return transport.handleRequest(req);
  });
  const mcpUrl = `http://127.0.0.1:${server.addr.port}/mcp`;
  late.env = {
    OAUTH_RESOURCE: mcpUrl,
    OAUTH_AUTHORIZATION_SERVERS: issuer,
    OAUTH_SCOPES_SUPPORTED: "basic",
  };
  late.validator = new BearerValidator({
    resource: mcpUrl,
    authorizationServers: [issuer],
    requiredScopes: ["basic"],
    tokenCapabilities: { claim: "resource_access", format: "roles", types: ["tools", "prompts"] },
  });
  return { mcpUrl, seen, [Symbol.asyncDispose]: () => server.shutdown() };
}

const USERS = {
  alice: {
    password: "alice-pw",
    resourceAccess: { "weather-service": ["tool:get_forecast", "tool:get_alerts"] },
  },
  bob: { password: "bob-pw", resourceAccess: { "calendar-service": ["tool:list_events"] } },
};

Deno.test("oauth flow: an SDK client signs in through the provider's forms and sees its own tools", async () => {
  await using idp = await startOidcProvider({ users: USERS });
  await using endpoint = startProtectedEndpoint(idp.issuer);

  await using alice = await connectWithOAuth(endpoint.mcpUrl, idp, {
    username: "alice",
    password: "alice-pw",
  });
  assertEquals(await toolNames(alice.client), ["weather_get_alerts", "weather_get_forecast"]);
  const result = await alice.client.callTool({ name: "weather_get_forecast", arguments: {} });
  assertEquals(result.content, [{ type: "text", text: "alice called weather_get_forecast" }]);

  // The token the SDK obtained is a JWT for this endpoint (RFC 8707), issued to the registered client.
  const claims = decodeJwt(alice.oauth.saved!.access_token);
  assertEquals(claims.aud, endpoint.mcpUrl);
  assertEquals(claims.iss, idp.issuer);
  const registered = alice.oauth.client!.client_id;
  assert(registered && registered !== "harness-public", "the client registered itself dynamically");
  assertEquals(claims.client_id, registered);
  assert(alice.oauth.authorizationUrl!.searchParams.get("code_challenge_method") === "S256");
  assertEquals(alice.oauth.authorizationUrl!.searchParams.get("resource"), endpoint.mcpUrl);
  assertEquals(endpoint.seen.at(-1)!.subject, "alice");
  assertEquals(endpoint.seen.at(-1)!.clientId, registered);

  await using bob = await connectWithOAuth(endpoint.mcpUrl, idp, { username: "bob", password: "bob-pw" });
  assertEquals(await toolNames(bob.client), ["cal_list_events"]);
  // This SDK server answers an unknown tool with an error result; what matters is bob got no forecast.
  const refused = await bob.client.callTool({ name: "weather_get_forecast", arguments: {} });
  assertEquals(refused.isError, true);
  assertEquals(endpoint.seen.at(-1)!.subject, "bob");
});

Deno.test("oauth flow: a wrong password never yields a code", async () => {
  await using idp = await startOidcProvider({ users: USERS });
  await using endpoint = startProtectedEndpoint(idp.issuer);
  await assertRejects(
    connectWithOAuth(endpoint.mcpUrl, idp, { username: "alice", password: "wrong" }),
    /login refused for alice/,
  );
  assertEquals(endpoint.seen.length, 0);
});
