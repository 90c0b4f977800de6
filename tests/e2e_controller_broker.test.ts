/**
 * Controller → kubelet volume → broker, end to end: the controller (in-process, against the in-test API
 * server) turns an MCPServer + HTTPRoute + ExternalName Service into its ConfigMap and credentials Secret;
 * the test mounts both the way the kubelet does (timestamped directories behind a `..data` symlink) and runs
 * a real gateway process on the mounted `config.yaml`. The backend is the real server-everything, reached
 * through a recording proxy so the test sees which credential the gateway sent.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { startEverything } from "./helpers/everything.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";
import { connectClient, toolNames } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { kubeletVolume, secretFiles } from "./helpers/e2e_kubelet_volume.ts";
import { startRecordingProxy } from "./helpers/e2e_recording_proxy.ts";
import { startKubeApi } from "./harness/kube_api.ts";
import {
  acceptRoute,
  configText,
  credentialSecret,
  httpRoute,
  mcpServer,
  NAMESPACE,
  startController,
  waitForConfig,
  waitForReady,
} from "./harness/kube_controller.ts";
import { credentialKey } from "../src/controller/desired_config.ts";
import { CREDENTIALS_MOUNT, CREDENTIALS_SECRET_NAME } from "../src/controller/kinds.ts";

const NS = "team-e2e";
/** Where the controller copies `team-e2e/everything-creds` key `token` in its credentials Secret. */
const CREDENTIAL_KEY = credentialKey(NS, "everything-creds", "token");

Deno.test("e2e: the broker serves what the controller wrote, and follows MCPServer changes", async (t) => {
  await using backend = await startEverything();
  await using proxy = startRecordingProxy(backend.url);
  await using api = await startKubeApi();

  // An ExternalName Service is how a cluster points a route at something outside it; here, loopback.
  api.put({
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace: NS, name: "everything-svc" },
    spec: { type: "ExternalName", externalName: "127.0.0.1", ports: [{ name: "http", port: proxy.port }] },
  });
  api.put(httpRoute(NS, "everything-route", {
    service: "everything-svc",
    port: proxy.port,
    hostname: "everything.mcp.local",
  }));
  acceptRoute(api, NS, "everything-route");
  api.put(credentialSecret(NS, "everything-creds", { token: "Bearer e2e-token-one" }));
  const server = (toolPrefix: string) =>
    mcpServer(NS, "everything", {
      targetRef: { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "everything-route" },
      toolPrefix,
      credentialRef: { name: "everything-creds", key: "token" },
    });
  api.put(server("ev_"));

  await using ctl = await startController(api);
  await waitForConfig(
    api,
    (c) => c.servers.length === 1 && c.servers[0].toolPrefix === "ev_",
    "the controller's first config",
  );
  await waitForReady(api, "MCPServer", NS, "everything", "True");

  // The two volumes a broker pod mounts. The controller writes credential paths under its mount point;
  // this pod mounts the credentials elsewhere, so the paths are rewritten as a different mountPath would.
  await using configVolume = await kubeletVolume("config");
  await using credentialsVolume = await kubeletVolume("credentials");
  const materialise = async () => {
    const secret = api.get("v1", "Secret", NAMESPACE, CREDENTIALS_SECRET_NAME);
    await credentialsVolume.write(secretFiles(secret?.data));
    const text = configText(api)!;
    await configVolume.write({ "config.yaml": text.replaceAll(CREDENTIALS_MOUNT, credentialsVolume.dir) });
  };
  assert(configText(api)!.includes(`credentialFile: ${CREDENTIALS_MOUNT}/`), configText(api));
  await materialise();

  await using gw = await startGatewayProcess({
    config: "servers: []\n", // unused: the flag below (last one wins) points at the mounted volume
    args: ["--mcp-gateway-config", `${configVolume.dir}/config.yaml`],
  });
  await waitFor(async () => (await gw.status()).healthyServers === 1, "the backend ready behind the broker");
  await using mcp = await connectClient(gw.mcpUrl);

  await t.step("tools are listed with the MCPServer's prefix and calls reach the backend", async () => {
    const names = await toolNames(mcp.client);
    assert(names.includes("ev_echo") && names.includes("ev_get-sum"), names.join(", "));
    assert(names.every((n) => n.startsWith("ev_")), `only prefixed tools: ${names.join(", ")}`);
    const echo = await mcp.client.callTool({ name: "ev_echo", arguments: { message: "from kube" } });
    assertEquals(echo.content, [{ type: "text", text: "Echo: from kube" }]);
    const sum = await mcp.client.callTool({ name: "ev_get-sum", arguments: { a: 2, b: 40 } });
    assert(JSON.stringify(sum.content).includes("42"), JSON.stringify(sum.content));
    assert(
      proxy.authorizations().includes("Bearer e2e-token-one"),
      `the mounted credential was sent: ${proxy.authorizations().join(", ")}`,
    );
  });

  await t.step(
    "a new prefix and a rotated credential arrive by ..data swap and the broker follows",
    async () => {
      api.put(credentialSecret(NS, "everything-creds", { token: "Bearer e2e-token-two" }));
      api.put(server("k8s_"));
      await waitForConfig(api, (c) => c.servers[0]?.toolPrefix === "k8s_", "the new prefix written");
      await waitFor(
        () =>
          atob(api.get("v1", "Secret", NAMESPACE, CREDENTIALS_SECRET_NAME)?.data?.[CREDENTIAL_KEY] ?? "") ===
            "Bearer e2e-token-two",
        "the rotated credential written",
      );
      await materialise();

      const names = await waitFor(async () => {
        const n = await toolNames(mcp.client);
        return n.includes("k8s_echo") && !n.includes("ev_echo") ? n : undefined;
      }, "the broker to serve the new prefix");
      assert(names.every((n) => n.startsWith("k8s_")), names.join(", "));
      const seenBefore = proxy.authorizations().length;
      const echo = await mcp.client.callTool({ name: "k8s_echo", arguments: { message: "renamed" } });
      assertEquals(echo.content, [{ type: "text", text: "Echo: renamed" }]);
      const old = await mcp.client.callTool({ name: "ev_echo", arguments: { message: "x" } }).catch((e) => e);
      assert(old instanceof Error && /Unknown tool/i.test(old.message), `old name refused: ${old}`);
      const sent = proxy.authorizations().slice(seenBefore);
      assert(
        sent.length > 0 && sent.every((a) => a === "Bearer e2e-token-two"),
        `rotated credential: ${sent}`,
      );
    },
  );

  await t.step("deleting the MCPServer removes its tools from the broker", async () => {
    api.remove("mcp.kagenti.com/v1alpha1", "MCPServer", NS, "everything");
    await waitForConfig(api, (c) => c.servers.length === 0, "the server dropped from the config");
    await materialise();
    await waitFor(async () => (await toolNames(mcp.client)).length === 0, "no tools left");
  });
  await ctl.stop();
});

Deno.test("e2e: MCPServer status reports what the real broker discovered (controller → broker → controller)", async () => {
  await using backend = await startEverything();
  await using api = await startKubeApi();
  api.put({
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace: NS, name: "everything-svc" },
    spec: { type: "ExternalName", externalName: "127.0.0.1", ports: [{ name: "http", port: backend.port }] },
  });
  api.put(httpRoute(NS, "everything-route", { service: "everything-svc", port: backend.port }));
  api.put(mcpServer(NS, "everything", {
    targetRef: { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "everything-route" },
    toolPrefix: "ev_",
  }));

  // The broker pod starts on an empty config; the controller then learns from its /status.
  await using configVolume = await kubeletVolume("config");
  await configVolume.write({ "config.yaml": "servers: []\n" });
  await using gw = await startGatewayProcess({
    config: "servers: []\n",
    args: ["--mcp-gateway-config", `${configVolume.dir}/config.yaml`],
  });
  await using ctl = await startController(api, { brokerStatusUrl: `${gw.baseUrl}/status` });
  await waitForConfig(api, (c) => c.servers.length === 1, "the controller's config");
  // Not loaded by the broker yet: the controller must not claim Ready.
  await waitForReady(api, "MCPServer", NS, "everything", "False", "BrokerPending");

  await configVolume.write({ "config.yaml": configText(api)! });
  const ready = await waitForReady(api, "MCPServer", NS, "everything", "True", "Ready");
  const brokerTools = (await gw.status()).totalTools;
  assert(brokerTools > 0, "the broker discovered tools");
  assertEquals(ready.status.discoveredTools, brokerTools);
  assertEquals(ready.status.targets[0].discoveredTools, brokerTools);

  // The backend dies: the broker notices, and so does the MCPServer's status.
  await backend.kill();
  await waitFor(async () => (await gw.status()).healthyServers === 0, "the broker to mark the backend down");
  await waitForReady(api, "MCPServer", NS, "everything", "False", "UpstreamNotReady");
  await ctl.stop();
});
