/**
 * Which MCP method goes where, in one table: who answers it (the gateway itself, from its catalog, or the
 * one backend that owns what it names), how the Envoy path carries it, and what it is called in metrics.
 * Broker, router and metrics all ask this table, so a method's handling cannot drift between them.
 */

/** The aggregated lists a client can ask for, by catalog key. */
export type ListKind = "tools" | "prompts" | "resources" | "templates";

export type MethodRoute =
  /** Opens a 2025-era session; answered by the gateway. */
  | { answer: "lifecycle" }
  /** Answered by the gateway itself (ping, logging level, …). */
  | { answer: "gateway" }
  /** Answered from the aggregated catalog, never by asking backends. */
  | { answer: "list"; list: ListKind; field: string }
  /**
   * Answered by the one backend owning what the request names. `envoy` says whether the router sends it to
   * the backend through Envoy, or leaves it to the broker (which must rewrite the answer's body).
   */
  | { answer: "backend"; envoy: "backend" | "broker" };

const METHODS: Record<string, MethodRoute> = {
  "initialize": { answer: "lifecycle" },
  "ping": { answer: "gateway" },
  "logging/setLevel": { answer: "gateway" },
  "tools/list": { answer: "list", list: "tools", field: "tools" },
  "prompts/list": { answer: "list", list: "prompts", field: "prompts" },
  "resources/list": { answer: "list", list: "resources", field: "resources" },
  "resources/templates/list": { answer: "list", list: "templates", field: "resourceTemplates" },
  "tools/call": { answer: "backend", envoy: "backend" },
  "prompts/get": { answer: "backend", envoy: "backend" },
  "completion/complete": { answer: "backend", envoy: "backend" },
  // Results carry URIs to map back to served ones, and subscriptions need the backend's GET stream: the
  // broker's, whichever path the request came by.
  "resources/read": { answer: "backend", envoy: "broker" },
  "resources/subscribe": { answer: "backend", envoy: "broker" },
  "resources/unsubscribe": { answer: "backend", envoy: "broker" },
};

/** Notifications a client may send; anything else is still accepted (202) but counted as "other". */
const CLIENT_NOTIFICATIONS = new Set([
  "notifications/initialized",
  "notifications/cancelled",
  "notifications/progress",
  "notifications/roots/list_changed",
]);

/** How the gateway handles `method`; undefined for a method it does not know (-32601). */
export function methodRoute(method: string): MethodRoute | undefined {
  return Object.hasOwn(METHODS, method) ? METHODS[method] : undefined;
}

/** True for methods one backend answers (the routing decision applies). */
export function isBackendMethod(method: string): boolean {
  return methodRoute(method)?.answer === "backend";
}

/** True for methods the router sends to a backend through Envoy (the rest go to the broker). */
export function isEnvoyRouted(method: string): boolean {
  const route = methodRoute(method);
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
