/**
 * Writes the aggregated config (ConfigMap) and the credentials it points at (Secret) in the controller's
 * namespace: read, compare, create or replace with the read resourceVersion, retry on 409. Nothing is written
 * when the stored content already matches, so brokers only reload on real changes.
 */
import type { V1ConfigMap, V1Secret } from "@kubernetes/client-node";
import { CONFIG_KEY, CONFIG_MAP_NAME, CREDENTIALS_SECRET_NAME } from "./kinds.ts";
import { apiStatus, type KubeClients } from "./kube_client.ts";

/** Raised when leadership was lost between deciding to write and writing. */
export class NotLeaderError extends Error {
  constructor() {
    super("not the leader");
  }
}

const LABELS = {
  "app.kubernetes.io/managed-by": "mcp-gateway-controller",
  "mcp.kagenti.com/aggregated": "true",
};

/**
 * Runs `attempt` until it does not hit a 409 Conflict (5 tries, 100 ms doubling with jitter) — the reference's
 * retry schedule for its config write.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>, tries = 5): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (apiStatus(error) !== 409 || i >= tries) throw error;
      await new Promise((r) => setTimeout(r, 100 * 2 ** (i - 1) * (1 + Math.random() * 0.1)));
    }
  }
}

const sameData = (a: Record<string, string> | undefined, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b).sort());

export interface WriteContext {
  clients: KubeClients;
  namespace: string;
  /** Checked immediately before every write. */
  isLeader(): boolean;
}

/** Writes `config.yaml`; returns whether anything was written. */
export function writeConfigMap(ctx: WriteContext, yaml: string): Promise<boolean> {
  const { clients, namespace } = ctx;
  const data = { [CONFIG_KEY]: yaml };
  return retryOnConflict(async () => {
    let current: V1ConfigMap | undefined;
    try {
      current = await clients.core.readNamespacedConfigMap({ namespace, name: CONFIG_MAP_NAME });
    } catch (error) {
      if (apiStatus(error) !== 404) throw error;
    }
    if (current && sameData(current.data, data)) return false;
    if (!ctx.isLeader()) throw new NotLeaderError();
    if (!current) {
      await clients.core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: CONFIG_MAP_NAME, namespace, labels: LABELS }, data },
      });
    } else {
      await clients.core.replaceNamespacedConfigMap({
        namespace,
        name: CONFIG_MAP_NAME,
        body: {
          ...current,
          metadata: { ...current.metadata, labels: { ...current.metadata?.labels, ...LABELS } },
          data,
        },
      });
    }
    return true;
  });
}

/** Writes the credentials Secret (`data` values are base64, copied as stored); returns whether it wrote. */
export function writeCredentialsSecret(ctx: WriteContext, data: Record<string, string>): Promise<boolean> {
  const { clients, namespace } = ctx;
  return retryOnConflict(async () => {
    let current: V1Secret | undefined;
    try {
      current = await clients.core.readNamespacedSecret({ namespace, name: CREDENTIALS_SECRET_NAME });
    } catch (error) {
      if (apiStatus(error) !== 404) throw error;
    }
    if (current && sameData(current.data, data)) return false;
    if (!ctx.isLeader()) throw new NotLeaderError();
    if (!current) {
      await clients.core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: CREDENTIALS_SECRET_NAME, namespace, labels: LABELS },
          type: "Opaque",
          data,
        },
      });
    } else {
      await clients.core.replaceNamespacedSecret({
        namespace,
        name: CREDENTIALS_SECRET_NAME,
        body: { ...current, data, stringData: undefined },
      });
    }
    return true;
  });
}
