/**
 * One informer per watched kind: list, then watch from the list's resourceVersion (with bookmarks); resume a
 * closed watch from the last seen version, re-list after 410 Gone or any error. Each change becomes a
 * `ResourceObserved` / `ResourceDeleted` event, so the desired config is a fold of the log.
 *
 * Secrets are redacted before they reach the log (values replaced by digests): the debug endpoint shows recent
 * events, and credentials must not appear there. Values stay in this informer's cache for the writer.
 */
import { createHash } from "node:crypto";
import { Watch } from "@kubernetes/client-node";
import type { EventLog } from "../events/log.ts";
import type { Logger } from "../observe/log.ts";
import { collectionPath, nsName, type WatchedKind } from "./kinds.ts";
import { apiMessage, apiStatus, type KubeClients, sleep, toPlain } from "./kube_client.ts";
import type { ControllerMetrics } from "./metrics.ts";

type Obj = {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  [k: string]: unknown;
};

export interface InformerDeps {
  clients: KubeClients;
  log: EventLog;
  logger: Logger;
  metrics: ControllerMetrics;
  signal: AbortSignal;
  /** Server-side watch timeout (default 25 s); the watch is then resumed from the last version. */
  watchTimeoutSeconds?: number;
}

/** The object as the event log may hold it: no managedFields, Secret values replaced by digests. */
export function redactForLog(kind: string, obj: Obj): Record<string, unknown> {
  const { metadata, ...rest } = obj;
  const { managedFields: _m, ...meta } = (metadata ?? {}) as Record<string, unknown>;
  if (kind !== "Secret") return { ...rest, metadata: meta };
  const data = (obj.data ?? {}) as Record<string, string>;
  const dataDigests = Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, createHash("sha256").update(v).digest("hex").slice(0, 16)]),
  );
  return { apiVersion: "v1", kind: "Secret", metadata: meta, type: obj.type, dataDigests };
}

async function listKind(
  kind: WatchedKind,
  clients: KubeClients,
): Promise<{ items: Obj[]; resourceVersion: string }> {
  let list: { items?: unknown[]; metadata?: { resourceVersion?: string } };
  if (kind.group) {
    list = await clients.custom.listClusterCustomObject({
      group: kind.group,
      version: kind.version,
      plural: kind.plural,
      labelSelector: kind.labelSelector,
    });
  } else if (kind.kind === "Service") {
    list = toPlain(await clients.core.listServiceForAllNamespaces({ labelSelector: kind.labelSelector }));
  } else if (kind.kind === "Secret") {
    list = toPlain(await clients.core.listSecretForAllNamespaces({ labelSelector: kind.labelSelector }));
  } else throw new Error(`no list call for ${kind.kind}`);
  return { items: (list.items ?? []) as Obj[], resourceVersion: list.metadata?.resourceVersion ?? "" };
}

const keyOf = (o: Obj) => nsName(o.metadata?.namespace ?? "", o.metadata?.name ?? "");

/** Lists and watches one kind until the signal aborts. */
export class Informer {
  #cache = new Map<string, Obj>();
  #resourceVersion = "";
  #synced = Promise.withResolvers<void>();
  #isSynced = false;

  constructor(readonly kind: WatchedKind, private readonly deps: InformerDeps) {}

  /** True once the first list has been turned into events. */
  get synced(): boolean {
    return this.#isSynced;
  }

  /** Resolves after the first successful list. */
  whenSynced(): Promise<void> {
    return this.#synced.promise;
  }

  /** The full object (Secret values included), as last observed. */
  get(namespace: string, name: string): Obj | undefined {
    return this.#cache.get(nsName(namespace, name));
  }

  async run(): Promise<void> {
    const { signal, metrics, logger } = this.deps;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (!this.#resourceVersion) await this.#relist();
        const reason = await this.#watchOnce();
        failures = 0;
        if (signal.aborted) break;
        metrics.watchRestarts.inc({ kind: this.kind.kind, reason });
        logger.debug("watch ended", { kind: this.kind.kind, reason, resourceVersion: this.#resourceVersion });
      } catch (error) {
        if (signal.aborted) break;
        const gone = apiStatus(error) === 410;
        metrics.watchRestarts.inc({ kind: this.kind.kind, reason: gone ? "expired" : "error" });
        // After an error the cache may have missed changes: start again from a fresh list.
        this.#resourceVersion = "";
        if (gone) continue;
        failures++;
        const delay = Math.min(10_000, 250 * 2 ** Math.min(failures - 1, 6)) * (0.8 + Math.random() * 0.4);
        logger.warn("list/watch failed; retrying", {
          kind: this.kind.kind,
          error: apiMessage(error),
          retryInMs: Math.round(delay),
        });
        await sleep(delay, signal);
      }
    }
  }

  async #relist() {
    const { items, resourceVersion } = await listKind(this.kind, this.deps.clients);
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(keyOf(item));
      this.#upsert(item);
    }
    for (const [key, old] of this.#cache) if (!seen.has(key)) this.#delete(old);
    this.#resourceVersion = resourceVersion;
    if (!this.#isSynced) {
      this.#isSynced = true;
      this.#synced.resolve();
    }
  }

  #upsert(obj: Obj) {
    const key = keyOf(obj);
    const old = this.#cache.get(key);
    if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    this.#cache.set(key, obj);
    this.deps.log.append({
      type: "ResourceObserved",
      resource: {
        kind: this.kind.kind,
        namespace: obj.metadata?.namespace ?? "",
        name: obj.metadata?.name ?? "",
        resourceVersion: obj.metadata?.resourceVersion,
        generation: (obj.metadata as { generation?: number } | undefined)?.generation,
        object: redactForLog(this.kind.kind, obj),
      },
    });
  }

  #delete(obj: Obj) {
    const key = keyOf(obj);
    if (!this.#cache.delete(key)) return;
    this.deps.log.append({
      type: "ResourceDeleted",
      kind: this.kind.kind,
      namespace: obj.metadata?.namespace ?? "",
      name: obj.metadata?.name ?? "",
    });
  }

  /** One watch stream; resolves with why it ended, rejects on a transport or HTTP error. */
  async #watchOnce(): Promise<"closed" | "expired"> {
    const { clients, signal } = this.deps;
    const watch = new Watch(clients.kc);
    // client-node aborts a stream that is silent for 30 s; ending it server-side first makes that a clean resume.
    const timeoutSeconds = this.deps.watchTimeoutSeconds ?? 25;
    const ended = Promise.withResolvers<"closed" | "expired">();
    let expired = false;
    const request = await watch.watch(
      collectionPath(this.kind),
      {
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        labelSelector: this.kind.labelSelector,
        timeoutSeconds,
      },
      (type: string, obj: Obj) => {
        if (type === "ERROR") {
          // 410 Gone (or any error event): the version is too old to resume; the next pass re-lists.
          expired = true;
          this.#resourceVersion = "";
          return;
        }
        if (type === "ADDED" || type === "MODIFIED") this.#upsert(obj);
        else if (type === "DELETED") this.#delete(obj);
        const rv = obj?.metadata?.resourceVersion;
        if (rv && !expired) this.#resourceVersion = rv;
      },
      (error: unknown) => error ? ended.reject(error) : ended.resolve(expired ? "expired" : "closed"),
    );
    // Under Deno the aborted body does not always surface as an error on the Node stream; end the wait here.
    const abort = () => {
      request.abort();
      ended.resolve("closed");
    };
    signal.addEventListener("abort", abort, { once: true });
    if (signal.aborted) abort();
    try {
      return await ended.promise;
    } finally {
      signal.removeEventListener("abort", abort);
    }
  }
}
