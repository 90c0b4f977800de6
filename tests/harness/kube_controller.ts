/**
 * Runs the real controller in-process against the in-test API server, for controller tests.
 *
 * @example
 * ```ts
 * await using api = await startKubeApi();
 * await using ctl = await startController(api);
 * ```
 */
import { InMemoryEventLog } from "../../src/events/log.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { type ControllerOptions, runController } from "../../src/controller/mod.ts";
import type { KubeApiServer, KubeObject } from "./kube_api.ts";
import { waitFor } from "../helpers/ports.ts";
import { parseConfig } from "../../src/config/parse.ts";
import type { GatewayConfig } from "../../src/config/schema.ts";

export const NAMESPACE = "mcp-system";

export interface RunningController {
  identity: string;
  healthPort: number;
  metricsPort: number;
  log: InMemoryEventLog;
  /** Resolves when runController returned. */
  done: Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startController(
  api: KubeApiServer,
  extra: Partial<ControllerOptions> & { token?: string } = {},
): Promise<RunningController> {
  const abort = new AbortController();
  const log = new InMemoryEventLog(4096);
  const listening = Promise.withResolvers<{ healthPort: number; metricsPort: number; identity: string }>();
  const { token, ...rest } = extra;
  const done = runController({
    kubeconfig: await api.kubeconfig(token ?? "controller"),
    namespace: NAMESPACE,
    healthAddress: "127.0.0.1:0",
    metricsAddress: "127.0.0.1:0",
    log,
    logger: silentLogger,
    signal: abort.signal,
    leaseDurationMs: 1000,
    renewIntervalMs: 100,
    resyncMs: 500,
    onListening: listening.resolve,
    ...rest,
  });
  done.catch(listening.reject);
  const info = await listening.promise;
  const stop = async () => {
    abort.abort();
    await done;
  };
  return { ...info, log, done, stop, [Symbol.asyncDispose]: stop };
}

/** The written config.yaml text, if any. */
export function configText(api: KubeApiServer): string | undefined {
  return api.get("v1", "ConfigMap", NAMESPACE, "mcp-gateway-config")?.data?.["config.yaml"];
}

/** The written config parsed exactly as the broker would, credentials read from the written Secret. */
export function writtenConfig(api: KubeApiServer): GatewayConfig | undefined {
  const text = configText(api);
  if (text === undefined) return undefined;
  const secret = api.get("v1", "Secret", NAMESPACE, "mcp-gateway-credentials");
  const result = parseConfig(text, {
    file: (path) => {
      const key = path.split("/").pop()!;
      const value = secret?.data?.[key];
      if (value === undefined) throw new Error(`no credential file ${path}`);
      return atob(value);
    },
    env: () => undefined,
  }, "/etc/mcp-gateway/config");
  if (!result.ok) throw new Error(`written config does not parse: ${result.reason}\n${text}`);
  return result.config;
}

/** Waits until the written config satisfies `check`. */
export function waitForConfig(api: KubeApiServer, check: (c: GatewayConfig) => boolean, what: string) {
  return waitFor(
    () => {
      const c = writtenConfig(api);
      return c && check(c) ? c : undefined;
    },
    what,
    10_000,
    20,
  );
}

/** The Ready condition of an object's status. */
export function readyCondition(obj: KubeObject | undefined): Record<string, unknown> | undefined {
  return obj?.status?.conditions?.find((c: { type: string }) => c.type === "Ready");
}

/** Waits until the object's Ready condition has the given status (and reason, if given). */
export function waitForReady(
  api: KubeApiServer,
  kind: string,
  namespace: string,
  name: string,
  status: "True" | "False",
  reason?: string,
) {
  return waitFor(
    () => {
      const obj = api.get("mcp.kagenti.com/v1alpha1", kind, namespace, name);
      const c = readyCondition(obj);
      return c && c.status === status && (!reason || c.reason === reason) ? obj : undefined;
    },
    `${kind} ${namespace}/${name} Ready=${status}${reason ? ` (${reason})` : ""}`,
    10_000,
    20,
  );
}

// ---- fixtures --------------------------------------------------------------------------------------------

export function service(
  namespace: string,
  name: string,
  port = 8080,
  extra: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace, name },
    spec: { type: "ClusterIP", ports: [{ name: "http", port }], ...extra },
  };
}

export function httpRoute(
  namespace: string,
  name: string,
  opts: { hostname?: string; service?: string; port?: number; sectionName?: string } = {},
): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { namespace, name },
    spec: {
      parentRefs: [{
        name: "mcp-gateway",
        namespace: "gateway-system",
        sectionName: opts.sectionName ?? "mcp",
      }],
      hostnames: [opts.hostname ?? `${name}.mcp.local`],
      rules: [{ backendRefs: [{ name: opts.service ?? name, port: opts.port ?? 8080 }] }],
    },
  };
}

export function mcpServer(namespace: string, name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: "mcp.kagenti.com/v1alpha1", kind: "MCPServer", metadata: { namespace, name }, spec };
}

export function credentialSecret(
  namespace: string,
  name: string,
  data: Record<string, string>,
  labelled = true,
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { namespace, name, labels: labelled ? { "mcp.kagenti.com/credential": "true" } : {} },
    type: "Opaque",
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, btoa(v)])),
  };
}

/** Gives a route a parent status, as a Gateway implementation would. */
export function acceptRoute(api: KubeApiServer, namespace: string, name: string) {
  api.patchStatus("gateway.networking.k8s.io/v1", "HTTPRoute", namespace, name, {
    parents: [{
      parentRef: { name: "mcp-gateway", namespace: "gateway-system" },
      controllerName: "istio.io/gateway-controller",
      conditions: [{
        type: "Accepted",
        status: "True",
        reason: "Accepted",
        message: "",
        lastTransitionTime: "2026-01-01T00:00:00Z",
      }],
    }],
  });
}
