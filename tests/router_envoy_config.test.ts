/** The generated Envoy bootstrap routes every tool of the routing table, and matches what the harness plays. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { parse } from "yaml";
import { InMemoryEventLog } from "../src/events/log.ts";
import { routingTableProjection } from "../src/routing/routing_table.ts";
import { upstreamKey } from "../src/routing/upstreams.ts";
import type { ServerConfig } from "../src/config/schema.ts";
import {
  brokerByHeaderRoute,
  buildEnvoyConfig,
  JWKS_CLUSTER,
  JWT_PROVIDER,
  PROCESSING_MODE,
} from "../src/router/envoy_config.ts";
import { METADATA_NAMESPACE } from "../src/router/mod.ts";
import { readConfigFile } from "../src/config/watch.ts";
import { REFERENCE_MODE } from "./harness/envoy.ts";
import { loadEnvoyApi } from "./harness/envoy_proto.ts";

const servers: ServerConfig[] = [
  {
    name: "ns/one",
    url: "http://10.0.0.1:9001/mcp",
    hostname: "one.mcp.local",
    enabled: true,
    toolPrefix: "a_",
  },
  {
    name: "two",
    url: "https://two.example.com/v1/mcp",
    hostname: "two.mcp.local",
    enabled: true,
    toolPrefix: "b_",
  },
  { name: "off", url: "http://10.0.0.3:1/mcp", hostname: "off.mcp.local", enabled: false, toolPrefix: "c_" },
  { name: "dup", url: "http://10.0.0.4:1/mcp", hostname: "one.mcp.local", enabled: true, toolPrefix: "d_" },
];

// deno-lint-ignore no-explicit-any
type Any = any;

function filterOf(config: Any) {
  const hcm = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  return { hcm, extProc: hcm.http_filters[0].typed_config, vhosts: hcm.route_config.virtual_hosts as Any[] };
}

Deno.test("envoy config: every routed tool's hostname has a vhost to the right cluster; default is the broker", () => {
  const log = new InMemoryEventLog();
  const routing = log.project(routingTableProjection);
  log.append({ type: "ConfigLoaded", source: "t", config: { servers, virtualServers: [] }, digest: "x" });
  for (const s of servers.filter((s) => s.enabled)) {
    log.append({
      type: "ToolsDiscovered",
      server: s.name,
      upstreamKey: upstreamKey(s),
      tools: [{ name: "t" }],
    });
  }
  const { config, skipped } = buildEnvoyConfig({ servers, virtualServers: [] }, {
    listen: { host: "0.0.0.0", port: 8888 },
    router: { host: "127.0.0.1", port: 50051 },
    broker: { host: "broker.internal", port: 8080 },
  });
  const { vhosts, extProc } = filterOf(config);
  const clusters = new Map((config.static_resources as Any).clusters.map((c: Any) => [c.name, c]));
  const routes = [...routing.state.view.table.routes.values()];
  assert(routes.length >= 2);
  for (const route of routes.filter((r) => r.server !== "dup")) {
    const vhost = vhosts.find((v) => v.domains.includes(route.hostname));
    assert(vhost, `no vhost for ${route.hostname}`);
    const target = vhost.routes[0].route;
    assertEquals(target.timeout, "0s");
    const cluster: Any = clusters.get(target.cluster);
    const url = new URL(route.url);
    const addr = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    assertEquals([addr.address, addr.port_value], [url.hostname, Number(url.port) || 443]);
    assertEquals(target.host_rewrite_literal, url.host);
    if (url.protocol === "https:") assertEquals(cluster.transport_socket.typed_config.sni, url.hostname);
  }
  assertEquals(vhosts.at(-1).domains, ["*"]);
  // Before the broker's catch-all, the route Envoy takes alone from 2026 headers, past the processor.
  assertEquals(vhosts.at(-1).routes.map((r: Any) => [r.name, r.route.cluster, !!r.typed_per_filter_config]), [
    ["mcp_2026_broker_by_header", "mcp_broker", true],
    [undefined, "mcp_broker", false],
  ]);
  assertEquals(vhosts.at(-1).routes[0], brokerByHeaderRoute());
  assertEquals(skipped.map((s) => s.server), ["off", "dup"]);
  assertEquals((clusters.get("mcp_broker") as Any).type, "STRICT_DNS");
  assert((clusters.get("mcp_router") as Any).typed_extension_protocol_options);
  // The settings the harness plays are the settings shipped.
  assertEquals(extProc.failure_mode_allow, false);
  assertEquals(extProc.mutation_rules, { allow_all_routing: true });
  assertEquals(extProc.message_timeout, "10s");
  assertEquals(extProc.processing_mode, PROCESSING_MODE);
  assertEquals({ ...PROCESSING_MODE }, REFERENCE_MODE);
  // The router trims each request's messages with mode_override; Envoy ignores it unless allowed.
  assertEquals(extProc.allow_mode_override, true);
  assertEquals(extProc.metadata_options.receiving_namespaces.untyped, [METADATA_NAMESPACE]);
});

Deno.test("envoy config: deploy/envoy/envoy.yaml is what the generator makes from the sample config", () => {
  const sample = readConfigFile(new URL("../config/mcp-system/config.yaml", import.meta.url).pathname);
  assert(sample.ok);
  const { config } = buildEnvoyConfig(sample.config, {
    listen: { host: "0.0.0.0", port: 8888 },
    router: { host: "127.0.0.1", port: 50051 },
    broker: { host: "127.0.0.1", port: 8080 },
    adminPort: 9901,
  });
  const shipped = parse(Deno.readTextFileSync(new URL("../deploy/envoy/envoy.yaml", import.meta.url)));
  assertEquals(shipped, JSON.parse(JSON.stringify(config)), "run `deno task envoy-config` to regenerate");
});

const JWT = {
  issuer: "http://keycloak.127-0-0-1.sslip.io:8889/realms/mcp",
  jwksUri: "https://keycloak.127-0-0-1.sslip.io:8443/realms/mcp/protocol/openid-connect/certs",
  audiences: ["http://mcp.127-0-0-1.sslip.io:8888/mcp"],
};

function sampleBootstrap(jwt?: typeof JWT) {
  const sample = readConfigFile(new URL("../config/mcp-system/config.yaml", import.meta.url).pathname);
  assert(sample.ok);
  return buildEnvoyConfig(sample.config, {
    listen: { host: "0.0.0.0", port: 8888 },
    router: { host: "127.0.0.1", port: 50051 },
    broker: { host: "127.0.0.1", port: 8080 },
    adminPort: 9901,
    jwt,
  }).config;
}

Deno.test("envoy config: generated and shipped bootstraps are valid against Envoy's API protos", () => {
  const envoy = loadEnvoyApi();
  assertEquals(envoy.check("envoy.config.bootstrap.v3.Bootstrap", sampleBootstrap()), []);
  assertEquals(envoy.check("envoy.config.bootstrap.v3.Bootstrap", sampleBootstrap(JWT)), []);
  const shipped = parse(Deno.readTextFileSync(new URL("../deploy/envoy/envoy.yaml", import.meta.url)));
  assertEquals(envoy.check("envoy.config.bootstrap.v3.Bootstrap", shipped), []);
  const istio = parse(Deno.readTextFileSync(new URL("../deploy/istio/envoyfilter.yaml", import.meta.url)));
  // Istio's filter carries the settings the router is written for, mode_override included.
  const istioExtProc = istio.spec.configPatches[0].patch.value.typed_config;
  assertEquals([istioExtProc.processing_mode, istioExtProc.allow_mode_override], [PROCESSING_MODE, true]);
  for (const patch of istio.spec.configPatches) {
    assertEquals(
      envoy.check(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
        patch.patch.value,
      ),
      [],
    );
  }
  // The checker can fail: a misspelt field, a bad enum value, a wrong type and an unknown @type are named.
  const broken: Any = sampleBootstrap(JWT);
  const hcm = broken.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.http_filters[0].typed_config.providers.mcp_oauth.audience = "x";
  hcm.codec_type = "HTTP9";
  hcm.stream_idle_timeout = 3600;
  hcm.http_filters[1].typed_config["@type"] = "type.googleapis.com/envoy.nope.v3.Nothing";
  const problems = envoy.check("envoy.config.bootstrap.v3.Bootstrap", broken);
  assertEquals(problems.length, 4, problems.join("\n"));
  assert(
    problems.some((p) =>
      p.endsWith(
        'providers["mcp_oauth"].audience: no such field in envoy.extensions.filters.http.jwt_authn.v3.JwtProvider',
      )
    ),
  );
  assert(problems.some((p) => p.includes('"HTTP9" is not a value of')));
  assert(problems.some((p) => p.includes("stream_idle_timeout: want a duration")));
  assert(problems.some((p) => p.includes("envoy.nope.v3.Nothing is not a loaded message")));
});

Deno.test("envoy config: --jwt-* puts jwt_authn before ext_proc, leaves /.well-known/ open and answers 401 with resource_metadata", () => {
  const config: Any = sampleBootstrap(JWT);
  const { hcm } = filterOf(config);
  assertEquals(hcm.http_filters.map((f: Any) => f.name), [
    "envoy.filters.http.jwt_authn",
    "envoy.filters.http.ext_proc",
    "envoy.filters.http.router",
  ]);
  const authn = hcm.http_filters[0].typed_config;
  const provider = authn.providers[JWT_PROVIDER];
  assertEquals(provider.issuer, JWT.issuer);
  assertEquals(provider.audiences, JWT.audiences);
  assertEquals(provider.remote_jwks.http_uri, { uri: JWT.jwksUri, cluster: JWKS_CLUSTER, timeout: "5s" });
  assertEquals(provider.forward, true);
  assertEquals(authn.rules, [
    { match: { prefix: "/.well-known/" } },
    // The router's hairpin carries no user token; the router checks its own signed token.
    { match: { prefix: "/", headers: [{ name: "x-mcp-hairpin-token", present_match: true }] } },
    { match: { prefix: "/" }, requires: { provider_name: JWT_PROVIDER } },
  ]);
  const mapper = hcm.local_reply_config.mappers[0];
  assertEquals(mapper.filter.status_code_filter.comparison.value.default_value, 401);
  assertEquals(mapper.headers_to_add[0].header, {
    key: "www-authenticate",
    value:
      'Bearer resource_metadata="http://mcp.127-0-0-1.sslip.io:8888/.well-known/oauth-protected-resource/mcp"',
  });
  const jwks = config.static_resources.clusters.find((c: Any) => c.name === JWKS_CLUSTER);
  assertEquals(jwks.type, "STRICT_DNS");
  assertEquals(jwks.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, {
    address: "keycloak.127-0-0-1.sslip.io",
    port_value: 8443,
  });
  assertEquals(jwks.transport_socket.typed_config.sni, "keycloak.127-0-0-1.sslip.io");
  // Without the flags nothing changes: the shipped bootstrap has no jwt_authn.
  assertEquals(filterOf(sampleBootstrap()).hcm.http_filters.length, 2);
  assertEquals(filterOf(sampleBootstrap()).hcm.local_reply_config, undefined);
});
