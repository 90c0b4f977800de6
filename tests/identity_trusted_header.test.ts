/**
 * The Kuadrant-compatible trusted header (`x-mcp-authorized`, ES256, claim `allowed-capabilities` as a JSON
 * string) and the kagenti-era `x-authorized-tools`, signed here as Authorino signs its wristbands.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects as assertRejects } from "node:assert/strict";
import { exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { DENY_ALL } from "../src/identity/identity.ts";
import { TrustedHeaderVerifier } from "../src/identity/trusted_header.ts";
import { combineIdentity, IdentityResolver } from "../src/identity/resolve.ts";
import { isAllowed } from "../src/identity/authorize.ts";

const keys = await generateKeyPair("ES256", { extractable: true });
const PEM = await exportSPKI(keys.publicKey);
const stranger = await generateKeyPair("ES256");

/** A wristband as Authorino issues it: iss, iat, exp, sub, plus the custom claims. */
function wristband(
  claims: JWTPayload,
  options: { key?: Parameters<SignJWT["sign"]>[0]; exp?: string | number; alg?: string } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? "ES256", kid: "trusted-headers-private-key" })
    .setIssuer("authorino")
    .setIssuedAt()
    .setExpirationTime(options.exp ?? "300s")
    .sign(options.key ?? keys.privateKey);
}

const CAPS = {
  tools: { "mcp-test/weather-route": ["get_forecast"], "mcp-test/calendar-route": ["list_events"] },
  prompts: { "mcp-test/weather-route": ["summary"] },
};

Deno.test("trusted header: a valid x-mcp-authorized allows exactly what it lists", async () => {
  const v = await TrustedHeaderVerifier.create({ publicKeyPem: PEM });
  const token = await wristband({
    "allowed-capabilities": JSON.stringify(CAPS),
    sub: "alice",
    azp: "inspector",
  });
  const r = await v.verify(new Headers({ "x-mcp-authorized": token }));
  assert(r.status === "valid");
  assertEquals(r.header, "x-mcp-authorized");
  assertEquals(r.allowed, CAPS);
  assertEquals([r.subject, r.clientId], ["alice", "inspector"]);
  const identity = combineIdentity(undefined, r, undefined);
  assertEquals(identity.source, "trusted-header");
  assertEquals(identity.subject, "alice");
  assert(isAllowed(identity, "tool", "mcp-test/weather-route", "get_forecast"));
  assert(!isAllowed(identity, "tool", "mcp-test/weather-route", "get_alerts"));
  assert(!isAllowed(identity, "tool", "mcp-test/other-route", "get_forecast"));
  assert(isAllowed(identity, "prompt", "mcp-test/weather-route", "summary"));
  // The header names no resources: without enforcement that type is not restricted.
  assert(isAllowed(identity, "resource", "mcp-test/weather-route", "ui://forecast/map"));
  // The router's header map (lower-case keys) works as well as fetch Headers.
  const fromMap = await v.verify(new Map([["x-mcp-authorized", token]]));
  assertEquals(fromMap.status, "valid");
});

Deno.test("trusted header: forged, expired, wrong algorithm, malformed or unkeyed headers allow nothing", async () => {
  const v = await TrustedHeaderVerifier.create({ publicKeyPem: PEM });
  const caps = { "allowed-capabilities": JSON.stringify(CAPS) };
  const cases: [string, string, RegExp][] = [
    ["forged", await wristband(caps, { key: stranger.privateKey }), /bad signature/],
    ["expired", await wristband(caps, { exp: Math.floor(Date.now() / 1000) - 10 }), /expired/],
    [
      "HS256",
      await new SignJWT(caps).setProtectedHeader({ alg: "HS256" }).setExpirationTime("5m").sign(
        new TextEncoder().encode("k".repeat(32)),
      ),
      /algorithm HS256 not allowed/,
    ],
    ["not a JWT", "hello", /not a valid JWT/],
    ["empty", "", /empty header/],
    ["two values", `${await wristband(caps)}, ${await wristband(caps)}`, /not a valid JWT/],
    ["no claim", await wristband({ sub: "x" }), /missing claim allowed-capabilities/],
    ["claim not JSON", await wristband({ "allowed-capabilities": "{nope" }), /not a capabilities map/],
    [
      "claim wrong shape",
      await wristband({ "allowed-capabilities": '{"tools":["a"]}' }),
      /not a capabilities map/,
    ],
  ];
  for (const [label, value, reason] of cases) {
    const r = await v.verify(new Headers({ "x-mcp-authorized": value }));
    assert(r.status === "invalid", label);
    assert(reason.test(r.reason), `${label}: ${r.reason}`);
    assertEquals(r.allowed, DENY_ALL, label);
    const identity = combineIdentity(undefined, r, undefined);
    assert(!isAllowed(identity, "tool", "mcp-test/weather-route", "get_forecast"), label);
    assert(!isAllowed(identity, "resource", "mcp-test/weather-route", "ui://x"), label);
    assert(!r.reason.includes(value) || value === "", `${label}: the reason must not echo the header`);
  }
  // No key configured: a header cannot be checked, so it is not trusted.
  const unkeyed = await TrustedHeaderVerifier.create({});
  const r = await unkeyed.verify(new Headers({ "x-mcp-authorized": await wristband(caps) }));
  assert(r.status === "invalid" && /no public key/.test(r.reason));
  // A key that is not a PEM public key fails at startup, naming the variable.
  await assertRejects(
    TrustedHeaderVerifier.create({ publicKeyPem: "not a key" }),
    /TRUSTED_HEADER_PUBLIC_KEY/,
  );
});

Deno.test("trusted header: missing means everything, unless enforcement; enforcement closes unnamed types", async () => {
  const open = await TrustedHeaderVerifier.create({ publicKeyPem: PEM });
  const absent = await open.verify(new Headers());
  assertEquals(absent, { status: "absent", allowed: undefined });
  const anyone = combineIdentity(undefined, absent, undefined);
  assertEquals(anyone.allowed, undefined);
  assert(isAllowed(anyone, "tool", "any", "thing"));

  const enforcing = await TrustedHeaderVerifier.create({
    publicKeyPem: PEM,
    enforceCapabilityFiltering: true,
  });
  const none = await enforcing.verify(new Headers());
  assertEquals(none, { status: "absent", allowed: DENY_ALL });
  const nobody = combineIdentity(undefined, none, undefined);
  assertEquals(nobody.capabilitySources, ["enforcement"]);
  assert(!isAllowed(nobody, "tool", "any", "thing"));

  // A valid header naming only tools: prompts and resources are open without enforcement, closed with it.
  const toolsOnly = await wristband({ "allowed-capabilities": JSON.stringify({ tools: CAPS.tools }) });
  const a = await open.verify(new Headers({ "x-mcp-authorized": toolsOnly }));
  const b = await enforcing.verify(new Headers({ "x-mcp-authorized": toolsOnly }));
  assert(a.status === "valid" && b.status === "valid");
  assertEquals(a.allowed, { tools: CAPS.tools });
  assertEquals(b.allowed, { tools: CAPS.tools, prompts: {}, resources: {} });
  // An empty map denies its type, with or without enforcement (Kuadrant: `"resources": {}` denies all).
  const emptyTools = await wristband({ "allowed-capabilities": JSON.stringify({ tools: {} }) });
  const c = await open.verify(new Headers({ "x-mcp-authorized": emptyTools }));
  assert(c.status === "valid");
  assert(
    !isAllowed(combineIdentity(undefined, c, undefined), "tool", "mcp-test/weather-route", "get_forecast"),
  );
  assert(isAllowed(combineIdentity(undefined, c, undefined), "prompt", "mcp-test/weather-route", "anything"));
});

Deno.test("trusted header: the kagenti-era x-authorized-tools / allowed-tools is accepted", async () => {
  const v = await TrustedHeaderVerifier.create({ publicKeyPem: PEM });
  const legacy = await wristband({
    "allowed-tools": JSON.stringify({ server1: ["greet"], server2: ["time"] }),
  });
  const r = await v.verify(new Headers({ "x-authorized-tools": legacy }));
  assert(r.status === "valid");
  assertEquals(r.header, "x-authorized-tools");
  assertEquals(r.allowed, { tools: { server1: ["greet"], server2: ["time"] } });
  const forged = await wristband({ "allowed-tools": "{}" }, { key: stranger.privateKey });
  const f = await v.verify(new Headers({ "x-authorized-tools": forged }));
  assertEquals(f.status, "invalid");
  // When both come, the current header is the one read.
  const current = await wristband({
    "allowed-capabilities": JSON.stringify({ tools: { server1: ["time"] } }),
  });
  const both = await v.verify(new Headers({ "x-mcp-authorized": current, "x-authorized-tools": legacy }));
  assert(both.status === "valid");
  assertEquals(both.allowed, { tools: { server1: ["time"] } });
});

Deno.test("trusted header: a claim sent as an object (not a string) is read the same way", async () => {
  const v = await TrustedHeaderVerifier.create({ publicKeyPem: PEM });
  const r = await v.verify(
    new Headers({ "x-mcp-authorized": await wristband({ "allowed-capabilities": CAPS }) }),
  );
  assert(r.status === "valid");
  assertEquals(r.allowed, CAPS);
});

Deno.test("identity resolver: token claims and the trusted header intersect; the virtual server is carried", async () => {
  const resolver = await IdentityResolver.create({ trustedHeader: { publicKeyPem: PEM } });
  const header = await wristband({ "allowed-capabilities": JSON.stringify(CAPS), sub: "alice" });
  const result = await resolver.resolve(
    new Headers({ "x-mcp-authorized": header, "x-mcp-virtualserver": "team-a/weather-only" }),
  );
  assert(result.ok);
  assertEquals(result.identity.virtualServer, "team-a/weather-only");
  assertEquals(result.identity.subject, "alice");
  assertEquals(result.identity.capabilitySources, ["trusted-header"]);

  const token = {
    source: "token" as const,
    subject: "alice",
    scopes: [],
    capabilitySources: ["token-claims" as const],
    allowed: { tools: { "mcp-test/weather-route": ["get_forecast", "get_alerts"] } },
  };
  const both = combineIdentity(token, result.trustedHeader, undefined);
  assertEquals(both.source, "token");
  assertEquals(both.capabilitySources, ["token-claims", "trusted-header"]);
  assertEquals(both.allowed, {
    tools: { "mcp-test/weather-route": ["get_forecast"] },
    prompts: CAPS.prompts,
  });
});
