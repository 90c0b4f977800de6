/**
 * Prometheus metrics (prom-client). One registry per process; events are counted by type straight off
 * the log, so "what has the gateway been doing?" needs no extra instrumentation at each edge.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";

/** The conventions' explicit bucket boundaries for both operation histograms (seconds). */
const OPERATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
/** The conventions' attributes as labels (names Prometheus-translated); bounded: see `observe/tracing/`. */
const OPERATION_LABELS = [
  "mcp_method_name",
  "gen_ai_tool_name",
  "gen_ai_prompt_name",
  "mcp_protocol_version",
  "error_type",
  "network_transport",
];

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
  /**
   * The OpenTelemetry MCP conventions' `mcp.server.operation.duration` (Prometheus names: dots become
   * underscores, the unit a suffix), recorded while tracing is on (`observe/tracing/`).
   */
  readonly mcpServerOperation = new Histogram({
    name: "mcp_server_operation_duration_seconds",
    help:
      "MCP request or notification duration as observed on the receiver (the gateway serving a client), from " +
      "the time it was received until the result or ack was sent. Recorded while tracing is on.",
    labelNames: OPERATION_LABELS,
    buckets: OPERATION_BUCKETS,
    registers: [this.registry],
  });
  /** The conventions' `mcp.client.operation.duration`: the gateway as the MCP client of a backend. */
  readonly mcpClientOperation = new Histogram({
    name: "mcp_client_operation_duration_seconds",
    help:
      "MCP request duration as observed on the sender (the gateway calling a backend), from the time it was " +
      "sent until the response was received. Recorded while tracing is on.",
    labelNames: [...OPERATION_LABELS, "server_address", "server_port"],
    buckets: OPERATION_BUCKETS,
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
