/**
 * HTTPRoute → backend resolution, as the reference controller does it (`discoverServersFromHTTPRoutes`): the
 * route's first rule's first backendRef names a Service; the broker connects to that Service directly and the
 * router sets `:authority` to the route's hostname. Every way this can fail has its own status reason.
 */
import { GATEWAY_GROUP, nsName } from "./kinds.ts";
import type { HTTPRouteObject, ServiceObject, TargetRef } from "./resource_schemas.ts";

/** Why a target could not be resolved; these appear verbatim as `Ready` condition reasons. */
export type ResolveFailureReason =
  | "InvalidTargetRef"
  | "CrossNamespaceRef"
  | "HTTPRouteNotFound"
  | "NoBackendRef"
  | "UnsupportedBackend"
  | "ServiceNotFound"
  | "ServicePortNotFound"
  | "BackendPortMissing"
  | "NoHostname";

export type ResolvedTarget =
  | { ok: true; routeNamespace: string; routeName: string; url: string; hostname: string }
  | { ok: false; routeNamespace: string; routeName: string; reason: ResolveFailureReason; message: string };

/** Read access to the observed HTTPRoutes and Services, keyed `namespace/name`. */
export interface RouteLookup {
  route(key: string): HTTPRouteObject | undefined;
  service(key: string): ServiceObject | undefined;
}

/**
 * Resolves one MCPServer target. `ownerNamespace` is the MCPServer's namespace; `path` its `spec.path`.
 *
 * @example
 * ```ts
 * const r = resolveTarget({ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "weather" }, "ns", "/mcp", lookup);
 * if (r.ok) r.url; // "http://weather-svc.ns.svc.cluster.local:8080/mcp"
 * ```
 */
export function resolveTarget(
  ref: TargetRef,
  ownerNamespace: string,
  path: string,
  lookup: RouteLookup,
): ResolvedTarget {
  const routeNamespace = ref.namespace || ownerNamespace;
  const routeName = ref.name;
  const fail = (reason: ResolveFailureReason, message: string): ResolvedTarget => ({
    ok: false,
    routeNamespace,
    routeName,
    reason,
    message,
  });
  if (ref.group !== GATEWAY_GROUP || ref.kind !== "HTTPRoute") {
    return fail(
      "InvalidTargetRef",
      `targetRef must be ${GATEWAY_GROUP}/HTTPRoute, got ${ref.group}/${ref.kind}`,
    );
  }
  if (routeNamespace !== ownerNamespace) {
    return fail(
      "CrossNamespaceRef",
      `HTTPRoute ${
        nsName(routeNamespace, routeName)
      } is in another namespace; cross-namespace references are not allowed without ReferenceGrant support`,
    );
  }
  const route = lookup.route(nsName(routeNamespace, routeName));
  if (!route) return fail("HTTPRouteNotFound", `HTTPRoute ${nsName(routeNamespace, routeName)} not found`);

  const backend = route.spec.rules[0]?.backendRefs[0];
  if (!backend) return fail("NoBackendRef", `HTTPRoute ${routeName} has no rules with a backendRef`);
  if ((backend.group ?? "") !== "" || backend.kind !== "Service") {
    return fail(
      "UnsupportedBackend",
      `HTTPRoute ${routeName} backendRef kind ${
        backend.group ? `${backend.group}/` : ""
      }${backend.kind} is not supported; use a Service`,
    );
  }
  if (!backend.name) return fail("NoBackendRef", `HTTPRoute ${routeName} backendRef has no Service name`);

  // Wildcards cannot be an :authority, so the first concrete hostname is the one tool calls are routed by.
  const routeHostname = route.spec.hostnames.find((h) => !h.startsWith("*"));
  if (!routeHostname) {
    return fail(
      "NoHostname",
      `HTTPRoute ${routeName} must have at least one non-wildcard hostname for MCP backend routing`,
    );
  }

  const serviceNamespace = backend.namespace || routeNamespace;
  const service = lookup.service(nsName(serviceNamespace, backend.name));
  if (!service) return fail("ServiceNotFound", `Service ${nsName(serviceNamespace, backend.name)} not found`);

  const external = service.spec.type === "ExternalName";
  let port = backend.port;
  const declared = port === undefined ? undefined : service.spec.ports.find((p) => p.port === port);
  if (port === undefined) {
    if (service.spec.ports.length === 1) port = service.spec.ports[0].port;
    else if (!external) {
      return fail(
        "BackendPortMissing",
        `HTTPRoute ${routeName} backendRef has no port and Service ${backend.name} declares ${service.spec.ports.length} ports`,
      );
    }
  } else if (!declared && !external) {
    return fail(
      "ServicePortNotFound",
      `Service ${nsName(serviceNamespace, backend.name)} has no port ${port}`,
    );
  }

  const httpsListener = route.spec.parentRefs.some((p) => p.sectionName?.includes("https"));
  const portSpec = service.spec.ports.find((p) => p.port === port);
  const https = httpsListener || (external && portSpec?.appProtocol === "https");
  let host: string;
  if (external) {
    if (!service.spec.externalName) {
      return fail("ServiceNotFound", `ExternalName Service ${backend.name} has no spec.externalName`);
    }
    host = service.spec.externalName;
  } else host = `${backend.name}.${serviceNamespace}.svc.cluster.local`;
  const endpoint = port === undefined ? host : `${host}:${port}`;
  return {
    ok: true,
    routeNamespace,
    routeName,
    url: `${https ? "https" : "http"}://${endpoint}${path}`,
    // An ExternalName backend is reached by its own name (the reference writes the external host, no port).
    hostname: external ? host : routeHostname,
  };
}
