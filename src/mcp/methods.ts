/**
 * Which MCP method goes where, in one table: who answers it (the gateway itself, from its catalog, or the
 * one backend that owns what it names), how the Envoy path carries it, in which protocol era it exists, and
 * what it is called in metrics. Broker, router and metrics all ask this table, so a method's handling cannot
 * drift between them, and "removed in 2026-07-28" is a fact of the table, not a condition in a handler.
 */

import { GatewayError } from "./errors.ts";
import type { Era } from "./protocol.ts";

/** The aggregated lists a client can ask for, by catalog key. */
export type ListKind = "tools" | "prompts" | "resources" | "templates";

export type MethodRoute =
  /** Opens a 2025-era session; answered by the gateway. */
  | { answer: "lifecycle" }
  /** Answered by the gateway itself (ping, logging level). */
  | { answer: "gateway" }
  /** What the gateway serves, for 2026 clients (`server/discover`). */
  | { answer: "discover" }
  /** A long-lived stream of the gateway's change notifications (2026 `subscriptions/listen`). */
  | { answer: "listen" }
  /** Answered from the aggregated catalog, never by asking backends. */
  | { answer: "list"; list: ListKind; field: string }
  /**
   * Answered by the one backend owning what the request names. `envoy` says whether the router sends it to
   * the backend through Envoy, or leaves it to the broker (which must rewrite the answer's body).
   */
  | { answer: "backend"; envoy: "backend" | "broker" }
  /** Answered by the backend that created the task the request names (tasks extension, SEP-2663). */
  | { answer: "task" };

interface MethodEntry {
  route: MethodRoute;
  /** The eras in which the method exists; elsewhere it is unknown (2026: HTTP 404, -32601). */
  eras: readonly Era[];
}

const BOTH: readonly Era[] = ["2025", "2026"];
const ONLY_2025: readonly Era[] = ["2025"];
const ONLY_2026: readonly Era[] = ["2026"];

const METHODS: Record<string, MethodEntry> = {
  // Removed by 2026-07-28: no handshake, no ping, no session-wide log level, no per-resource subscriptions
  // (subscriptions/listen carries them).
  "initialize": { route: { answer: "lifecycle" }, eras: ONLY_2025 },
  "ping": { route: { answer: "gateway" }, eras: ONLY_2025 },
  "logging/setLevel": { route: { answer: "gateway" }, eras: ONLY_2025 },
  "server/discover": { route: { answer: "discover" }, eras: ONLY_2026 },
  "subscriptions/listen": { route: { answer: "listen" }, eras: ONLY_2026 },
  "tools/list": { route: { answer: "list", list: "tools", field: "tools" }, eras: BOTH },
  "prompts/list": { route: { answer: "list", list: "prompts", field: "prompts" }, eras: BOTH },
  "resources/list": { route: { answer: "list", list: "resources", field: "resources" }, eras: BOTH },
  "resources/templates/list": {
    route: { answer: "list", list: "templates", field: "resourceTemplates" },
    eras: BOTH,
  },
  "tools/call": { route: { answer: "backend", envoy: "backend" }, eras: BOTH },
  "prompts/get": { route: { answer: "backend", envoy: "backend" }, eras: BOTH },
  "completion/complete": { route: { answer: "backend", envoy: "backend" }, eras: BOTH },
  // Results carry URIs to map back to served ones, and subscriptions need the backend's GET stream: the
  // broker's, whichever path the request came by.
  "resources/read": { route: { answer: "backend", envoy: "broker" }, eras: BOTH },
  "resources/subscribe": { route: { answer: "backend", envoy: "broker" }, eras: ONLY_2025 },
  "resources/unsubscribe": { route: { answer: "backend", envoy: "broker" }, eras: ONLY_2025 },
  // The tasks extension (SEP-2663) on 2026-07-28: `tasks/result` and `tasks/list` of the 2025-11-25
  // experimental tasks are gone, so they are unknown here.
  "tasks/get": { route: { answer: "task" }, eras: ONLY_2026 },
  "tasks/update": { route: { answer: "task" }, eras: ONLY_2026 },
  "tasks/cancel": { route: { answer: "task" }, eras: ONLY_2026 },
};

/** Notifications a client may send; anything else is still accepted (202) but counted as "other". */
const CLIENT_NOTIFICATIONS = new Set([
  "notifications/initialized",
  "notifications/cancelled",
  "notifications/progress",
  "notifications/roots/list_changed",
]);

/** How the gateway handles `method` in `era`; undefined for a method that era does not have. */
export function methodRoute(method: string, era: Era = "2025"): MethodRoute | undefined {
  if (!Object.hasOwn(METHODS, method)) return undefined;
  const entry = METHODS[method];
  return entry.eras.includes(era) ? entry.route : undefined;
}

/**
 * The answer to a method `era` does not have: a JSON-RPC error in a 2025 session (HTTP 200); in 2026, part
 * of the inbound validation ladder (HTTP 404), as for the methods the revision removed.
 */
export function unknownMethod(method: string, era: Era, rawId: string): GatewayError {
  return new GatewayError(
    era === "2026" ? "method-not-in-era" : "method-not-found",
    `Method not found: ${method}`,
    rawId,
  );
}

/** True for methods one backend answers (the routing decision applies). */
export function isBackendMethod(method: string, era: Era = "2025"): boolean {
  return methodRoute(method, era)?.answer === "backend";
}

/** True for methods the router sends to a backend through Envoy (the rest go to the broker). */
export function isEnvoyRouted(method: string, era: Era = "2025"): boolean {
  const route = methodRoute(method, era);
  return route?.answer === "backend" && route.envoy === "backend";
}

/** The two messages of a backend session handshake: all the router's hairpin may carry. */
export function isHandshake(method: string): boolean {
  return method === "initialize" || method === "notifications/initialized";
}

/**
 * A method name fit for a metric label: clients choose method names, so anything outside the known set is
 * "other" and label cardinality stays bounded.
 */
export function metricMethod(method: string): string {
  if (method === "(response)" || Object.hasOwn(METHODS, method) || CLIENT_NOTIFICATIONS.has(method)) {
    return method;
  }
  return "other";
}
