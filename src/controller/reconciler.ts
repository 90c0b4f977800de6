/**
 * The write side: whenever the desired state changes (or on resync), and only while leader, make the cluster
 * match it — credentials Secret, then config ConfigMap, then MCPServer / MCPVirtualServer / HTTPRoute status.
 * It reads the projection; it never decides what the config is.
 */
import type { ProjectionView } from "../events/log.ts";
import type { Logger } from "../observe/log.ts";
import { fetchBrokerReport } from "./broker_status.ts";
import { NotLeaderError, writeConfigMap, writeCredentialsSecret } from "./config_writer.ts";
import { type DesiredState, withSessionStore } from "./desired_config.ts";
import type { Informer } from "./informer.ts";
import { GATEWAY_GROUP, MCP_GROUP, MCP_VERSION, nsName } from "./kinds.ts";
import { apiMessage, type KubeClients, sleep } from "./kube_client.ts";
import type { ControllerMetrics } from "./metrics.ts";
import { type BrokerReport, httpRouteStatus, mcpServerStatus, virtualServerStatus } from "./status.ts";
import { writeStatus } from "./status_writer.ts";

export interface ReconcilerOptions {
  clients: KubeClients;
  namespace: string;
  view: ProjectionView<DesiredState>;
  /** The Secret informer: it holds the credential values the event log does not. */
  secrets: Informer;
  isLeader(): boolean;
  brokerStatusUrl?: string;
  /** The session store brokers share (`--session-store`), passed on through the config and the Secret. */
  sessionStoreUrl?: string;
  /** How often to re-check the broker's status (and re-verify what is written). */
  resyncMs: number;
  metrics: ControllerMetrics;
  logger: Logger;
  signal: AbortSignal;
}

type Obj = Record<string, unknown> & {
  metadata?: { name?: string; namespace?: string; generation?: number };
};

export class Reconciler {
  #dirty = true;
  #pending = 0;
  #wake = Promise.withResolvers<void>();

  constructor(private readonly o: ReconcilerOptions) {}

  /** Something changed: reconcile soon. */
  trigger(): void {
    this.#dirty = true;
    this.o.metrics.queueDepth.set(++this.#pending);
    this.#wake.resolve();
  }

  async run(): Promise<void> {
    const { signal, metrics, logger } = this.o;
    let failures = 0;
    let lastPass = 0;
    while (!signal.aborted) {
      if (Date.now() - lastPass >= this.o.resyncMs) this.#dirty = true;
      if (this.#dirty && this.o.isLeader()) {
        await sleep(20, signal); // let a burst of watch events settle into one pass
        if (signal.aborted) break;
        this.#dirty = false;
        this.#pending = 0;
        metrics.queueDepth.set(0);
        lastPass = Date.now();
        try {
          const wrote = await this.reconcile();
          metrics.reconciles.inc({ result: wrote ? "applied" : "unchanged" });
          failures = 0;
        } catch (error) {
          this.#dirty = true;
          if (error instanceof NotLeaderError) {
            metrics.reconciles.inc({ result: "skipped_not_leader" });
          } else {
            failures++;
            metrics.reconciles.inc({ result: "error" });
            logger.warn("reconcile failed; retrying", { error: apiMessage(error) });
            await sleep(Math.min(30_000, 200 * 2 ** Math.min(failures, 8)), signal);
          }
        }
      }
      this.#wake = Promise.withResolvers<void>();
      // Wake on a change, and at least every 100 ms to notice leadership changes and resync deadlines.
      await Promise.race([
        this.#wake.promise,
        sleep(this.#dirty ? 100 : Math.min(this.o.resyncMs, 1000), signal),
      ]);
    }
  }

  #guard = () => {
    if (!this.o.isLeader()) throw new NotLeaderError();
  };

  /** One pass; returns whether anything was written. */
  async reconcile(): Promise<boolean> {
    const { clients, namespace, view, metrics, logger } = this.o;
    const { desired, objects } = view.state;
    const ctx = { clients, namespace, isLeader: () => this.o.isLeader() };
    let wrote = false;
    let configError: string | undefined;

    try {
      // Credentials first: the config that points at a file should not arrive before the file can.
      const { yaml, secretData } = withSessionStore(desired, this.o.sessionStoreUrl);
      const data: Record<string, string> = { ...secretData };
      for (const c of desired.credentials) {
        const value = (this.o.secrets.get(c.namespace, c.secret)?.data as Record<string, string> | undefined)
          ?.[c.secretKey];
        if (value !== undefined) data[c.key] = value;
      }
      if (await writeCredentialsSecret(ctx, data)) {
        wrote = true;
        metrics.writes.inc({ target: "secret" });
      }
      if (await writeConfigMap(ctx, yaml)) {
        wrote = true;
        metrics.writes.inc({ target: "configmap" });
        logger.info("gateway config written", { servers: desired.config.servers.length });
      }
    } catch (error) {
      if (error instanceof NotLeaderError) throw error;
      metrics.reconcileErrors.inc({ stage: "config" });
      configError = `writing the gateway config failed: ${apiMessage(error)}`;
      logger.warn("config write failed", { error: configError });
    }

    let broker: BrokerReport | undefined;
    if (this.o.brokerStatusUrl) {
      broker = await fetchBrokerReport(this.o.brokerStatusUrl);
      if (!broker.ok) metrics.reconcileErrors.inc({ stage: "broker" });
    }

    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const mcpTarget = { group: MCP_GROUP, version: MCP_VERSION };
    for (const plan of desired.servers) {
      const observed = objects.MCPServer.get(nsName(plan.namespace, plan.name)) as Obj | undefined;
      if (!observed) continue;
      wrote = await this.#status(
        { ...mcpTarget, plural: "mcpservers" },
        observed,
        (current) => mcpServerStatus(plan, current, broker, configError, now),
        "mcpserver_status",
      ) || wrote;
    }
    for (const vs of objects.MCPVirtualServer.values() as Iterable<Obj>) {
      const tools = ((vs.spec as Obj | undefined)?.tools as unknown[] | undefined)?.length ?? 0;
      wrote = await this.#status(
        { ...mcpTarget, plural: "mcpvirtualservers" },
        vs,
        (current) => virtualServerStatus(current, tools, vs.metadata?.generation, configError, now),
        "mcpvirtualserver_status",
      ) || wrote;
    }
    const referenced = new Set(configError ? [] : desired.referencedRoutes);
    for (const [key, route] of objects.HTTPRoute as ReadonlyMap<string, Obj>) {
      wrote = await this.#status(
        { group: GATEWAY_GROUP, version: "v1", plural: "httproutes" },
        route,
        (current) => httpRouteStatus(current, referenced.has(key), route.metadata?.generation, now),
        "httproute_status",
      ) || wrote;
    }
    if (configError) throw new Error(configError);
    return wrote;
  }

  async #status(
    target: { group: string; version: string; plural: string },
    observed: Obj,
    compute: (current: Record<string, unknown> | undefined) => Record<string, unknown> | undefined,
    metric: string,
  ): Promise<boolean> {
    try {
      const wrote = await writeStatus(this.o.clients, target, observed, compute, this.#guard);
      if (wrote) this.o.metrics.writes.inc({ target: metric });
      return wrote;
    } catch (error) {
      if (error instanceof NotLeaderError) throw error;
      // A deleted object or a transient error: count it, carry on with the others; the next pass retries.
      this.o.metrics.reconcileErrors.inc({ stage: metric });
      this.o.logger.warn("status write failed", {
        object: nsName(observed.metadata?.namespace ?? "", observed.metadata?.name ?? ""),
        error: apiMessage(error),
      });
      this.#dirty = true;
      return false;
    }
  }
}
