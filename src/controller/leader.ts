/**
 * Leader election on a `coordination.k8s.io/v1` Lease, the way client-go does it: the holder renews
 * `renewTime`; a candidate takes over only after the record has stayed unchanged for the lease duration *as
 * measured on its own clock*, so clock skew between replicas does not matter. The leader stops acting as one
 * when it has not renewed within the renew deadline (2/3 of the duration), before anyone else may take over —
 * so two replicas never both write.
 */
import type { V1Lease } from "@kubernetes/client-node";
import type { Logger } from "../observe/log.ts";
import { apiMessage, apiStatus, type KubeClients, sleep } from "./kube_client.ts";
import type { ControllerMetrics } from "./metrics.ts";

export interface LeaderElectionOptions {
  clients: KubeClients;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewIntervalMs: number;
  logger: Logger;
  metrics: ControllerMetrics;
  /** Called on every change of leadership. */
  onChange?: (leading: boolean) => void;
}

/** Lease times are MicroTime (RFC 3339 with 6 fractional digits); the client passes strings through. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  #leading = false;
  #lastRenew = 0;
  #observed?: { record: string; at: number };

  constructor(private readonly options: LeaderElectionOptions) {}

  get renewDeadlineMs(): number {
    return Math.floor(this.options.leaseDurationMs * 2 / 3);
  }

  /** True only while the lease is ours and was renewed within the renew deadline. */
  isLeader(): boolean {
    return this.#leading && Date.now() - this.#lastRenew < this.renewDeadlineMs;
  }

  /** Campaigns and renews until `signal` aborts, then releases the lease if held. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#tryAcquireOrRenew().catch((error) => {
        this.options.logger.warn("lease update failed", { error: apiMessage(error) });
      });
      if (this.#leading && !this.isLeader()) this.#setLeading(false);
      await sleep(this.options.renewIntervalMs, signal);
    }
    if (this.#leading) await this.#release();
  }

  #setLeading(leading: boolean) {
    if (this.#leading === leading) return;
    this.#leading = leading;
    this.options.metrics.leader.set(leading ? 1 : 0);
    this.options.logger.info(leading ? "became leader" : "lost leadership", {
      identity: this.options.identity,
    });
    this.options.onChange?.(leading);
  }

  async #tryAcquireOrRenew() {
    const { clients, namespace, name, identity, leaseDurationMs } = this.options;
    const now = Date.now();
    let lease: V1Lease;
    try {
      lease = await clients.coordination.readNamespacedLease({ namespace, name });
    } catch (error) {
      if (apiStatus(error) !== 404) throw error;
      await clients.coordination.createNamespacedLease({
        namespace,
        body: {
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: Math.max(1, Math.ceil(leaseDurationMs / 1000)),
            acquireTime: microTime(now) as unknown as Date,
            renewTime: microTime(now) as unknown as Date,
            leaseTransitions: 0,
          },
        },
      }).then(() => this.#renewed(now), (e) => {
        if (apiStatus(e) !== 409) throw e; // someone else created it first
      });
      return;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    if (holder && holder !== identity) {
      const record = `${holder}|${String(spec.renewTime)}`;
      if (this.#observed?.record !== record) this.#observed = { record, at: now };
      const duration = (spec.leaseDurationSeconds ?? Math.ceil(leaseDurationMs / 1000)) * 1000;
      if (now - this.#observed.at < duration) {
        this.#setLeading(false);
        return;
      }
    }
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: Math.max(1, Math.ceil(leaseDurationMs / 1000)),
        renewTime: microTime(now) as unknown as Date,
        acquireTime: (holder === identity ? spec.acquireTime : microTime(now)) as unknown as Date,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
      },
    };
    try {
      await clients.coordination.replaceNamespacedLease({ namespace, name, body });
      this.#renewed(now);
    } catch (error) {
      if (apiStatus(error) === 409) return; // another replica wrote first; re-read next round
      throw error;
    }
  }

  #renewed(at: number) {
    this.#lastRenew = at;
    this.options.metrics.writes.inc({ target: "lease" });
    this.#setLeading(true);
  }

  /** Hands the lease over at once on shutdown instead of making the next leader wait out the duration. */
  async #release() {
    const { clients, namespace, name, identity } = this.options;
    this.#setLeading(false);
    try {
      const lease = await clients.coordination.readNamespacedLease({ namespace, name });
      if (lease.spec?.holderIdentity !== identity) return;
      await clients.coordination.replaceNamespacedLease({
        namespace,
        name,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 } },
      });
    } catch (error) {
      this.options.logger.warn("could not release lease", { error: apiMessage(error) });
    }
  }
}
