/**
 * Watch resilience and leader election, against the in-test API server through the real client library.
 */
import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { startKubeApi } from "./harness/kube_api.ts";
import {
  httpRoute,
  mcpServer,
  NAMESPACE,
  service,
  startController,
  waitForConfig,
  writtenConfig,
} from "./harness/kube_controller.ts";
import { waitFor } from "./helpers/ports.ts";

const NS = "team-b";

Deno.test("a watch cut with 410 Gone re-lists and loses neither an update nor a deletion", async () => {
  await using api = await startKubeApi();
  api.put(service(NS, "svc", 8080));
  api.put(httpRoute(NS, "route-1", { service: "svc" }));
  api.put(httpRoute(NS, "route-2", { service: "svc" }));
  api.put(mcpServer(NS, "one", { targetRef: { name: "route-1" }, toolPrefix: "one_" }));
  api.put(mcpServer(NS, "two", { targetRef: { name: "route-2" }, toolPrefix: "two_" }));
  await using ctl = await startController(api);
  await waitForConfig(api, (c) => c.servers.length === 2, "two servers");
  await waitFor(() => api.openWatches === 5, "five watches open");

  // In one synchronous step: drop every watch, change things nobody is watching, and forget the history, so
  // each informer's resume from its last resourceVersion is answered with 410 Gone.
  api.cutWatches();
  api.put(service(NS, "svc", 9999));
  const route = api.get("gateway.networking.k8s.io/v1", "HTTPRoute", NS, "route-1")!;
  api.put({ ...route, spec: { ...route.spec, rules: [{ backendRefs: [{ name: "svc", port: 9999 }] }] } });
  api.remove("mcp.kagenti.com/v1alpha1", "MCPServer", NS, "two");
  api.compact();

  const config = await waitForConfig(
    api,
    (c) => c.servers.length === 1 && c.servers[0].url.includes(":9999/"),
    "update and deletion seen after 410",
  );
  assertEquals(config.servers[0].name, "team-b/route-1");
  const metrics = await (await fetch(`http://127.0.0.1:${ctl.metricsPort}/metrics`)).text();
  assertMatch(metrics, /mcp_controller_watch_restarts_total\{kind="MCPServer",reason="expired"\} 1/);
  assert(
    ctl.log.recent().some((e) => e.type === "ResourceDeleted" && e.kind === "MCPServer" && e.name === "two"),
    "the re-list turned the missing object into a ResourceDeleted event",
  );

  // A plain cut (no compaction) resumes from the last resourceVersion without a re-list.
  const lists = () =>
    api.requests.filter((r) => r.path.endsWith("/mcpservers") && !r.query.includes("watch=true")).length;
  const before = lists();
  api.cutWatches();
  api.put(httpRoute(NS, "route-3", { service: "svc", port: 9999 }));
  api.put(mcpServer(NS, "three", { targetRef: { name: "route-3" }, toolPrefix: "three_" }));
  await waitForConfig(api, (c) => c.servers.length === 2, "server added after a plain cut");

  assertEquals(lists(), before, "no re-list after a clean close");
});

Deno.test("two controllers sharing one Lease never both write", async () => {
  await using api = await startKubeApi();
  api.put(service(NS, "svc", 8080));
  api.put(httpRoute(NS, "route-1", { service: "svc" }));
  api.put(mcpServer(NS, "one", { targetRef: { name: "route-1" }, toolPrefix: "one_" }));
  const a = await startController(api, { token: "replica-a", identity: "replica-a" });
  const b = await startController(api, { token: "replica-b", identity: "replica-b" });
  try {
    await waitForConfig(api, (c) => c.servers.length === 1, "first config");
    // Churn while both run: every change is written by the one leader.
    for (let i = 0; i < 5; i++) {
      const obj = api.get("mcp.kagenti.com/v1alpha1", "MCPServer", NS, "one")!;
      api.put({ ...obj, spec: { ...obj.spec, path: `/mcp/${i}` } });
      await waitForConfig(api, (c) => c.servers[0]?.url.endsWith(`/mcp/${i}`), `path ${i}`);
    }
    const writes = () =>
      api.requests.filter((r) =>
        ["POST", "PUT", "PATCH", "DELETE"].includes(r.method) && !r.path.includes("/leases")
      );
    const writers = new Set(writes().map((r) => r.token));
    assertEquals(writers.size, 1, `writes came from ${[...writers].join(", ")}`);
    const [leader, follower] = writers.has("replica-a") ? [a, b] : [b, a];
    const leaderToken = [...writers][0];
    assertEquals(
      api.get("coordination.k8s.io/v1", "Lease", NAMESPACE, "mcp-gateway-controller")?.spec.holderIdentity,
      leaderToken,
    );

    // The leader stops (releasing the Lease); the other takes over and keeps the config current.
    await leader.stop();
    const stoppedAt = Date.now();
    const obj = api.get("mcp.kagenti.com/v1alpha1", "MCPServer", NS, "one")!;
    api.put({ ...obj, spec: { ...obj.spec, path: "/after-failover" } });
    await waitForConfig(api, (c) => c.servers[0]?.url.endsWith("/after-failover"), "config after failover");
    const sequence = writes().map((r) => r.token);
    const firstFollowerWrite = sequence.indexOf(follower.identity);
    assert(firstFollowerWrite > 0, "the follower wrote after the failover");
    assert(
      sequence.slice(firstFollowerWrite).every((t) => t === follower.identity),
      `interleaved writes: ${sequence}`,
    );
    assert(
      writes().filter((r) => r.token === follower.identity).every((r) => r.at >= stoppedAt),
      "the follower wrote nothing while the leader was running",
    );
    assertEquals(writtenConfig(api)?.servers.length, 1);
  } finally {
    await a.stop();
    await b.stop();
  }
});
