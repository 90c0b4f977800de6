/**
 * The controller's desired state as a pure projection: fold `ResourceObserved` / `ResourceDeleted` events into
 * the set of watched objects, and derive from them the aggregated gateway config (standalone file format), the
 * credentials to copy, and what each MCPServer's status should say. Writers only compare and apply this.
 *
 * Server names in the written config are `<httproute-namespace>/<httproute-name>`, as the reference controller
 * writes them: one MCPServer with several `targetRefs` yields several servers, and a route is served once.
 */
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import { stringify } from "yaml";
import type { Projection } from "../events/projection.ts";
import type { GatewayEvent } from "../events/types.ts";
import type { ServerConfigInput, VirtualServer } from "../config/schema.ts";
import { CREDENTIALS_MOUNT, nsName, WATCHED_KIND_NAMES, type WatchedKindName } from "./kinds.ts";
import {
  HTTPRouteSchema,
  type MCPServerObject,
  MCPServerSchema,
  MCPVirtualServerSchema,
  RedactedSecretSchema,
  ServiceSchema,
  type TargetRef,
} from "./resource_schemas.ts";
import { type ResolveFailureReason, resolveTarget, type RouteLookup } from "./resolve_route.ts";

type Obj = Record<string, unknown>;
/** Observed objects per kind, keyed `namespace/name`. Maps are replaced, never mutated. */
export type ObservedObjects = Readonly<Record<WatchedKindName, ReadonlyMap<string, Obj>>>;

/** Reasons a target is left out of the config beyond route resolution failures. */
export type TargetFailureReason =
  | ResolveFailureReason
  | "InvalidSpec"
  | "NoTargetRef"
  | "InvalidToolPrefix"
  | "CredentialNotFound"
  | "CredentialKeyMissing"
  | "RouteConflict"
  | "PrefixConflict";

/** One target of one MCPServer: written to the config (`ok`) or not, and why. */
export interface TargetPlan {
  /** `namespace/name` of the HTTPRoute. */
  route: string;
  /** Server name in the written config (= `route`). */
  serverName: string;
  toolPrefix: string;
  ok: boolean;
  reason?: TargetFailureReason;
  message?: string;
}

/** What the controller concluded about one MCPServer. */
export interface ServerPlan {
  namespace: string;
  name: string;
  generation?: number;
  targets: TargetPlan[];
}

/** A credential to copy from a labelled Secret into the gateway's credentials Secret under `key`. */
export interface CredentialCopy {
  key: string;
  namespace: string;
  secret: string;
  secretKey: string;
  /** Digest of the value (from the redacted event), so a rotated value changes the desired state. */
  digest: string;
}

export interface DesiredConfig {
  /** The standalone config file's content, before YAML rendering. */
  config: {
    servers: ServerConfigInput[];
    virtualServers?: VirtualServer[];
    sessionStore?: { urlFile: string };
  };
  /** `config.yaml` exactly as written to the ConfigMap. */
  yaml: string;
  credentials: CredentialCopy[];
  servers: ServerPlan[];
  /** HTTPRoutes (`namespace/name`) served by the written config. */
  referencedRoutes: string[];
}

export interface DesiredState {
  objects: ObservedObjects;
  desired: DesiredConfig;
}

const EMPTY_OBJECTS: ObservedObjects = {
  MCPServer: new Map(),
  MCPVirtualServer: new Map(),
  HTTPRoute: new Map(),
  Service: new Map(),
  Secret: new Map(),
};

/** Tool prefixes become part of tool names (SEP-986); mirrors the config schema's rule. */
const PREFIX_PATTERN = /^[A-Za-z0-9_.\-]*$/;

/** `<namespace>_<secret>_<key>`: namespaces and Secret names never contain `_`, so keys cannot collide. */
export function credentialKey(namespace: string, secret: string, key: string): string {
  return `${namespace}_${secret}_${key}`;
}

function targetsOf(server: MCPServerObject): TargetRef[] {
  const { spec } = server;
  const refs: TargetRef[] = [...(spec.targetRefs ?? [])];
  if (spec.targetRef) refs.unshift(spec.targetRef);
  return refs;
}

function byAge(a: MCPServerObject, b: MCPServerObject): number {
  const ta = a.metadata.creationTimestamp ?? "", tb = b.metadata.creationTimestamp ?? "";
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = nsName(a.metadata.namespace, a.metadata.name),
    kb = nsName(b.metadata.namespace, b.metadata.name);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Derives the desired config from observed objects. Pure; exported for tests. */
export function deriveDesired(objects: ObservedObjects): DesiredConfig {
  const routes = new Map([...objects.HTTPRoute].flatMap(([k, o]) => {
    const p = HTTPRouteSchema.safeParse(o);
    return p.success ? [[k, p.data] as const] : [];
  }));
  const services = new Map([...objects.Service].flatMap(([k, o]) => {
    const p = ServiceSchema.safeParse(o);
    return p.success ? [[k, p.data] as const] : [];
  }));
  const lookup: RouteLookup = { route: (k) => routes.get(k), service: (k) => services.get(k) };

  const plans: ServerPlan[] = [];
  const servers: ServerConfigInput[] = [];
  const credentials = new Map<string, CredentialCopy>();
  const usedRoutes = new Map<string, string>();
  const usedPrefixes = new Map<string, string>();

  const parsed = [...objects.MCPServer.values()].map((o) => ({ raw: o, p: MCPServerSchema.safeParse(o) }));
  const valid = parsed.flatMap((x) => x.p.success ? [x.p.data] : []).sort(byAge);
  for (const { raw, p } of parsed) {
    if (p.success) continue;
    const m = (raw.metadata ?? {}) as Obj;
    plans.push({
      namespace: String(m.namespace ?? ""),
      name: String(m.name ?? ""),
      generation: m.generation as number | undefined,
      targets: [{
        route: "",
        serverName: "",
        toolPrefix: "",
        ok: false,
        reason: "InvalidSpec",
        message: `spec is invalid: ${
          p.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")
        }`,
      }],
    });
  }

  for (const server of valid) {
    const { namespace, name, generation } = server.metadata;
    const owner = nsName(namespace, name);
    const plan: ServerPlan = { namespace, name, generation, targets: [] };
    plans.push(plan);
    const refs = targetsOf(server);
    if (refs.length === 0) {
      plan.targets.push({
        route: "",
        serverName: "",
        toolPrefix: "",
        ok: false,
        reason: "NoTargetRef",
        message: "spec.targetRef or spec.targetRefs must name at least one HTTPRoute",
      });
      continue;
    }
    for (const ref of refs) {
      const toolPrefix = ref.toolPrefix ?? server.spec.toolPrefix;
      const resolved = resolveTarget(ref, namespace, server.spec.path, lookup);
      const route = nsName(resolved.routeNamespace, resolved.routeName);
      const target: TargetPlan = { route, serverName: route, toolPrefix, ok: false };
      plan.targets.push(target);
      const fail = (reason: TargetFailureReason, message: string) =>
        Object.assign(target, { reason, message });
      if (!PREFIX_PATTERN.test(toolPrefix)) {
        fail(
          "InvalidToolPrefix",
          `toolPrefix "${toolPrefix}" may only contain letters, digits, '_', '-' and '.'`,
        );
        continue;
      }
      if (!resolved.ok) {
        fail(resolved.reason, resolved.message);
        continue;
      }
      const credRef = ref.credentialRef ?? server.spec.credentialRef;
      let credential: CredentialCopy | undefined;
      if (credRef) {
        const secretObj = objects.Secret.get(nsName(namespace, credRef.name));
        const secret = secretObj && RedactedSecretSchema.safeParse(secretObj);
        if (!secret?.success) {
          fail(
            "CredentialNotFound",
            `Credential validation failed: Secret ${
              nsName(namespace, credRef.name)
            } not found or not labelled mcp.kagenti.com/credential=true`,
          );
          continue;
        }
        const digest = secret.data.dataDigests[credRef.key];
        if (digest === undefined) {
          fail(
            "CredentialKeyMissing",
            `Credential validation failed: Secret ${
              nsName(namespace, credRef.name)
            } has no key "${credRef.key}"`,
          );
          continue;
        }
        const key = credentialKey(namespace, credRef.name, credRef.key);
        credential = { key, namespace, secret: credRef.name, secretKey: credRef.key, digest };
      }
      const routeOwner = usedRoutes.get(route);
      if (routeOwner) {
        fail("RouteConflict", `HTTPRoute ${route} is already served by MCPServer ${routeOwner}`);
        continue;
      }
      const prefixOwner = toolPrefix ? usedPrefixes.get(toolPrefix) : undefined;
      if (prefixOwner) {
        fail("PrefixConflict", `toolPrefix "${toolPrefix}" is already used by ${prefixOwner}`);
        continue;
      }
      usedRoutes.set(route, owner);
      if (toolPrefix) usedPrefixes.set(toolPrefix, `MCPServer ${owner} (HTTPRoute ${route})`);
      target.ok = true;
      const entry: ServerConfigInput = {
        name: route,
        url: resolved.url,
        hostname: resolved.hostname,
        enabled: true,
        toolPrefix,
      };
      if (server.spec.forwardClientToken) entry.forwardClientToken = true;
      if (credential) {
        credentials.set(credential.key, credential);
        entry.credentialFile = `${CREDENTIALS_MOUNT}/${credential.key}`;
      }
      servers.push(entry);
    }
  }

  const virtualServers: VirtualServer[] = [...objects.MCPVirtualServer.values()].flatMap((o) => {
    const p = MCPVirtualServerSchema.safeParse(o);
    if (!p.success) return [];
    const vs: VirtualServer = {
      name: nsName(p.data.metadata.namespace, p.data.metadata.name),
      tools: p.data.spec.tools,
    };
    if (p.data.spec.prompts) vs.prompts = p.data.spec.prompts;
    return [vs];
  }).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

  servers.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  plans.sort((a, b) => nsName(a.namespace, a.name) < nsName(b.namespace, b.name) ? -1 : 1);
  const creds = [...credentials.values()].sort((a, b) => a.key < b.key ? -1 : 1);
  const config = virtualServers.length ? { servers, virtualServers } : { servers };
  return {
    config,
    yaml: renderConfig(config, creds),
    credentials: creds,
    servers: plans,
    referencedRoutes: servers.map((s) => s.name),
  };
}

/**
 * Renders the config file. The header carries a digest of the credentials, so rotating a Secret value changes
 * the file and the broker's config watcher reloads (and re-reads the credential files).
 */
export function renderConfig(
  config: DesiredConfig["config"],
  credentials: Pick<CredentialCopy, "key" | "digest">[],
): string {
  const digest = createHash("sha256")
    .update(JSON.stringify(credentials.map((c) => [c.key, c.digest])))
    .digest("hex").slice(0, 16);
  return `# Written by the mcp-gateway controller; manual edits are overwritten.\n# credentials: ${digest}\n${
    stringify(config)
  }`;
}

/** The credentials Secret's key for the session store's URL (`--session-store` of the controller). */
export const SESSION_STORE_KEY = "session-store-url";

/**
 * The desired config with the controller's own settings: the session store every broker shares (its URL,
 * which may carry a password, goes to the credentials Secret; the config names the mounted file). Pure:
 * the same inputs write the same bytes, so an unchanged store rewrites nothing.
 */
export function withSessionStore(
  desired: DesiredConfig,
  url: string | undefined,
): { yaml: string; secretData: Record<string, string> } {
  if (!url || url === "memory") return { yaml: desired.yaml, secretData: {} };
  const config = {
    ...desired.config,
    sessionStore: { urlFile: `${CREDENTIALS_MOUNT}/${SESSION_STORE_KEY}` },
  };
  const digest = createHash("sha256").update(url).digest("hex");
  return {
    yaml: renderConfig(config, [...desired.credentials, { key: SESSION_STORE_KEY, digest }]),
    secretData: { [SESSION_STORE_KEY]: Buffer.from(url).toString("base64") },
  };
}

function applyEvent(objects: ObservedObjects, event: GatewayEvent): ObservedObjects | undefined {
  if (event.type === "ResourceObserved") {
    const { kind, namespace, name, object } = event.resource;
    if (!WATCHED_KIND_NAMES.has(kind)) return undefined;
    const next = new Map(objects[kind as WatchedKindName]);
    next.set(nsName(namespace, name), object);
    return { ...objects, [kind]: next };
  }
  if (event.type === "ResourceDeleted") {
    const { kind, namespace, name } = event;
    if (!WATCHED_KIND_NAMES.has(kind)) return undefined;
    const current = objects[kind as WatchedKindName];
    if (!current.has(nsName(namespace, name))) return undefined;
    const next = new Map(current);
    next.delete(nsName(namespace, name));
    return { ...objects, [kind]: next };
  }
  return undefined;
}

/**
 * The projection: state is the observed objects plus the config derived from them.
 *
 * @example
 * ```ts
 * const state = fold(desiredConfigProjection, [{ type: "ResourceObserved", resource }]);
 * state.desired.yaml; // "servers: ..."
 * ```
 */
export const desiredConfigProjection: Projection<DesiredState> = {
  name: "controller.desiredConfig",
  initial: { objects: EMPTY_OBJECTS, desired: deriveDesired(EMPTY_OBJECTS) },
  apply(state, event) {
    const objects = applyEvent(state.objects, event);
    return objects ? { objects, desired: deriveDesired(objects) } : state;
  },
};
