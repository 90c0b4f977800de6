/**
 * Prometheus metrics (prom-client). One registry per process; events are counted by type straight off
 * the log, so "what has the gateway been doing?" needs no extra instrumentation at each edge.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "mcp_gateway_requests_total",
    help: "MCP requests answered by the broker, by JSON-RPC method and HTTP status.",
    labelNames: ["method", "status"],
    registers: [this.registry],
  });
  readonly eraRequests = new Counter({
    name: "mcp_gateway_era_requests_total",
    help: "POSTs to /mcp by the protocol era they were classified in (2025: sessions; 2026: stateless).",
    labelNames: ["era"],
    registers: [this.registry],
  });
  readonly toolCalls = new Counter({
    name: "mcp_gateway_tool_calls_total",
    help: "tools/call forwarded by the broker, by server, tool and outcome (ok, error, unavailable).",
    labelNames: ["server", "tool", "outcome"],
    registers: [this.registry],
  });
  readonly toolCallSeconds = new Histogram({
    name: "mcp_gateway_tool_call_duration_seconds",
    help: "Time to the backend's response headers for forwarded tools/call.",
    labelNames: ["server"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: "mcp_gateway_events_total",
    help: "Events appended to the gateway's event log, by type.",
    labelNames: ["type"],
    registers: [this.registry],
  });

  constructor(log: EventLog, upstreams: ProjectionView<UpstreamsState>) {
    log.subscribe((event) => this.events.inc({ type: event.type }));
    const view = upstreams;
    new Gauge({
      name: "mcp_gateway_upstream_up",
      help: "1 when the upstream MCP server is connected and its tools are served, else 0.",
      labelNames: ["server"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of view.state.servers.values()) {
          this.set({ server: s.config.name }, s.status === "ready" ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "mcp_gateway_upstream_info",
      help:
        "1 per connected upstream, labelled with the era and protocol version the gateway speaks with it.",
      labelNames: ["server", "era", "protocol_version"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of view.state.servers.values()) {
          if (!s.era || !s.protocolVersion) continue;
          this.set({ server: s.config.name, era: s.era, protocol_version: s.protocolVersion }, 1);
        }
      },
    });
    new Gauge({
      name: "mcp_gateway_upstream_tools",
      help: "Tools each upstream currently lists.",
      labelNames: ["server"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of view.state.servers.values()) this.set({ server: s.config.name }, s.tools.length);
      },
    });
  }

  async render(): Promise<Response> {
    return new Response(await this.registry.metrics(), {
      headers: { "content-type": this.registry.contentType },
    });
  }
}
