/**
 * The seed's OAuth example as shipped: the Kuadrant AuthPolicy (config/mcp-system/authpolicy.yaml), the
 * route it targets, and the Keycloak realm (config/keycloak/realm-mcp.json). The AuthPolicy is checked
 * against a schema of the fields it uses, written from Kuadrant's published API reference
 * (kuadrant-operator doc/reference/authpolicy.md, which embeds Authorino's AuthConfig v1beta3 types), and
 * its CEL predicates are evaluated; the realm's roles are checked against the example servers' real tools.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { evaluate } from "@marcbachmann/cel-js";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/inMemory"
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { parse, parseAllDocuments } from "yaml";
import { z } from "zod";
import { protectedResourceMetadataUrl } from "../src/identity/bearer.ts";
import { ALLOWED_CAPABILITIES_CLAIM, TRUSTED_HEADER } from "../src/identity/trusted_header.ts";
import {
  capabilitiesFromClaims,
  TokenCapabilitiesOptionsSchema,
} from "../src/identity/token_capabilities.ts";
import { readConfigFile } from "../src/config/watch.ts";
import { createWeatherServer } from "./servers/weather.ts";
import { createCalendarServer } from "./servers/calendar.ts";

const read = (path: string) => Deno.readTextFileSync(new URL(`../${path}`, import.meta.url));

/** The seed README's values (Example OAuth setup). */
const SEED = {
  resource: "http://mcp.127-0-0-1.sslip.io:8888/mcp",
  issuer: "http://keycloak.127-0-0-1.sslip.io:8889/realms/mcp",
};

// ---- AuthPolicy (kuadrant.io/v1), the fields this repository uses, as the API reference defines them ----

/** Exactly one of the listed keys is set ("Use one of: …" in the reference). */
function oneOf(keys: readonly string[]) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx) => {
    const set = keys.filter((k) => value[k] !== undefined);
    if (set.length !== 1) ctx.addIssue({ code: "custom", message: `use exactly one of ${keys.join(", ")}` });
  };
}

const ValueOrSelector = z.object({
  value: z.unknown().optional(),
  selector: z.string().optional(),
  expression: z.string().optional(),
}).strict().superRefine(oneOf(["value", "selector", "expression"]));

const PatternExpressionOrRef: z.ZodType = z.lazy(() =>
  z.union([
    z.object({ predicate: z.string().min(1) }).strict(),
    z.object({
      selector: z.string(),
      operator: z.enum(["eq", "neq", "incl", "excl", "matches"]),
      value: z.string(),
    }).strict(),
    z.object({ patternRef: z.string() }).strict(),
    z.object({ all: z.array(PatternExpressionOrRef) }).strict(),
    z.object({ any: z.array(PatternExpressionOrRef) }).strict(),
  ])
);

const RuleCommon = {
  when: z.array(PatternExpressionOrRef).optional(),
  cache: z.object({ key: ValueOrSelector, ttl: z.number().int().optional() }).strict().optional(),
  priority: z.number().int().optional(),
  metrics: z.boolean().optional(),
};

const Credentials = z.object({
  authorizationHeader: z.object({ prefix: z.string().optional() }).strict().optional(),
  customHeader: z.object({ name: z.string() }).strict().optional(),
  queryString: z.object({ name: z.string() }).strict().optional(),
  cookie: z.object({ name: z.string() }).strict().optional(),
}).strict().refine((c) => Object.keys(c).length <= 1, "credentials: at most one location");

const AuthenticationRule = z.object({
  ...RuleCommon,
  jwt: z.object({
    issuerUrl: z.url().optional(),
    jwksUrl: z.url().optional(),
    ttl: z.number().int().nonnegative().optional(),
    timeout: z.number().int().nonnegative().optional(),
  }).strict().refine(
    (j) => (j.issuerUrl === undefined) !== (j.jwksUrl === undefined),
    "Use one of: jwksUrl, issuerUrl",
  )
    .optional(),
  apiKey: z.unknown().optional(),
  oauth2Introspection: z.unknown().optional(),
  kubernetesTokenReview: z.unknown().optional(),
  x509: z.unknown().optional(),
  plain: z.unknown().optional(),
  anonymous: z.unknown().optional(),
  credentials: Credentials.optional(),
  overrides: z.record(z.string(), ValueOrSelector).optional(),
  defaults: z.record(z.string(), ValueOrSelector).optional(),
}).strict().superRefine(
  oneOf(["apiKey", "jwt", "oauth2Introspection", "kubernetesTokenReview", "x509", "plain", "anonymous"]),
);

const AuthorizationRule = z.object({
  ...RuleCommon,
  patternMatching: z.object({ patterns: z.array(PatternExpressionOrRef).min(1) }).strict().optional(),
  opa: z.object({
    rego: z.string().optional(),
    externalPolicy: z.unknown().optional(),
    allValues: z.boolean().optional(),
    version: z.enum(["v0", "v1"]).optional(),
  }).strict().refine(
    (o) => (o.rego === undefined) !== (o.externalPolicy === undefined),
    "Use exactly one of: rego, externalPolicy",
  )
    .optional(),
  kubernetesSubjectAccessReview: z.unknown().optional(),
  spicedb: z.unknown().optional(),
}).strict().superRefine(oneOf(["patternMatching", "opa", "kubernetesSubjectAccessReview", "spicedb"]));

const DenyWith = z.object({
  code: z.number().int().min(300).max(599).optional(),
  message: ValueOrSelector.optional(),
  headers: z.record(z.string(), ValueOrSelector).optional(),
  body: ValueOrSelector.optional(),
}).strict();

const SuccessResponseItem = z.object({
  ...RuleCommon,
  plain: ValueOrSelector.optional(),
  json: z.object({ properties: z.record(z.string(), ValueOrSelector) }).strict().optional(),
  wristband: z.object({
    issuer: z.string().min(1),
    customClaims: z.record(z.string(), ValueOrSelector).optional(),
    tokenDuration: z.number().int().positive().optional(),
    signingKeyRefs: z.array(
      z.object({
        name: z.string().min(1),
        algorithm: z.enum(["ES256", "ES384", "ES512", "RS256", "RS384", "RS512"]),
      }).strict(),
    ).min(1),
  }).strict().optional(),
  key: z.string().optional(),
}).strict().superRefine(oneOf(["plain", "json", "wristband"]));

const AuthScheme = z.object({
  authentication: z.record(z.string(), AuthenticationRule).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  authorization: z.record(z.string(), AuthorizationRule).optional(),
  response: z.object({
    unauthenticated: DenyWith.optional(),
    unauthorized: DenyWith.optional(),
    success: z.object({
      headers: z.record(z.string(), SuccessResponseItem).optional(),
      filters: z.record(z.string(), SuccessResponseItem).optional(),
    }).strict().optional(),
  }).strict().optional(),
  callbacks: z.record(z.string(), z.unknown()).optional(),
}).strict();

const CommonSpec = {
  rules: AuthScheme.optional(),
  patterns: z.record(z.string(), z.object({ allOf: z.array(PatternExpressionOrRef) })).optional(),
  when: z.array(PatternExpressionOrRef).optional(),
};

const AuthPolicySchema = z.object({
  apiVersion: z.literal("kuadrant.io/v1"),
  kind: z.literal("AuthPolicy"),
  metadata: z.object({ name: z.string().min(1), namespace: z.string().min(1) }).loose(),
  spec: z.object({
    targetRef: z.object({
      group: z.literal("gateway.networking.k8s.io"),
      kind: z.enum(["HTTPRoute", "GRPCRoute", "Gateway"]),
      name: z.string().min(1),
      sectionName: z.string().optional(),
    }).strict(),
    ...CommonSpec,
    defaults: z.object({ strategy: z.enum(["atomic", "merge"]).optional(), ...CommonSpec }).strict()
      .optional(),
    overrides: z.object({ strategy: z.enum(["atomic", "merge"]).optional(), ...CommonSpec }).strict()
      .optional(),
  }).strict()
    .refine(
      (s) => !(s.defaults && (s.rules || s.when || s.patterns)),
      "Implicit and explicit defaults are mutually exclusive",
    )
    .refine(
      (s) => !(s.overrides && (s.rules || s.when || s.patterns)),
      "Implicit defaults and explicit overrides are mutually exclusive",
    )
    .refine(
      (s) => !(s.overrides && s.defaults),
      "Explicit overrides and explicit defaults are mutually exclusive",
    ),
}).strict();

const policy = AuthPolicySchema.parse(parse(read("config/mcp-system/authpolicy.yaml")));
const rules = policy.spec.rules!;

Deno.test("authpolicy: matches the AuthPolicy API and targets the /mcp route that leads to the broker", () => {
  const route = parse(read("config/mcp-system/mcp-route.yaml"));
  assertEquals([route.kind, route.metadata.namespace], ["HTTPRoute", policy.metadata.namespace]);
  assertEquals(policy.spec.targetRef, {
    group: "gateway.networking.k8s.io",
    kind: "HTTPRoute",
    name: route.metadata.name,
  });
  const paths = route.spec.rules.flatMap((r: any) => r.matches.map((m: any) => m.path.value));
  assertEquals(paths, ["/mcp", "/.well-known/oauth-protected-resource"]);
  assertEquals(route.spec.hostnames, [new URL(SEED.resource).hostname]);
  const service = parseAllDocuments(read("deploy/broker-router.yaml")).map((d) => d.toJS()).find((d) =>
    d.kind === "Service"
  );
  assertEquals(route.spec.rules[0].backendRefs, [{
    name: service.metadata.name,
    port: service.spec.ports.find((p: any) => p.name === "http").port,
  }]);
  // The schema can fail: a misspelt field and a second authentication method are refused.
  const broken = structuredClone(parse(read("config/mcp-system/authpolicy.yaml")));
  broken.spec.rules.authentication.keycloak.jwt.issuerURL =
    broken.spec.rules.authentication.keycloak.jwt.issuerUrl;
  assert(!AuthPolicySchema.safeParse(broken).success);
  const twice = structuredClone(parse(read("config/mcp-system/authpolicy.yaml")));
  twice.spec.rules.authentication.keycloak.anonymous = {};
  assert(!AuthPolicySchema.safeParse(twice).success);
});

Deno.test("authpolicy: validates the realm's tokens for this resource and challenges with resource_metadata", () => {
  const jwt = rules.authentication!.keycloak.jwt!;
  assertEquals(jwt.issuerUrl, SEED.issuer);
  const challenge = `Bearer resource_metadata="${protectedResourceMetadataUrl(SEED.resource)}"`;
  assertEquals(rules.response!.unauthenticated!.code, 401);
  assertEquals(rules.response!.unauthenticated!.headers!["WWW-Authenticate"].value, challenge);
  assertEquals(rules.response!.unauthorized!.code, 401);
  assertEquals(
    rules.response!.unauthorized!.headers!["WWW-Authenticate"].value,
    `${challenge}, error="invalid_token"`,
  );

  // The metadata stays public; everything else on the route is checked.
  const [when] = policy.spec.when as { predicate: string }[];
  assertEquals(
    evaluate(when.predicate, { request: { path: "/.well-known/oauth-protected-resource/mcp" } }),
    false,
  );
  assertEquals(evaluate(when.predicate, { request: { path: "/mcp" } }), true);

  // The audience rule accepts exactly tokens naming this resource, as Keycloak writes `aud` (string or list).
  const audience = rules.authorization!.audience.patternMatching!.patterns[0] as { predicate: string };
  const accepts = (aud: unknown) => evaluate(audience.predicate, { auth: { identity: { aud } } });
  assertEquals(accepts(SEED.resource), true);
  assertEquals(accepts(["account", "weather-service", SEED.resource]), true);
  assertEquals(accepts("account"), false);
  assertEquals(accepts(["account", "http://mcp.127-0-0-1.sslip.io:8888/other"]), false);
});

Deno.test("authpolicy: issues the Kuadrant-compatible x-mcp-authorized wristband from Keycloak client roles", () => {
  const headers = rules.response!.success!.headers!;
  assertEquals(Object.keys(headers), [TRUSTED_HEADER]);
  const wristband = headers[TRUSTED_HEADER].wristband!;
  assertEquals(wristband.signingKeyRefs, [{ name: "trusted-headers-private-key", algorithm: "ES256" }]);
  assert(wristband.tokenDuration! <= 300, "short-lived, like Kuadrant's");
  // The claim is the capabilities object of the `capabilities` rule, as a JSON string (@tostr).
  const selector = wristband.customClaims![ALLOWED_CAPABILITIES_CLAIM].selector!;
  const match = /^auth\.authorization\.([\w-]+)\.capabilities\.@tostr$/.exec(selector);
  assert(match, selector);
  const rule = rules.authorization![match[1]].opa!;
  assertEquals(rule.allValues, true, "the rule's other values (capabilities) must be exposed");
  assert(/^allow = true$/m.test(rule.rego!) && /^capabilities = \{$/m.test(rule.rego!));
  for (const prefix of ["tool:", "prompt:"]) assert(rule.rego!.includes(`"${prefix}"`), prefix);
  assert(rule.rego!.includes("resource_access"));
  assertEquals(wristband.customClaims!.sub, { selector: "auth.identity.sub" });
});

// ---- Keycloak realm ----

const Mapper = z.object({
  name: z.string(),
  protocol: z.literal("openid-connect"),
  protocolMapper: z.string(),
  consentRequired: z.boolean().optional(),
  config: z.record(z.string(), z.string()),
}).strict();

const RealmSchema = z.object({
  realm: z.literal("mcp"),
  enabled: z.literal(true),
  sslRequired: z.enum(["none", "external", "all"]),
  accessTokenLifespan: z.number().int().positive(),
  clients: z.array(
    z.object({
      clientId: z.string(),
      publicClient: z.boolean(),
      bearerOnly: z.boolean().optional(),
      standardFlowEnabled: z.boolean(),
      directAccessGrantsEnabled: z.boolean(),
      redirectUris: z.array(z.string()).optional(),
      attributes: z.record(z.string(), z.string()).optional(),
      defaultClientScopes: z.array(z.string()).optional(),
      secret: z.never().optional(),
    }).loose(),
  ),
  roles: z.object({ client: z.record(z.string(), z.array(z.object({ name: z.string() }).strict())) })
    .strict(),
  groups: z.array(
    z.object({ name: z.string(), clientRoles: z.record(z.string(), z.array(z.string())) }).strict(),
  ),
  users: z.array(
    z.object({
      username: z.string(),
      enabled: z.literal(true),
      credentials: z.array(
        z.object({ type: z.literal("password"), value: z.string(), temporary: z.literal(false) }),
      ),
      groups: z.array(z.string()),
    }).loose(),
  ),
  clientScopes: z.array(
    z.object({
      name: z.string(),
      protocol: z.literal("openid-connect"),
      protocolMappers: z.array(Mapper).optional(),
    }).loose(),
  ),
  defaultDefaultClientScopes: z.array(z.string()),
  components: z.object({
    "org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy": z.array(
      z.object({ name: z.string(), providerId: z.string(), subType: z.enum(["anonymous", "authenticated"]) })
        .loose(),
    ),
  }).strict(),
}).loose();

const realm = RealmSchema.parse(JSON.parse(read("config/keycloak/realm-mcp.json")));

async function catalogOf(server: ReturnType<typeof createWeatherServer>) {
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: "realm-check", version: "1" });
  await client.connect(b);
  const names = [
    ...(await client.listTools()).tools.map((t: { name: string }) => `tool:${t.name}`),
    ...(await client.listPrompts()).prompts.map((p: { name: string }) => `prompt:${p.name}`),
  ];
  await client.close();
  return new Set(names);
}

Deno.test("realm: the mcp user, a public PKCE client for the Inspector, and the resource in aud", () => {
  const mcp = realm.users.find((u) => u.username === "mcp")!;
  assertEquals(mcp.credentials, [{ type: "password", value: "mcp", temporary: false }]);
  const inspector = realm.clients.find((c) => c.clientId === "mcp-inspector")!;
  assertEquals([inspector.publicClient, inspector.standardFlowEnabled, inspector.directAccessGrantsEnabled], [
    true,
    true,
    false,
  ]);
  assertEquals(inspector.attributes!["pkce.code.challenge.method"], "S256");
  assert(inspector.redirectUris!.includes("http://localhost:6274/*"), "the Inspector's callback (port 6274)");

  const scopes = new Map(realm.clientScopes.map((s) => [s.name, s]));
  const audiences = (scopes.get("mcp-gateway-audience")!.protocolMappers ?? [])
    .filter((m) => m.protocolMapper === "oidc-audience-mapper")
    .map((m) => m.config["included.custom.audience"]);
  assert(audiences.includes(SEED.resource), "tokens name the seed's OAUTH_RESOURCE");
  assert(audiences.includes("http://localhost:8080/mcp"), "and the standalone walk-through's");
  const clientRoles = scopes.get("roles")!.protocolMappers!.find((m) =>
    m.protocolMapper === "oidc-usermodel-client-role-mapper"
  )!;
  assertEquals(clientRoles.config["claim.name"], "resource_access.${client_id}.roles");
  assertEquals(clientRoles.config["access.token.claim"], "true");
  for (const scope of ["basic", "roles", "mcp-gateway-audience"]) {
    assert(realm.defaultDefaultClientScopes.includes(scope), `registered clients get ${scope}`);
    assert(inspector.defaultClientScopes!.includes(scope), `the Inspector gets ${scope}`);
  }
  // MCP clients register themselves anonymously: Keycloak's "Trusted Hosts" policy would refuse them.
  const policies =
    realm.components["org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"];
  assert(!policies.some((p) => p.providerId === "trusted-hosts"));
});

Deno.test("realm: one client per server (standalone and controller names) with tool:/prompt: roles the servers have", async () => {
  const weather = await catalogOf(createWeatherServer());
  const calendar = await catalogOf(createCalendarServer());
  const config = readConfigFile(new URL("../config/mcp-system/config.yaml", import.meta.url).pathname);
  assert(config.ok);
  const standalone = config.config.servers.map((s) => s.name);
  const expected: Record<string, Set<string>> = {
    [standalone[0]]: weather,
    [standalone[1]]: calendar,
    "mcp-test/weather-route": weather,
    "mcp-test/calendar-route": calendar,
  };
  assertEquals(Object.keys(realm.roles.client).sort(), Object.keys(expected).sort());
  for (const [server, roles] of Object.entries(realm.roles.client)) {
    assertEquals(new Set(roles.map((r) => r.name)), expected[server], server);
    const client = realm.clients.find((c) => c.clientId === server)!;
    assert(client.bearerOnly && !client.standardFlowEnabled, `${server} only holds roles`);
  }
  const groups = new Set(realm.groups.map((g) => g.name));
  for (const group of realm.groups) {
    for (const [server, names] of Object.entries(group.clientRoles)) {
      for (const name of names) assert(expected[server].has(name), `${group.name}: ${server} ${name}`);
    }
  }
  for (const user of realm.users) {
    for (const g of user.groups) assert(groups.has(g), `${user.username}: ${g}`);
  }

  // The access token Keycloak issues the mcp user, read as the gateway reads it.
  const mcp = realm.users.find((u) => u.username === "mcp")!;
  const resourceAccess: Record<string, { roles: string[] }> = {};
  for (const g of realm.groups.filter((g) => mcp.groups.includes(g.name))) {
    for (const [server, names] of Object.entries(g.clientRoles)) {
      (resourceAccess[server] ??= { roles: [] }).roles.push(...names);
    }
  }
  const allowed = capabilitiesFromClaims(
    { resource_access: resourceAccess },
    TokenCapabilitiesOptionsSchema.parse({}),
  );
  assertEquals(allowed.tools!["weather-service"], ["get_current", "get_forecast"]);
  assertEquals(allowed.prompts!["mcp-test/weather-route"], ["forecast_summary"]);
  assertEquals(allowed.tools!["calendar-service"], ["list_events"]);
});
