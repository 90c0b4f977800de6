/**
 * Controller metrics (Prometheus, served on `--metrics` address). A registry per controller instance, so two
 * controllers in one process (tests, leader-election) do not collide on the global registry.
 */
import { Counter, Gauge, Registry } from "prom-client";

export interface ControllerMetrics {
  registry: Registry;
  reconciles: Counter<"result">;
  reconcileErrors: Counter<"stage">;
  queueDepth: Gauge;
  watchRestarts: Counter<"kind" | "reason">;
  writes: Counter<"target">;
  leader: Gauge;
}

export function createControllerMetrics(): ControllerMetrics {
  const registry = new Registry();
  return {
    registry,
    reconciles: new Counter({
      name: "mcp_controller_reconciles_total",
      help: "Reconcile passes, by result (applied, unchanged, skipped_not_leader, error).",
      labelNames: ["result"],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: "mcp_controller_reconcile_errors_total",
      help: "Errors while reconciling, by stage (config, credentials, status, route_status, broker).",
      labelNames: ["stage"],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "mcp_controller_queue_depth",
      help: "Observed changes not yet reconciled.",
      registers: [registry],
    }),
    watchRestarts: new Counter({
      name: "mcp_controller_watch_restarts_total",
      help: "Watch streams restarted, by kind and reason (closed, expired, error).",
      labelNames: ["kind", "reason"],
      registers: [registry],
    }),
    writes: new Counter({
      name: "mcp_controller_writes_total",
      help:
        "Writes to the API server, by target (configmap, secret, mcpserver_status, httproute_status, lease).",
      labelNames: ["target"],
      registers: [registry],
    }),
    leader: new Gauge({
      name: "mcp_controller_is_leader",
      help: "1 while this replica holds the leader Lease.",
      registers: [registry],
    }),
  };
}
