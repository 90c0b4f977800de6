/**
 * BearerValidator against a real authorization server (oidc-provider): discovery, keys, audience, expiry,
 * scopes, rotation, and the challenges a client gets for each refusal.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { generateKeyPair, SignJWT } from "jose";
import {
  bearerErrorResponse,
  BearerValidator,
  discoveryUrls,
  oauthOptionsFromEnv,
  type OAuthOptionsInput,
  protectedResourceMetadataUrl,
} from "../src/identity/bearer.ts";
import { startOidcProvider } from "./harness/oidc.ts";

const RESOURCE = "http://127.0.0.1:8080/mcp";
const METADATA = "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp";

function validator(issuer: string, extra: Partial<OAuthOptionsInput> = {}) {
  return new BearerValidator({ resource: RESOURCE, authorizationServers: [issuer], ...extra });
}

Deno.test("bearer: a token for this resource from a configured issuer is accepted, once discovered", async () => {
  await using idp = await startOidcProvider({
    users: { alice: { password: "pw", resourceAccess: { "weather-service": ["tool:get_forecast"] } } },
  });
  const v = validator(idp.issuer, { tokenCapabilities: { claim: "resource_access" } });
  const user = await idp.userToken("alice", { resource: RESOURCE, scope: "basic mcp:tools" });
  const ok = await v.validate(`Bearer ${user.access_token}`);
  assert(ok.ok, JSON.stringify(!ok.ok && ok.error));
  assertEquals(ok.identity.source, "token");
  assertEquals(ok.identity.subject, "alice");
  assertEquals(ok.identity.clientId, "harness-public");
  assertEquals(ok.identity.issuer, idp.issuer);
  assertEquals(ok.identity.scopes, ["basic", "mcp:tools"]);
  assertEquals(ok.identity.allowed, { tools: { "weather-service": ["get_forecast"] }, prompts: {} });
  assertEquals(ok.identity.capabilitySources, ["token-claims"]);
  assert(ok.identity.expiresAt! > Date.now() / 1000);

  // A service's own token (client credentials) works the same way; "bearer" is case-insensitive.
  const service = await idp.clientCredentialsToken({ resource: RESOURCE, scope: "basic" });
  const svc = await v.validate(`bearer ${service.access_token}`);
  assert(svc.ok);
  assertEquals([svc.identity.subject, svc.identity.clientId], ["svc", "svc"]);

  // Keys are fetched once and reused: many validations, one JWKS request, one discovery.
  for (let i = 0; i < 50; i++) assert((await v.validate(`Bearer ${user.access_token}`)).ok);
  assertEquals(idp.hits.get("/jwks"), 1);
  assertEquals(idp.hits.get("/.well-known/oauth-authorization-server"), 1);
});

Deno.test("bearer: no token is a bare challenge; bad tokens are invalid_token; nothing echoes the token", async () => {
  await using idp = await startOidcProvider();
  const v = validator(idp.issuer, { requiredScopes: ["basic"] });
  assertEquals(protectedResourceMetadataUrl(RESOURCE), METADATA);

  for (const header of [null, "", "Basic dXNlcjpwdw==", "Digest x"]) {
    const r = await v.validate(header);
    assert(!r.ok);
    assertEquals(r.error.status, 401);
    assertEquals(r.error.error, undefined);
    assertEquals(r.error.wwwAuthenticate, `Bearer resource_metadata="${METADATA}", scope="basic"`);
  }
  const garbage = ["Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Bearer two tokens"];
  for (const header of garbage) {
    const r = await v.validate(header);
    assert(!r.ok);
    assertEquals([r.error.status, r.error.error], [401, "invalid_token"], header);
    assertEquals(
      r.error.wwwAuthenticate,
      `Bearer resource_metadata="${METADATA}", error="invalid_token", scope="basic"`,
    );
  }

  // A token signed by a stranger claiming our issuer: refused for its key, and never quoted back.
  const { privateKey } = await generateKeyPair("RS256");
  const forged = await new SignJWT({ scope: "basic" }).setProtectedHeader({ alg: "RS256", kid: "key-1" })
    .setIssuer(idp.issuer).setAudience(RESOURCE).setSubject("mallory").setExpirationTime("5m").sign(
      privateKey,
    );
  const r = await v.validate(`Bearer ${forged}`);
  assert(!r.ok);
  assertEquals([r.error.status, r.error.error], [401, "invalid_token"]);
  assertEquals(r.error.message, "Unauthorized: the token's signature is not valid");
  const response = bearerErrorResponse(r.error, "7");
  assertEquals(response.status, 401);
  assertEquals(response.headers.get("www-authenticate"), r.error.wwwAuthenticate);
  const body = await response.text();
  assert(!body.includes(forged) && !JSON.stringify(r).includes(forged));
  assertEquals(JSON.parse(body).id, 7);

  // An HS256 token is refused whatever its signature: only asymmetric algorithms are accepted.
  const hs = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(idp.issuer).setAudience(
    RESOURCE,
  )
    .setExpirationTime("5m").sign(new TextEncoder().encode("x".repeat(32)));
  const rh = await v.validate(`Bearer ${hs}`);
  assert(!rh.ok);
  assertEquals(rh.error.message, "Unauthorized: the token's signing algorithm is not accepted");
});

Deno.test("bearer: a token for another resource is refused (RFC 8707 audience)", async () => {
  await using idp = await startOidcProvider();
  const v = validator(idp.issuer);
  const other = await idp.clientCredentialsToken({ resource: "http://127.0.0.1:9999/other", scope: "basic" });
  const r = await v.validate(`Bearer ${other.access_token}`);
  assert(!r.ok);
  assertEquals([r.error.status, r.error.error], [401, "invalid_token"]);
  assertEquals(r.error.message, "Unauthorized: the token was not issued for this resource");
  // The same client's token for this resource is fine.
  const mine = await idp.clientCredentialsToken({ resource: RESOURCE, scope: "basic" });
  assert((await v.validate(`Bearer ${mine.access_token}`)).ok);
});

Deno.test("bearer: a token from an issuer not configured is refused without contacting it", async () => {
  await using idp = await startOidcProvider();
  await using stranger = await startOidcProvider();
  const v = validator(idp.issuer);
  const token = await stranger.clientCredentialsToken({ resource: RESOURCE, scope: "basic" });
  const r = await v.validate(`Bearer ${token.access_token}`);
  assert(!r.ok);
  assertEquals([r.error.status, r.error.message], [401, "Unauthorized: the token's issuer is not accepted"]);
  assertEquals(stranger.hits.get("/jwks"), undefined);
});

Deno.test("bearer: a missing required scope is 403 insufficient_scope naming the scopes", async () => {
  await using idp = await startOidcProvider();
  const v = validator(idp.issuer, { requiredScopes: ["basic", "mcp:admin"] });
  const token = await idp.clientCredentialsToken({ resource: RESOURCE, scope: "basic" });
  const r = await v.validate(`Bearer ${token.access_token}`);
  assert(!r.ok);
  assertEquals(r.error.status, 403);
  assertEquals(r.error.error, "insufficient_scope");
  assertEquals(
    r.error.wwwAuthenticate,
    `Bearer resource_metadata="${METADATA}", error="insufficient_scope", scope="basic mcp:admin"`,
  );
  assertEquals(bearerErrorResponse(r.error).status, 403);
  const enough = await idp.clientCredentialsToken({ resource: RESOURCE, scope: "basic mcp:admin" });
  assert((await v.validate(`Bearer ${enough.access_token}`)).ok);
});

Deno.test("bearer: a short-lived token is accepted until it expires, then refused as expired", async () => {
  await using idp = await startOidcProvider();
  idp.setAccessTokenTtl(1);
  const v = validator(idp.issuer, { clockToleranceSeconds: 0 });
  const token = await idp.clientCredentialsToken({ resource: RESOURCE, scope: "basic" });
  const first = await v.validate(`Bearer ${token.access_token}`);
  assert(first.ok);
  // Wait for the token's own expiry instant (exp is in whole seconds), not a guessed duration.
  const expiresAt = first.identity.expiresAt! * 1000;
  await delay(Math.max(0, expiresAt - Date.now()) + 50);
  const later = await v.validate(`Bearer ${token.access_token}`);
  assert(!later.ok);
  assertEquals([later.error.status, later.error.error], [401, "invalid_token"]);
  assertEquals(later.error.message, "Unauthorized: the token has expired");
});

Deno.test("bearer: after a key rotation at the provider the new kid is fetched; a dropped key stops verifying", async () => {
  await using idp = await startOidcProvider();
  // No verified-token cache here: every validation goes to the keys.
  const v = validator(idp.issuer, { jwksCooldownMs: 0, verifiedCacheSize: 0 });
  const before = await idp.clientCredentialsToken({ resource: RESOURCE, scope: "basic" });
  assert((await v.validate(`Bearer ${before.access_token}`)).ok);
  assertEquals(idp.hits.get("/jwks"), 1);

  const kid = await idp.rotateKeys({ keepOld: true });
  assertEquals(kid, "key-2");
  const after = await idp.clientCredentialsToken({ resource: RESOURCE, scope: "basic" });
  assert((await v.validate(`Bearer ${after.access_token}`)).ok, "the new key is picked up");
  assertEquals(idp.hits.get("/jwks"), 2, "an unknown kid refetches the keys once");
  assert((await v.validate(`Bearer ${before.access_token}`)).ok, "the old key is still published");
  assertEquals(idp.hits.get("/jwks"), 2);

  await idp.rotateKeys({ keepOld: false });
  const newest = await idp.clientCredentialsToken({ resource: RESOURCE, scope: "basic" });
  assert((await v.validate(`Bearer ${newest.access_token}`)).ok);
  const old = await v.validate(`Bearer ${before.access_token}`);
  assert(!old.ok);
  assertEquals(old.error.message, "Unauthorized: the token is signed with an unknown key");
});

Deno.test("bearer: a verified token is remembered until it expires, not re-verified per request", async () => {
  await using idp = await startOidcProvider();
  let now = Date.now();
  const v = new BearerValidator(
    { resource: RESOURCE, authorizationServers: [idp.issuer], jwksCooldownMs: 0, clockToleranceSeconds: 0 },
    { now: () => now },
  );
  const token = await idp.clientCredentialsToken({ resource: RESOURCE, scope: "basic" });
  const first = await v.validate(`Bearer ${token.access_token}`);
  assert(first.ok);
  // Dropping the key at the provider does not revoke tokens already verified: like cached keys, they
  // last until their expiry (and at most jwksCacheMaxAgeMs).
  await idp.rotateKeys({ keepOld: false });
  const again = await v.validate(`Bearer ${token.access_token}`);
  assert(again.ok);
  assertEquals(again.identity, first.identity);
  assertEquals(idp.hits.get("/jwks"), 1, "no key lookup for a remembered token");
  // Past its expiry the remembered result is dropped and the token is checked (and refused) again.
  now = first.identity.expiresAt! * 1000 + 1;
  const expired = await v.validate(`Bearer ${token.access_token}`);
  assert(!expired.ok);
  assertEquals(expired.error.message, "Unauthorized: the token has expired");
});

Deno.test("bearer: an unreachable issuer answers 503, retried after a pause, not 401", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const issuer = `http://127.0.0.1:${closed.addr.port}`;
  closed.close();
  let now = Date.now();
  const v = new BearerValidator(
    { resource: RESOURCE, authorizationServers: [issuer], fetchTimeoutMs: 2000, discoveryRetryMs: 1000 },
    { now: () => now },
  );
  const token = await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setIssuer(issuer).setAudience(
    RESOURCE,
  )
    .setExpirationTime("5m").sign((await generateKeyPair("RS256")).privateKey);
  const r = await v.validate(`Bearer ${token}`);
  assert(!r.ok);
  assertEquals(r.error.status, 503);
  assertEquals(r.error.wwwAuthenticate, undefined);
  assertEquals(bearerErrorResponse(r.error).status, 503);
  const again = await v.validate(`Bearer ${token}`);
  assert(!again.ok && /recently/.test(again.error.message), "no retry within the pause");
  now += 1500;
  const retried = await v.validate(`Bearer ${token}`);
  assert(!retried.ok && !/recently/.test(retried.error.message), "retried after the pause");
});

Deno.test("bearer: discovery URLs follow RFC 8414 and OIDC, paths included", () => {
  assertEquals(discoveryUrls("https://as.example.com"), [
    "https://as.example.com/.well-known/oauth-authorization-server",
    "https://as.example.com/.well-known/openid-configuration",
  ]);
  assertEquals(discoveryUrls("http://keycloak.127-0-0-1.sslip.io:8889/realms/mcp"), [
    "http://keycloak.127-0-0-1.sslip.io:8889/.well-known/oauth-authorization-server/realms/mcp",
    "http://keycloak.127-0-0-1.sslip.io:8889/.well-known/openid-configuration/realms/mcp",
    "http://keycloak.127-0-0-1.sslip.io:8889/realms/mcp/.well-known/openid-configuration",
  ]);
  assertEquals(
    protectedResourceMetadataUrl("http://mcp.127-0-0-1.sslip.io:8888/mcp"),
    "http://mcp.127-0-0-1.sslip.io:8888/.well-known/oauth-protected-resource/mcp",
  );
  assertEquals(
    protectedResourceMetadataUrl("https://mcp.example.com/"),
    "https://mcp.example.com/.well-known/oauth-protected-resource",
  );
});

Deno.test("bearer: options come from OAUTH_* variables; the flag wins; mistakes are named", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assertEquals(oauthOptionsFromEnv(env({})), { ok: true, value: undefined });
  assertEquals(oauthOptionsFromEnv(env({ OAUTH_VALIDATE_TOKENS: "false", OAUTH_RESOURCE: "x" })), {
    ok: true,
    value: undefined,
  });
  const on = oauthOptionsFromEnv(env({
    OAUTH_VALIDATE_TOKENS: "true",
    OAUTH_RESOURCE: "http://mcp.127-0-0-1.sslip.io:8888/mcp",
    OAUTH_AUTHORIZATION_SERVERS: "http://keycloak.127-0-0-1.sslip.io:8889/realms/mcp, https://as.example.com",
    OAUTH_REQUIRED_SCOPES: "basic mcp:tools",
  }));
  assert(on.ok && on.value);
  assertEquals(on.value.authorizationServers, [
    "http://keycloak.127-0-0-1.sslip.io:8889/realms/mcp",
    "https://as.example.com",
  ]);
  assertEquals(on.value.requiredScopes, ["basic", "mcp:tools"]);
  const flag = oauthOptionsFromEnv(
    env({ OAUTH_RESOURCE: "http://h/mcp", OAUTH_AUTHORIZATION_SERVERS: "http://as" }),
    { validateTokens: true },
  );
  assert(flag.ok && flag.value?.validateTokens);
  assertEquals(oauthOptionsFromEnv(env({ OAUTH_VALIDATE_TOKENS: "maybe" })), {
    ok: false,
    error: 'OAUTH_VALIDATE_TOKENS must be true or false, got "maybe"',
  });
  const noResource = oauthOptionsFromEnv(
    env({ OAUTH_VALIDATE_TOKENS: "1", OAUTH_AUTHORIZATION_SERVERS: "http://as" }),
  );
  assert(!noResource.ok && /OAUTH_RESOURCE must be set/.test(noResource.error));
  const relative = oauthOptionsFromEnv(
    env({ OAUTH_VALIDATE_TOKENS: "1", OAUTH_RESOURCE: "/mcp", OAUTH_AUTHORIZATION_SERVERS: "http://as" }),
  );
  assert(!relative.ok && /absolute/.test(relative.error));
  const noIssuer = oauthOptionsFromEnv(env({ OAUTH_VALIDATE_TOKENS: "1", OAUTH_RESOURCE: "http://h/mcp" }));
  assert(!noIssuer.ok && /OAUTH_AUTHORIZATION_SERVERS/.test(noIssuer.error));
});
