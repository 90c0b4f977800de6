/**
 * What identity costs per request: `deno bench --allow-all bench/identity.bench.ts`. Token validation
 * against a real provider's keys (RS256 and ES256) with keys cached, a token seen before (the
 * verified-token cache), the trusted header, list filtering and one audit line. Discovery and the first
 * JWKS fetch happen before measuring.
 */
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { AuditLog } from "../src/identity/audit.ts";
import { visibleItems } from "../src/identity/authorize.ts";
import { BearerValidator } from "../src/identity/bearer.ts";
import { ANONYMOUS, type Identity } from "../src/identity/identity.ts";
import { TrustedHeaderVerifier } from "../src/identity/trusted_header.ts";
import type { ServedItem } from "../src/routing/aggregate.ts";
import { startOidcProvider } from "../tests/harness/oidc.ts";

const RESOURCE = "http://127.0.0.1:8080/mcp";
const users = {
  alice: { password: "pw", resourceAccess: { "weather-service": ["tool:get_forecast", "prompt:summary"] } },
};
const rsa = await startOidcProvider({ users, alg: "RS256" });
const ec = await startOidcProvider({ users, alg: "ES256" });

async function warmed(idp: typeof rsa, verifiedCacheSize = 1000) {
  const validator = new BearerValidator({
    resource: RESOURCE,
    authorizationServers: [idp.issuer],
    tokenCapabilities: { claim: "resource_access" },
    verifiedCacheSize,
  });
  const token = (await idp.userToken("alice", { resource: RESOURCE })).access_token;
  const header = `Bearer ${token}`;
  const first = await validator.validate(header);
  if (!first.ok) throw new Error(first.error.message);
  return { validator, header };
}
const rs256 = await warmed(rsa, 0);
const es256 = await warmed(ec, 0);
const remembered = await warmed(rsa);
await rsa.stop();
await ec.stop();

const keys = await generateKeyPair("ES256", { extractable: true });
const publicKeyPem = await exportSPKI(keys.publicKey);
const trusted = await TrustedHeaderVerifier.create({ publicKeyPem, verifiedCacheSize: 0 });
const trustedCached = await TrustedHeaderVerifier.create({ publicKeyPem });
const wristband = await new SignJWT({
  "allowed-capabilities": JSON.stringify({ tools: { "weather-service": ["get_forecast"] } }),
}).setProtectedHeader({ alg: "ES256" }).setIssuer("authorino").setIssuedAt().setExpirationTime("300s")
  .sign(keys.privateKey);
const wristbandHeaders = new Headers({ "x-mcp-authorized": wristband });

const catalog: ServedItem[] = Array.from({ length: 1000 }, (_, i) => ({
  name: `s${i % 20}_tool${i}`,
  server: `server-${i % 20}`,
  upstreamName: `tool${i}`,
  item: {},
}));
const restricted: Identity = {
  ...ANONYMOUS,
  allowed: { tools: { "server-3": Array.from({ length: 50 }, (_, i) => `tool${i * 20 + 3}`) } },
};
const audit = AuditLog.open({ write: () => {} });

Deno.bench(
  "bearer: a token seen before (verified-token cache hit)",
  { group: "token", baseline: true },
  async () => {
    const r = await remembered.validator.validate(remembered.header);
    if (!r.ok) throw new Error(r.error.message);
  },
);
Deno.bench("bearer: verify an RS256 access token (keys cached)", { group: "token" }, async () => {
  const r = await rs256.validator.validate(rs256.header);
  if (!r.ok) throw new Error(r.error.message);
});
Deno.bench("bearer: verify an ES256 access token (keys cached)", { group: "token" }, async () => {
  const r = await es256.validator.validate(es256.header);
  if (!r.ok) throw new Error(r.error.message);
});
Deno.bench("trusted header: verify a new x-mcp-authorized (ES256)", { group: "header" }, async () => {
  const r = await trusted.verify(wristbandHeaders);
  if (r.status !== "valid") throw new Error(r.status);
});
Deno.bench("trusted header: one seen before (cache hit)", { group: "header" }, async () => {
  const r = await trustedCached.verify(wristbandHeaders);
  if (r.status !== "valid") throw new Error(r.status);
});
Deno.bench("authorize: filter a 1000-tool list for a restricted identity", () => {
  visibleItems(restricted, "tool", catalog);
});
Deno.bench("audit: build and serialize one line", () => {
  audit.record({
    path: "broker",
    identity: restricted,
    sessionId: "s",
    method: "tools/call",
    name: "a",
    server: "b",
    outcome: "ok",
    latencyMs: 1,
    rpcId: 1,
  });
});
