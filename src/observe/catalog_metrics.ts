/**
 * Gauges over the catalog, config and sessions, read from projection state at scrape time: what the
 * dashboards and alerts in deploy/observability/ query besides the broker's own counters.
 */
import { Gauge, type Registry } from "prom-client";
import type { ProjectionView } from "../events/log.ts";
import type { RoutingState } from "../routing/routing_table.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";
import type { ExplainState } from "./explain.ts";

export function registerCatalogMetrics(
  registry: Registry,
  routing: ProjectionView<{ base: UpstreamsState; view: RoutingState }>,
  explain: ProjectionView<ExplainState>,
): void {
  new Gauge({
    name: "mcp_gateway_conflicts",
    help: "Names several servers offer (the first in config order keeps each), by list.",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      const catalog = routing.state.view.catalog;
      this.set({ kind: "tool" }, catalog.tools.conflicts.length);
      this.set({ kind: "prompt" }, catalog.prompts.conflicts.length);
      this.set({ kind: "resource" }, catalog.resources.conflicts.length);
      this.set({ kind: "template" }, catalog.templates.conflicts.length);
    },
  });
  new Gauge({
    name: "mcp_gateway_config_last_load_successful",
    help: "1 when the last configuration read was loaded, 0 when it was rejected (the last good one serves).",
    registers: [registry],
    collect() {
      const { loaded, rejected } = explain.state.config;
      this.set(rejected && (!loaded || rejected.seq > loaded.seq) ? 0 : 1);
    },
  });
  new Gauge({
    name: "mcp_gateway_config_last_load_timestamp_seconds",
    help: "When the configuration in effect was loaded (Unix time).",
    registers: [registry],
    collect() {
      this.set((explain.state.config.loaded?.at ?? 0) / 1000);
    },
  });
  new Gauge({
    name: "mcp_gateway_sessions_open",
    help: "Open gateway sessions this process saw open, by protocol version.",
    labelNames: ["protocol_version"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [version, n] of Object.entries(explain.state.sessionsByVersion)) {
        this.set({ protocol_version: version }, n);
      }
    },
  });
}
