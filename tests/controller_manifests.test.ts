/**
 * The deploy/ manifests: valid YAML with the expected kinds, structural CRDs with the prefix immutability rule,
 * samples that validate against the CRDs' OpenAPI schemas, and samples that the controller turns into a
 * config the broker accepts.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { validateAgainstSchema } from "./harness/kube_schema.ts";
import { fold } from "../src/events/projection.ts";
import { desiredConfigProjection } from "../src/controller/desired_config.ts";
import { redactForLog } from "../src/controller/informer.ts";
import { parseConfig } from "../src/config/parse.ts";
import type { GatewayEvent } from "../src/events/types.ts";

const DEPLOY = new URL("../deploy/", import.meta.url);
// deno-lint-ignore no-explicit-any
type Doc = Record<string, any>;

async function load(relative: string): Promise<Doc[]> {
  const text = await Deno.readTextFile(new URL(relative, DEPLOY));
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(`${relative}: ${d.errors[0].message}`);
    return d.toJS() as Doc;
  }).filter(Boolean);
}

async function kustomized(dir: string): Promise<Doc[]> {
  const [k] = await load(`${dir}kustomization.yaml`);
  const docs: Doc[] = [];
  for (const resource of k.resources as string[]) docs.push(...await load(`${dir}${resource}`));
  return docs;
}

const crdSchemas = async () => {
  const crds = (await kustomized("")).filter((d) => d.kind === "CustomResourceDefinition");
  return new Map(crds.map((c) => [c.spec.names.kind as string, c.spec.versions[0].schema.openAPIV3Schema]));
};

Deno.test("every manifest is valid YAML with apiVersion, kind and name; kustomize resources exist", async () => {
  const docs = [...await kustomized(""), ...await kustomized("samples/")];
  for (const d of docs) {
    assert(
      d.apiVersion && d.kind && d.metadata?.name,
      `incomplete object: ${JSON.stringify(d).slice(0, 120)}`,
    );
  }
  const kinds = new Set(docs.map((d) => d.kind));
  for (
    const kind of [
      "Namespace",
      "CustomResourceDefinition",
      "ClusterRole",
      "Role",
      "Deployment",
      "Service",
      "MCPServer",
      "HTTPRoute",
    ]
  ) {
    assert(kinds.has(kind), `missing ${kind}`);
  }
  const broker = docs.find((d) => d.kind === "Deployment" && d.metadata.name === "mcp-broker-router")!;
  const container = broker.spec.template.spec.containers[0];
  assertEquals(container.args, [
    "--mcp-gateway-config",
    "/etc/mcp-gateway/config/config.yaml",
    "--shutdown-delay",
    "5",
  ]);
  // Kubernetes must wait longer than the delay and the default --shutdown-grace (30 s) before SIGKILL.
  assert(broker.spec.template.spec.terminationGracePeriodSeconds > 35);
  assertEquals(container.ports.map((p: Doc) => p.containerPort), [8080, 50051]);
  assertEquals(container.volumeMounts.map((m: Doc) => m.mountPath), [
    "/etc/mcp-gateway/config",
    "/etc/mcp-gateway/credentials",
  ]);
  const volumes = broker.spec.template.spec.volumes;
  assertEquals(volumes.map((v: Doc) => v.configMap?.name ?? v.secret?.secretName), [
    "mcp-gateway-config",
    "mcp-gateway-credentials",
  ]);
  const controller = docs.find((d) => d.kind === "Deployment" && d.metadata.name === "mcp-controller")!;
  assertEquals(controller.spec.template.spec.containers[0].args, ["--controller"]);
});

Deno.test("CRDs are structural (no $ref) and enforce toolPrefix immutability with CEL", async () => {
  const docs = await kustomized("");
  for (const crd of docs.filter((d) => d.kind === "CustomResourceDefinition")) {
    assert(!JSON.stringify(crd).includes('"$ref"'), `${crd.metadata.name} uses $ref, which CRDs reject`);
    assertEquals(crd.spec.versions[0].subresources, { status: {} });
  }
  const schemas = await crdSchemas();
  const rules = schemas.get("MCPServer").properties.spec["x-kubernetes-validations"].map((v: Doc) => v.rule)
    .join("\n");
  assert(rules.includes("self.toolPrefix == oldSelf.toolPrefix"), rules);
  assert(rules.includes("oldSelf.targetRefs.all"), rules);
});

Deno.test("samples validate against the CRD schemas; broken objects do not", async () => {
  const schemas = await crdSchemas();
  const samples = (await kustomized("samples/")).filter((d) => schemas.has(d.kind));
  assert(samples.length >= 3);
  for (const s of samples) {
    assertEquals(validateAgainstSchema(s, schemas.get(s.kind)), [], `${s.kind} ${s.metadata.name}`);
  }

  const errors = validateAgainstSchema({
    apiVersion: "mcp.kagenti.com/v1alpha1",
    kind: "MCPServer",
    metadata: { name: "bad" },
    spec: { targetRefs: [{ kind: "Service", toolprefix: "x" }], toolPrefix: "bad prefix!", path: "mcp" },
  }, schemas.get("MCPServer"));
  assertEquals(
    errors.sort(),
    [
      "spec.path: does not match ^/",
      "spec.targetRefs[0].toolprefix: unknown field (the API server would drop it)",
      'spec.targetRefs[0]: missing required field "name"',
      "spec.targetRefs[0].kind: must be one of HTTPRoute",
      "spec.toolPrefix: does not match ^[A-Za-z0-9_.-]*$",
    ].sort(),
  );
});

Deno.test("the samples become a config the broker accepts", async () => {
  const docs = await kustomized("samples/");
  const events: GatewayEvent[] = docs.filter((d) => d.kind !== "Namespace").map((d) => {
    const obj = d.kind === "Secret" && d.stringData
      ? { ...d, data: Object.fromEntries(Object.entries(d.stringData).map(([k, v]) => [k, btoa(String(v))])) }
      : d;
    return {
      type: "ResourceObserved",
      resource: {
        kind: d.kind,
        namespace: d.metadata.namespace,
        name: d.metadata.name,
        object: redactForLog(d.kind, obj),
      },
    };
  });
  const { desired } = fold(desiredConfigProjection, events);
  const parsed = parseConfig(desired.yaml, {
    file: () => "Bearer test-api-key-secret-token",
    env: () => undefined,
  });
  assert(parsed.ok, parsed.ok ? "" : parsed.reason);
  assertEquals(parsed.config.servers.map((s) => [s.name, s.url, s.hostname, s.toolPrefix]), [
    [
      "mcp-test/api-key-route",
      "http://api-key-mcp.mcp-test.svc.cluster.local:9090/mcp",
      "api-key.mcp.local",
      "key_",
    ],
    [
      "mcp-test/calendar-route",
      "http://calendar-mcp.mcp-test.svc.cluster.local:8080/mcp",
      "calendar.mcp.local",
      "cal_",
    ],
    [
      "mcp-test/weather-route",
      "http://weather-mcp.mcp-test.svc.cluster.local:8080/mcp",
      "weather.mcp.local",
      "weather_",
    ],
  ]);
  assertEquals(parsed.config.virtualServers.map((v) => v.name), ["mcp-test/weather-only"]);
  assert(desired.servers.every((p) => p.targets.every((t) => t.ok)));
});
