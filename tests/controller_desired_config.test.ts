/**
 * The desired-config projection fed events directly: HTTPRoute → backend resolution in all its variants, and
 * a clear reason for every way it can fail.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { fold } from "../src/events/projection.ts";
import { desiredConfigProjection } from "../src/controller/desired_config.ts";
import type { GatewayEvent } from "../src/events/types.ts";

type Obj = Record<string, unknown> & { kind: string; metadata: { namespace: string; name: string } };
const observed = (object: Obj): GatewayEvent => ({
  type: "ResourceObserved",
  resource: { kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name, object },
});
const svc = (name: string, spec: Record<string, unknown>): Obj => ({
  kind: "Service",
  metadata: { namespace: "ns", name },
  spec,
});
const route = (name: string, spec: Record<string, unknown>): Obj => ({
  kind: "HTTPRoute",
  metadata: { namespace: "ns", name },
  spec: {
    hostnames: [`${name}.mcp.local`],
    rules: [{ backendRefs: [{ name: "svc", port: 8080 }] }],
    ...spec,
  },
});
const server = (
  name: string,
  targetRef: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Obj => ({
  kind: "MCPServer",
  metadata: { namespace: "ns", name },
  spec: { targetRef, toolPrefix: `${name}_`, ...extra },
});

function outcome(events: GatewayEvent[], name: string) {
  const { desired } = fold(desiredConfigProjection, events);
  const plan = desired.servers.find((p) => p.name === name)!;
  const t = plan.targets[0];
  const entry = desired.config.servers.find((s) => s.name === t.route);
  return t.ok ? { url: entry!.url, hostname: entry!.hostname } : { reason: t.reason };
}

const base = [observed(svc("svc", { ports: [{ port: 8080 }] }))];

Deno.test("resolution: ClusterIP, https listener, ExternalName, single-port default, custom path", () => {
  assertEquals(outcome([...base, observed(route("r", {})), observed(server("a", { name: "r" }))], "a"), {
    url: "http://svc.ns.svc.cluster.local:8080/mcp",
    hostname: "r.mcp.local",
  });
  assertEquals(
    outcome([
      ...base,
      observed(route("r", { parentRefs: [{ name: "gw", sectionName: "mcp-https" }] })),
      observed(server("a", { name: "r" }, { path: "/v1/special/mcp" })),
    ], "a"),
    { url: "https://svc.ns.svc.cluster.local:8080/v1/special/mcp", hostname: "r.mcp.local" },
  );
  assertEquals(
    outcome([
      observed(
        svc("svc", {
          type: "ExternalName",
          externalName: "api.example.com",
          ports: [{ port: 443, appProtocol: "https" }],
        }),
      ),
      observed(route("r", { rules: [{ backendRefs: [{ name: "svc", port: 443 }] }] })),
      observed(server("a", { name: "r" })),
    ], "a"),
    { url: "https://api.example.com:443/mcp", hostname: "api.example.com" },
  );
  assertEquals(
    outcome([
      ...base,
      observed(route("r", { rules: [{ backendRefs: [{ name: "svc" }] }] })),
      observed(server("a", { name: "r" })),
    ], "a"),
    { url: "http://svc.ns.svc.cluster.local:8080/mcp", hostname: "r.mcp.local" },
  );
  assertEquals(
    outcome([
      ...base,
      observed(route("r", { hostnames: ["*.mcp.local", "exact.mcp.local"] })),
      observed(server("a", { name: "r" })),
    ], "a")
      .hostname,
    "exact.mcp.local",
  );
});

Deno.test("resolution failures each have their own reason", () => {
  const cases: [GatewayEvent[], string][] = [
    [[observed(server("a", { name: "r", kind: "Service" }))], "InvalidTargetRef"],
    [[observed(server("a", { name: "r", namespace: "other" }))], "CrossNamespaceRef"],
    [[observed(server("a", { name: "missing" }))], "HTTPRouteNotFound"],
    [[...base, observed(route("r", { rules: [] })), observed(server("a", { name: "r" }))], "NoBackendRef"],
    [[
      ...base,
      observed(
        route("r", {
          rules: [{ backendRefs: [{ kind: "Hostname", group: "networking.istio.io", name: "x" }] }],
        }),
      ),
      observed(server("a", { name: "r" })),
    ], "UnsupportedBackend"],
    [[observed(route("r", {})), observed(server("a", { name: "r" }))], "ServiceNotFound"],
    [[
      ...base,
      observed(route("r", { rules: [{ backendRefs: [{ name: "svc", port: 1 }] }] })),
      observed(server("a", { name: "r" })),
    ], "ServicePortNotFound"],
    [[
      observed(svc("svc", { ports: [{ port: 1 }, { port: 2 }] })),
      observed(route("r", { rules: [{ backendRefs: [{ name: "svc" }] }] })),
      observed(server("a", { name: "r" })),
    ], "BackendPortMissing"],
    [
      [...base, observed(route("r", { hostnames: ["*.mcp.local"] })), observed(server("a", { name: "r" }))],
      "NoHostname",
    ],
    [
      [...base, observed(route("r", {})), observed(server("a", { name: "r" }, { toolPrefix: "bad prefix" }))],
      "InvalidToolPrefix",
    ],
    [[
      ...base,
      observed(route("r", {})),
      observed(server("a", { name: "r" }, { credentialRef: { name: "nope" } })),
    ], "CredentialNotFound"],
  ];
  for (const [events, reason] of cases) assertEquals(outcome(events, "a"), { reason }, reason);
});

Deno.test("deleting an object is folded like observing it never happened", () => {
  const events = [...base, observed(route("r", {})), observed(server("a", { name: "r" }))];
  const gone: GatewayEvent = { type: "ResourceDeleted", kind: "Service", namespace: "ns", name: "svc" };
  assertEquals(outcome([...events, gone], "a"), { reason: "ServiceNotFound" });
  const unrelated: GatewayEvent = { type: "ConfigRejected", source: "x", reason: "y" };
  const state = fold(desiredConfigProjection, events);
  assertEquals(
    desiredConfigProjection.apply(state, { ...unrelated, seq: 1, at: 0 }),
    state,
    "other events leave the state as is",
  );
});
