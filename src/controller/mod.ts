/**
 * Controller mode (`--controller`): watch MCPServer, MCPVirtualServer, HTTPRoute, Service and labelled
 * credential Secrets; fold them (via the event log) into the aggregated gateway config; and, while leader,
 * write that config to the `mcp-gateway-config` ConfigMap, credentials to `mcp-gateway-credentials`, and
 * status back to the objects. See docs/controller.md.
 */
import type { EventLog } from "../events/log.ts";
import type { Logger } from "../observe/log.ts";
import { desiredConfigProjection } from "./desired_config.ts";
import { healthHandler, metricsHandler, serveOn } from "./http_endpoints.ts";
import { Informer } from "./informer.ts";
import { LEASE_NAME, WATCHED_KIND_NAMES, WATCHED_KINDS } from "./kinds.ts";
import { loadKubeConfig, makeClients } from "./kube_client.ts";
import { LeaderElector } from "./leader.ts";
import { createControllerMetrics } from "./metrics.ts";
import { Reconciler } from "./reconciler.ts";

export interface ControllerOptions {
  /** Path; default: in-cluster or $KUBECONFIG / ~/.kube/config (KubeConfig.loadFromDefault). */
  kubeconfig?: string;
  /** Where the ConfigMap/Secret/Lease live; from $NAMESPACE, default "mcp-system". */
  namespace: string;
  /** Default "0.0.0.0:8081". Port 0 picks a free port (see onListening). */
  healthAddress: string;
  /** Default "0.0.0.0:8082". */
  metricsAddress: string;
  brokerStatusUrl?: string;
  /** The session store every broker is to share (`--session-store`); written into their config. */
  sessionStoreUrl?: string;
  log: EventLog;
  logger: Logger;
  /** Stop everything when aborted. */
  signal: AbortSignal;
  /** Called once both HTTP endpoints listen, with the bound ports (useful with port 0). */
  onListening?: (info: { healthPort: number; metricsPort: number; identity: string }) => void;
  /** Leader-election identity; default `<hostname>-<random>` (in Kubernetes the pod name is the hostname). */
  identity?: string;
  /** Lease duration; default 15 s. */
  leaseDurationMs?: number;
  /** How often the leader renews and candidates retry; default 2 s. */
  renewIntervalMs?: number;
  /** How often to re-poll the broker and re-verify written state; default 10 s. */
  resyncMs?: number;
  /** Server-side watch timeout in seconds; default 25. */
  watchTimeoutSeconds?: number;
}

/** Runs the controller until `options.signal` aborts; resolves after shutdown (lease released). */
export async function runController(options: ControllerOptions): Promise<void> {
  const { log, signal } = options;
  const identity = options.identity ?? `${Deno.hostname()}-${crypto.randomUUID().slice(0, 8)}`;
  const logger = options.logger.with({ component: "controller" });
  const clients = makeClients(loadKubeConfig(options.kubeconfig));
  const metrics = createControllerMetrics();
  const view = log.project(desiredConfigProjection);

  const informers = WATCHED_KINDS.map((kind) =>
    new Informer(kind, {
      clients,
      log,
      logger,
      metrics,
      signal,
      watchTimeoutSeconds: options.watchTimeoutSeconds,
    })
  );
  const secrets = informers.find((i) => i.kind.kind === "Secret")!;
  const synced = () => informers.every((i) => i.synced);

  const reconciler: Reconciler = new Reconciler({
    clients,
    namespace: options.namespace,
    view,
    secrets,
    // Never write from a partial picture: an empty first config would drop every server for a moment.
    isLeader: () => synced() && leader.isLeader(),
    brokerStatusUrl: options.brokerStatusUrl,
    sessionStoreUrl: options.sessionStoreUrl,
    resyncMs: options.resyncMs ?? 10_000,
    metrics,
    logger,
    signal,
  });
  const leader = new LeaderElector({
    clients,
    namespace: options.namespace,
    name: LEASE_NAME,
    identity,
    leaseDurationMs: options.leaseDurationMs ?? 15_000,
    renewIntervalMs: options.renewIntervalMs ?? 2_000,
    logger,
    metrics,
    onChange: (leading) => leading && reconciler.trigger(),
  });

  const unsubscribe = log.subscribe((event) => {
    if (
      (event.type === "ResourceObserved" && WATCHED_KIND_NAMES.has(event.resource.kind)) ||
      (event.type === "ResourceDeleted" && WATCHED_KIND_NAMES.has(event.kind))
    ) reconciler.trigger();
  });

  const health = await serveOn(options.healthAddress, healthHandler(synced), signal);
  const metricsServer = await serveOn(options.metricsAddress, metricsHandler(metrics.registry), signal);
  logger.info("controller listening", {
    identity,
    namespace: options.namespace,
    healthPort: health.port,
    metricsPort: metricsServer.port,
  });
  options.onListening?.({ healthPort: health.port, metricsPort: metricsServer.port, identity });

  const loops = [
    ...informers.map((i) => i.run()),
    leader.run(signal),
    Promise.all(informers.map((i) => i.whenSynced())).then(() => {
      logger.info("informers synced", { kinds: informers.length });
      reconciler.trigger();
    }),
    reconciler.run(),
  ];
  try {
    await Promise.race([
      Promise.all(loops),
      new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true })),
    ]);
    await Promise.allSettled(loops.slice(0, -2).concat(loops.slice(-1)));
  } finally {
    unsubscribe();
    await Promise.allSettled([health.finished, metricsServer.finished]);
    logger.info("controller stopped", { identity });
  }
}
