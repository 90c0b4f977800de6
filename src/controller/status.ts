/**
 * What the status of each object should be, as pure functions of the plan, the broker's report and the
 * object's current status. `lastTransitionTime` is kept unless the condition's status flips, so recomputing
 * an unchanged situation yields an identical status and no write.
 */
import { z } from "zod";
import type { ServerPlan } from "./desired_config.ts";

type Obj = Record<string, unknown>;

/** One entry of the broker's `GET /status` (`{servers:[{name, ready, message, totalTools}]}`). */
export const BrokerStatusSchema = z.object({
  servers: z.array(
    z.object({
      name: z.string(),
      ready: z.boolean(),
      message: z.string().optional(),
      totalTools: z.number().int().optional(),
    }).loose(),
  ).default([]),
}).loose();
export type BrokerServerStatus = z.infer<typeof BrokerStatusSchema>["servers"][number];

/** The broker's view, when a broker status URL is configured. */
export type BrokerReport =
  | { ok: true; servers: ReadonlyMap<string, BrokerServerStatus> }
  | { ok: false; error: string };

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

/** JSON with object keys sorted: the API server may reorder keys, and that must not look like a change. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Obj).filter(([, v]) => v !== undefined).sort(([a], [b]) =>
      a < b ? -1 : 1
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Sets (or replaces) a condition, keeping its lastTransitionTime when the status did not change. */
export function setCondition(
  conditions: unknown,
  next: Omit<Condition, "lastTransitionTime">,
  now: string,
): Obj[] {
  const list = Array.isArray(conditions) ? (conditions as Obj[]) : [];
  const old = list.find((c) => c.type === next.type);
  const lastTransitionTime = old && old.status === next.status && typeof old.lastTransitionTime === "string"
    ? old.lastTransitionTime
    : now;
  return [...list.filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}

/**
 * The status an MCPServer should have. `configError` is set when the config could not be written, in which
 * case nothing is Ready whatever resolved.
 */
export function mcpServerStatus(
  plan: ServerPlan,
  current: Obj | undefined,
  broker: BrokerReport | undefined,
  configError: string | undefined,
  now: string,
): Obj {
  let totalTools = 0;
  interface TargetStatus {
    route: string;
    serverName: string;
    toolPrefix: string;
    ready: boolean;
    reason?: string;
    message?: string;
    discoveredTools?: number;
  }
  const targets = plan.targets.map((t): TargetStatus => {
    const entry = { route: t.route, serverName: t.serverName, toolPrefix: t.toolPrefix };
    if (!t.ok) return { ...entry, ready: false, reason: t.reason, message: t.message };
    if (configError) return { ...entry, ready: false, reason: "ConfigWriteFailed", message: configError };
    if (!broker) return { ...entry, ready: true, reason: "Ready", message: "written to the gateway config" };
    if (!broker.ok) return { ...entry, ready: false, reason: "BrokerUnavailable", message: broker.error };
    const seen = broker.servers.get(t.serverName);
    if (!seen) {
      return {
        ...entry,
        ready: false,
        reason: "BrokerPending",
        message: "waiting for the broker to load the server",
      };
    }
    totalTools += seen.totalTools ?? 0;
    return {
      ...entry,
      ready: seen.ready,
      reason: seen.ready ? "Ready" : "UpstreamNotReady",
      message: seen.message || (seen.ready ? "server is ready" : "server is not ready"),
      discoveredTools: seen.totalTools ?? 0,
    };
  });
  const failing = targets.filter((t) => !t.ready);
  const ready = failing.length === 0 && targets.length > 0;
  const message = ready
    ? broker?.ok
      ? `${totalTools} tools discovered from ${targets.length} server(s)`
      : `${targets.length} server(s) written to the gateway config`
    : failing.map((t) => t.route ? `${t.route}: ${t.message}` : String(t.message)).join("; ");
  const status: Obj = { ...(current ?? {}) };
  status.observedGeneration = plan.generation;
  status.targets = targets;
  if (broker?.ok) status.discoveredTools = totalTools;
  status.conditions = setCondition(current?.conditions, {
    type: "Ready",
    status: ready ? "True" : "False",
    reason: ready ? "Ready" : String(failing[0]?.reason ?? "NotReady"),
    message,
    observedGeneration: plan.generation,
  }, now);
  return status;
}

export const ROUTE_CONDITION = {
  type: "Programmed",
  reason: "InUseByMCPServer",
  message: "HTTPRoute is referenced by at least one MCPServer",
} as const;

/**
 * An HTTPRoute's status with the reference controller's marker on every `status.parents[]` entry while an
 * MCPServer serves it, and without it otherwise. Routes without parent statuses are left alone (as in the
 * reference: the parent entries belong to the Gateway implementation).
 */
export function httpRouteStatus(
  current: Obj | undefined,
  referenced: boolean,
  generation: number | undefined,
  now: string,
): Obj | undefined {
  const parents = Array.isArray(current?.parents) ? (current!.parents as Obj[]) : [];
  if (parents.length === 0) return current;
  const next = parents.map((parent) => {
    const conditions = Array.isArray(parent.conditions) ? (parent.conditions as Obj[]) : [];
    if (referenced) {
      return {
        ...parent,
        conditions: setCondition(conditions, {
          ...ROUTE_CONDITION,
          status: "True",
          observedGeneration: generation,
        }, now),
      };
    }
    const kept = conditions.filter((c) =>
      !(c.type === ROUTE_CONDITION.type && c.reason === ROUTE_CONDITION.reason)
    );
    return kept.length === conditions.length ? parent : { ...parent, conditions: kept };
  });
  return { ...current, parents: next };
}

/** MCPVirtualServer status: accepted once it is in the written config. */
export function virtualServerStatus(
  current: Obj | undefined,
  toolCount: number,
  generation: number | undefined,
  configError: string | undefined,
  now: string,
): Obj {
  return {
    ...(current ?? {}),
    observedGeneration: generation,
    conditions: setCondition(current?.conditions, {
      type: "Ready",
      status: configError ? "False" : "True",
      reason: configError ? "ConfigWriteFailed" : "Ready",
      message: configError ?? `${toolCount} tool(s) listed in the gateway config`,
      observedGeneration: generation,
    }, now),
  };
}
