/**
 * The controller against the in-test API server through the real client library: creating, updating and
 * deleting MCPServers, HTTPRoutes, Services and credential Secrets drives the written config and status.
 */
import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { startKubeApi } from "./harness/kube_api.ts";
import {
  acceptRoute,
  configText,
  credentialSecret,
  httpRoute,
  mcpServer,
  NAMESPACE,
  readyCondition,
  service,
  startController,
  waitForConfig,
  waitForReady,
  writtenConfig,
} from "./harness/kube_controller.ts";
import { waitFor } from "./helpers/ports.ts";
import { createLogger } from "../src/observe/log.ts";
const DEBUG = Deno.env.get("CTL_DEBUG") ? { logger: createLogger("debug") } : {};

const NS = "team-a";
const MCP = "mcp.kagenti.com/v1alpha1";
const ROUTE = "gateway.networking.k8s.io/v1";

Deno.test("MCPServer, HTTPRoute and Service changes drive the config, status and route conditions", async () => {
  await using api = await startKubeApi();
  api.put(service(NS, "weather-svc", 8080));
  api.put(httpRoute(NS, "weather-route", { service: "weather-svc", hostname: "weather.mcp.local" }));
  acceptRoute(api, NS, "weather-route");
  api.put(service(NS, "calendar-svc", 9090));
  api.put(
    httpRoute(NS, "calendar-route", { service: "calendar-svc", port: 9090, hostname: "calendar.mcp.local" }),
  );
  await using ctl = await startController(api, DEBUG);

  // Zero MCPServers: an empty (but valid) config is written once informers synced.
  await waitForConfig(api, (c) => c.servers.length === 0, "empty config");

  // Create: the seed README's multi-target form.
  api.put(mcpServer(NS, "ai-tools", {
    targetRefs: [
      {
        group: "gateway.networking.k8s.io",
        kind: "HTTPRoute",
        name: "weather-route",
        toolPrefix: "weather_",
      },
      { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "calendar-route", toolPrefix: "cal_" },
    ],
  }));
  let config = await waitForConfig(api, (c) => c.servers.length === 2, "two servers");
  assertEquals(config.servers.map((s) => [s.name, s.url, s.hostname, s.toolPrefix, s.enabled]), [
    [
      "team-a/calendar-route",
      "http://calendar-svc.team-a.svc.cluster.local:9090/mcp",
      "calendar.mcp.local",
      "cal_",
      true,
    ],
    [
      "team-a/weather-route",
      "http://weather-svc.team-a.svc.cluster.local:8080/mcp",
      "weather.mcp.local",
      "weather_",
      true,
    ],
  ]);
  let server = await waitForReady(api, "MCPServer", NS, "ai-tools", "True", "Ready");
  assertEquals(server.status.observedGeneration, 1);
  assertEquals(server.status.targets.length, 2);
  // The referenced route that has a parent status is marked; the Gateway's own condition is kept.
  await waitFor(() => {
    const conds = api.get(ROUTE, "HTTPRoute", NS, "weather-route")?.status?.parents?.[0]?.conditions ?? [];
    return conds.some((c: any) => c.type === "Programmed" && c.reason === "InUseByMCPServer") &&
      conds.some((c: any) => c.type === "Accepted");
  }, "route condition");

  // Update the MCPServer (path) → URLs change.
  const stored = api.get(MCP, "MCPServer", NS, "ai-tools")!;
  api.put({ ...stored, spec: { ...stored.spec, path: "/v1/special/mcp" } });
  config = await waitForConfig(
    api,
    (c) => c.servers.every((s) => s.url.endsWith("/v1/special/mcp")),
    "new path",
  );
  server = await waitFor(() => {
    const o = api.get(MCP, "MCPServer", NS, "ai-tools");
    return o?.status?.observedGeneration === 2 ? o : undefined;
  }, "observedGeneration 2");
  assertEquals(readyCondition(server)?.status, "True");

  // Service port change → URL follows; Service deletion → that target drops out with a reason.
  api.put(service(NS, "calendar-svc", 9191));
  const route = api.get(ROUTE, "HTTPRoute", NS, "calendar-route")!;
  api.put({
    ...route,
    spec: { ...route.spec, rules: [{ backendRefs: [{ name: "calendar-svc", port: 9191 }] }] },
  });
  await waitForConfig(api, (c) => c.servers.some((s) => s.url.includes(":9191/")), "new port");
  api.remove("v1", "Service", NS, "calendar-svc");
  config = await waitForConfig(api, (c) => c.servers.length === 1, "calendar dropped");
  assertEquals(config.servers[0].name, "team-a/weather-route");
  server = await waitForReady(api, "MCPServer", NS, "ai-tools", "False", "ServiceNotFound");
  assertMatch(
    String(readyCondition(server)?.message),
    /team-a\/calendar-route: Service team-a\/calendar-svc not found/,
  );

  // Service comes back → Ready again, with a fresh lastTransitionTime only because the status flipped.
  api.put(service(NS, "calendar-svc", 9191));
  await waitForReady(api, "MCPServer", NS, "ai-tools", "True");
  await waitForConfig(api, (c) => c.servers.length === 2, "calendar back");

  // HTTPRoute hostname change, then deletion.
  const wr = api.get(ROUTE, "HTTPRoute", NS, "weather-route")!;
  api.put({ ...wr, spec: { ...wr.spec, hostnames: ["forecast.mcp.local"] } });
  await waitForConfig(api, (c) => c.servers.some((s) => s.hostname === "forecast.mcp.local"), "new hostname");
  api.remove(ROUTE, "HTTPRoute", NS, "weather-route");
  await waitForConfig(api, (c) => c.servers.length === 1, "weather route gone");
  await waitForReady(api, "MCPServer", NS, "ai-tools", "False", "HTTPRouteNotFound");

  // Deleting the MCPServer empties the config and unmarks the routes it used.
  api.put(httpRoute(NS, "weather-route", { service: "weather-svc" }));
  acceptRoute(api, NS, "weather-route");
  await waitForConfig(api, (c) => c.servers.length === 2, "weather route back");
  await waitFor(
    () =>
      api.get(ROUTE, "HTTPRoute", NS, "weather-route")?.status?.parents?.[0]?.conditions?.some((c: any) =>
        c.reason === "InUseByMCPServer"
      ),
    "route re-marked",
  );
  api.remove(MCP, "MCPServer", NS, "ai-tools");
  await waitForConfig(api, (c) => c.servers.length === 0, "config emptied");
  await waitFor(() => {
    const conds = api.get(ROUTE, "HTTPRoute", NS, "weather-route")?.status?.parents?.[0]?.conditions ?? [];
    return !conds.some((c: any) => c.reason === "InUseByMCPServer") &&
      conds.some((c: any) => c.type === "Accepted");
  }, "route condition removed");

  // Health, readiness and metrics endpoints.
  for (const path of ["/healthz", "/readyz"]) {
    const res = await fetch(`http://127.0.0.1:${ctl.healthPort}${path}`);
    assertEquals([res.status, (await res.text()).trim()], [200, "ok"]);
  }
  const metrics = await (await fetch(`http://127.0.0.1:${ctl.metricsPort}/metrics`)).text();
  assertMatch(metrics, /mcp_controller_reconciles_total\{result="applied"\} [1-9]/);
  assertMatch(metrics, /mcp_controller_writes_total\{target="configmap"\} [1-9]/);
  assertMatch(metrics, /mcp_controller_is_leader 1/);
});

Deno.test("credential Secrets: copied to the credentials Secret, never into the ConfigMap or the event log", async () => {
  await using api = await startKubeApi();
  api.put(service(NS, "api-key-svc", 9090));
  api.put(httpRoute(NS, "api-key-route", { service: "api-key-svc", port: 9090 }));
  api.put(mcpServer(NS, "api-key", {
    targetRef: { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "api-key-route" },
    toolPrefix: "key_",
    credentialRef: { name: "api-key-creds", key: "token" },
  }));
  await using ctl = await startController(api, DEBUG);

  // Missing Secret → not Ready, not in the config.
  await waitForReady(api, "MCPServer", NS, "api-key", "False", "CredentialNotFound");
  assertEquals(writtenConfig(api)?.servers, []);

  // An unlabelled Secret is not a credential: the controller never sees it. A labelled one put after it is
  // the sentinel: the watch delivers in order, so once that is observed the unlabelled one would have been.
  api.put(credentialSecret(NS, "api-key-creds", { token: "Bearer s3cret-one" }, false));
  api.put(credentialSecret(NS, "sentinel-creds", { token: "unused" }));
  const observedSecrets = () =>
    ctl.log.recent().flatMap((e) =>
      e.type === "ResourceObserved" && e.resource.kind === "Secret" ? [e.resource.name] : []
    );
  await waitFor(() => observedSecrets().includes("sentinel-creds"), "the sentinel Secret observed");
  assert(!observedSecrets().includes("api-key-creds"), observedSecrets().join());
  assertEquals(readyCondition(api.get(MCP, "MCPServer", NS, "api-key"))?.reason, "CredentialNotFound");

  // Wrong key → CredentialKeyMissing; right key → Ready with the value only in the credentials Secret.
  api.put(credentialSecret(NS, "api-key-creds", { other: "x" }));
  await waitForReady(api, "MCPServer", NS, "api-key", "False", "CredentialKeyMissing");
  api.put(credentialSecret(NS, "api-key-creds", { token: "Bearer s3cret-one" }));
  let config = await waitForConfig(api, (c) => c.servers.length === 1, "server with credential");
  assertEquals(config.servers[0].credential, "Bearer s3cret-one");
  const text = configText(api)!;
  assert(!text.includes("s3cret"), "credential value must not be in the ConfigMap");
  assertMatch(text, /credentialFile: \/etc\/mcp-gateway\/credentials\/team-a_api-key-creds_token/);
  await waitForReady(api, "MCPServer", NS, "api-key", "True");

  // Rotation: the Secret value changes → the credentials Secret and the config (digest line) change.
  api.put(credentialSecret(NS, "api-key-creds", { token: "Bearer s3cret-two" }));
  config = await waitForConfig(
    api,
    (c) => c.servers[0]?.credential === "Bearer s3cret-two",
    "rotated credential",
  );
  assert(configText(api) !== text, "config text changes so the broker reloads");

  // Deletion → not Ready, dropped from config and from the credentials Secret.
  api.remove("v1", "Secret", NS, "api-key-creds");
  await waitForReady(api, "MCPServer", NS, "api-key", "False", "CredentialNotFound");
  await waitForConfig(api, (c) => c.servers.length === 0, "credential server dropped");
  await waitFor(
    () => Object.keys(api.get("v1", "Secret", NAMESPACE, "mcp-gateway-credentials")?.data ?? {}).length === 0,
    "credential removed",
  );

  const logged = JSON.stringify(ctl.log.recent());
  assert(
    !logged.includes(btoa("Bearer s3cret-one")) && !logged.includes("s3cret"),
    "no secret values in the event log",
  );
});

Deno.test("--session-store: passed on to every broker through the credentials Secret, the ConfigMap naming the file", async () => {
  await using api = await startKubeApi();
  const url = "redis://gateway:s3cret@valkey.mcp-system.svc.cluster.local:6379/0";
  await using _ctl = await startController(api, { ...DEBUG, sessionStoreUrl: url });
  // Parsed as a broker parses it: the URL read from the mounted Secret.
  const config = await waitForConfig(api, (c) => c.sessionStore !== undefined, "the store in the config");
  assertEquals(config.sessionStore, { url });
  const text = configText(api)!;
  assertMatch(text, /sessionStore:\n {2}urlFile: \/etc\/mcp-gateway\/credentials\/session-store-url/);
  assert(!text.includes("s3cret"), "the store's password is not in the ConfigMap");
  const secret = api.get("v1", "Secret", NAMESPACE, "mcp-gateway-credentials")!;
  assertEquals(atob(secret.data["session-store-url"]), url);
});

Deno.test("MCPVirtualServers are written as virtualServers; conflicts get their own reasons", async () => {
  await using api = await startKubeApi();
  api.put(service(NS, "svc", 8080));
  api.put(httpRoute(NS, "route-1", { service: "svc" }));
  api.put(httpRoute(NS, "route-2", { service: "svc" }));
  api.put(mcpServer(NS, "first", { targetRef: { name: "route-1" }, toolPrefix: "p_" }));
  await using _ctl = await startController(api, DEBUG);
  await waitForReady(api, "MCPServer", NS, "first", "True");

  api.put(mcpServer(NS, "same-route", { targetRef: { name: "route-1" }, toolPrefix: "q_" }));
  api.put(mcpServer(NS, "same-prefix", { targetRef: { name: "route-2" }, toolPrefix: "p_" }));
  await waitForReady(api, "MCPServer", NS, "same-route", "False", "RouteConflict");
  await waitForReady(api, "MCPServer", NS, "same-prefix", "False", "PrefixConflict");

  api.put({
    apiVersion: MCP,
    kind: "MCPVirtualServer",
    metadata: { namespace: NS, name: "vs" },
    spec: { description: "subset", tools: ["p_echo", "p_add"] },
  });
  const config = await waitForConfig(api, (c) => c.virtualServers.length === 1, "virtual server");
  assertEquals(config.virtualServers[0], { name: "team-a/vs", tools: ["p_echo", "p_add"] });
  assertEquals(config.servers.map((s) => s.name), ["team-a/route-1"]);
  await waitForReady(api, "MCPVirtualServer", NS, "vs", "True");
});

Deno.test("with a broker status URL, Ready and discoveredTools follow what the broker reports", async () => {
  let report: unknown = { servers: [] };
  await using broker = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/status" ? Response.json(report) : new Response("", { status: 404 }),
  );
  await using api = await startKubeApi();
  api.put(service(NS, "svc", 8080));
  api.put(httpRoute(NS, "route-1", { service: "svc" }));
  api.put(mcpServer(NS, "one", { targetRef: { name: "route-1" }, toolPrefix: "one_" }));
  await using _ctl = await startController(api, {
    ...DEBUG,
    brokerStatusUrl: `http://127.0.0.1:${broker.addr.port}/status`,
    resyncMs: 100,
  });
  await waitForReady(api, "MCPServer", NS, "one", "False", "BrokerPending");
  report = {
    servers: [{ name: "team-a/route-1", ready: false, message: "unsupported protocol version 2021-11-05" }],
  };
  const failing = await waitForReady(api, "MCPServer", NS, "one", "False", "UpstreamNotReady");
  assertMatch(String(readyCondition(failing)?.message), /unsupported protocol version/);
  report = { servers: [{ name: "team-a/route-1", ready: true, message: "", totalTools: 7 }] };
  const ready = await waitForReady(api, "MCPServer", NS, "one", "True", "Ready");
  assertEquals(ready.status.discoveredTools, 7);
  await broker.shutdown();
  await waitForReady(api, "MCPServer", NS, "one", "False", "BrokerUnavailable");
});

Deno.test("nothing changed, nothing written: resyncs leave the ConfigMap and the Secret alone", async () => {
  await using api = await startKubeApi();
  api.put(service(NS, "svc", 8080));
  api.put(httpRoute(NS, "route-1", { service: "svc" }));
  api.put(credentialSecret(NS, "creds", { token: "Bearer unchanged" }));
  const server = (toolPrefix: string) =>
    mcpServer(NS, "one", {
      targetRef: { name: "route-1" },
      toolPrefix,
      credentialRef: { name: "creds", key: "token" },
    });
  api.put(server("one_"));
  await using ctl = await startController(api, { ...DEBUG, resyncMs: 100 });
  await waitForConfig(api, (c) => c.servers[0]?.credential === "Bearer unchanged", "the first config");
  await waitForReady(api, "MCPServer", NS, "one", "True");

  const writes = (resource: "configmaps" | "secrets") =>
    api.requests.filter((r) =>
      ["POST", "PUT", "PATCH"].includes(r.method) && r.path.includes(`/namespaces/${NAMESPACE}/${resource}`)
    ).length;
  /** Reconcile passes so far, whatever their result (the controller's own metric). */
  const passes = async () => {
    const text = await (await fetch(`http://127.0.0.1:${ctl.metricsPort}/metrics`)).text();
    return [...text.matchAll(/^mcp_controller_reconciles_total\{[^}]*\} (\d+)/gm)]
      .reduce((n, m) => n + Number(m[1]), 0);
  };
  const before = { configmaps: writes("configmaps"), secrets: writes("secrets"), passes: await passes() };
  assert(before.configmaps > 0 && before.secrets > 0, "both were written once");
  await waitFor(async () => (await passes()) >= before.passes + 5, "five more reconcile passes");
  assertEquals([writes("configmaps"), writes("secrets")], [before.configmaps, before.secrets]);

  // The sentinel: a real change is written, once, and the passes after it write nothing more.
  api.put(server("two_"));
  await waitForConfig(api, (c) => c.servers[0]?.toolPrefix === "two_", "the new prefix");
  const changed = await passes();
  await waitFor(async () => (await passes()) >= changed + 3, "three more reconcile passes");
  assertEquals([writes("configmaps"), writes("secrets")], [before.configmaps + 1, before.secrets]);
});
