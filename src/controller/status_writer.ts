/**
 * Writes an object's `status` subresource only when it differs from what is stored, with optimistic
 * concurrency: on 409 it re-reads the object, recomputes the status from the fresh copy and tries again.
 */
import { retryOnConflict } from "./config_writer.ts";
import type { KubeClients } from "./kube_client.ts";
import { stableStringify } from "./status.ts";

type Obj = Record<string, unknown> & {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
};

export interface StatusTarget {
  group: string;
  version: string;
  plural: string;
}

/**
 * `compute(status)` returns the status the object should have (or undefined to leave it). Returns whether a
 * write happened.
 */
export function writeStatus(
  clients: KubeClients,
  target: StatusTarget,
  observed: Obj,
  compute: (current: Record<string, unknown> | undefined) => Record<string, unknown> | undefined,
  guard: () => void,
): Promise<boolean> {
  const namespace = observed.metadata?.namespace ?? "";
  const name = observed.metadata?.name ?? "";
  let object = observed;
  let first = true;
  return retryOnConflict(async () => {
    if (!first) {
      object = await clients.custom.getNamespacedCustomObject({ ...target, namespace, name });
    }
    first = false;
    const current = object.status as Record<string, unknown> | undefined;
    const next = compute(current);
    if (next === undefined || stableStringify(next) === stableStringify(current ?? {})) return false;
    guard();
    await clients.custom.replaceNamespacedCustomObjectStatus({
      ...target,
      namespace,
      name,
      body: { ...object, status: next },
    });
    return true;
  });
}
