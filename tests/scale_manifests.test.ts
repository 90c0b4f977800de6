/**
 * deploy/components/redis, the three-replica setup (docs/scaling.md): what the component adds fits the base
 * it patches, without a kustomize binary (the patches are checked against the objects they target).
 */
import { parseAllDocuments } from "yaml";
import { assert, assertEquals } from "./helpers/assert.ts";
import { parseCli } from "../src/cli.ts";

const DEPLOY = new URL("../deploy/", import.meta.url);
// deno-lint-ignore no-explicit-any
type Doc = Record<string, any>;

async function load(relative: string): Promise<Doc[]> {
  const text = await Deno.readTextFile(new URL(relative, DEPLOY));
  return parseAllDocuments(text).map((d) => d.toJS() as Doc).filter(Boolean);
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

Deno.test("the Redis component: Valkey, its Secret passed on by the controller, 3 broker-router replicas with a PDB", async () => {
  const [component] = await load("components/redis/kustomization.yaml");
  assertEquals(component.kind, "Component");
  const added = (await Promise.all(component.resources.map((r: string) => load(`components/redis/${r}`))))
    .flat();
  const base = (await load("broker-router.yaml")).find((d) => d.kind === "Deployment")!;
  const brokerLabels = base.spec.template.metadata.labels;

  const store = added.find((d) => d.kind === "Deployment")!;
  const service = added.find((d) => d.kind === "Service")!;
  assert(
    matches(service.spec.selector, store.spec.template.metadata.labels),
    "the Service selects the store",
  );
  const secret = added.find((d) => d.kind === "Secret")!;
  const url = new URL(secret.stringData.url);
  assertEquals(url.hostname, `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`);
  assertEquals(Number(url.port), service.spec.ports[0].port);

  const pdb = added.find((d) => d.kind === "PodDisruptionBudget")!;
  assert(matches(pdb.spec.selector.matchLabels, brokerLabels), "the PDB covers the broker-router pods");
  assertEquals(pdb.spec.maxUnavailable, 1);

  const [brokerPatch, controllerPatch] = component.patches;
  const { path, target } = brokerPatch;
  assertEquals([target.kind, target.name], [base.kind, base.metadata.name]);
  const [patch] = await load(`components/redis/${path}`);
  assertEquals(patch.spec.replicas, 3);
  const container = patch.spec.template.spec.containers[0];
  assertEquals(
    container.name,
    base.spec.template.spec.containers[0].name,
    "the patch merges into the container",
  );
  const env = Object.fromEntries(container.env.map((e: Doc) => [e.name, e.valueFrom.secretKeyRef]));
  assertEquals(env.JWT_SESSION_SIGNING_KEY.optional, false, "replicas must share one signing key");
  assertEquals(env.SESSION_STORE_URL, undefined, "the brokers take the store from the controller's config");

  // The controller gets the store's URL from the Secret, as a flag it accepts, and passes it on.
  const controller = (await load("controller.yaml")).find((d) => d.kind === "Deployment")!;
  assertEquals(
    [controllerPatch.target.kind, controllerPatch.target.name],
    [controller.kind, controller.metadata.name],
  );
  const [ctlPatch] = await load(`components/redis/${controllerPatch.path}`);
  const ctlContainer = ctlPatch.spec.template.spec.containers[0];
  assertEquals(ctlContainer.name, controller.spec.template.spec.containers[0].name);
  const ctlEnv = Object.fromEntries(ctlContainer.env.map((e: Doc) => [e.name, e.valueFrom.secretKeyRef]));
  assertEquals(ctlEnv.SESSION_STORE_URL, { name: secret.metadata.name, key: "url" });
  const cli = parseCli(
    controller.spec.template.spec.containers[0].args,
    (name) => name === "SESSION_STORE_URL" ? secret.stringData.url : undefined,
  );
  assert(
    cli.ok && cli.options.controller && cli.options.sessionStore === secret.stringData.url,
    JSON.stringify(cli),
  );
  assertEquals(container.readinessProbe.httpGet.path, "/readyz");
});
