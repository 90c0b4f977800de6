/**
 * The Kubernetes kinds the controller watches, and the names it writes. One table, so the informers, the
 * RBAC manifest and the projection agree on group, version and plural.
 */

/** CRD group of MCPServer / MCPVirtualServer (the reference gateway's group). */
export const MCP_GROUP = "mcp.kagenti.com";
export const MCP_VERSION = "v1alpha1";
export const GATEWAY_GROUP = "gateway.networking.k8s.io";

/** Only Secrets carrying this label are watched or used as credentials (as in the reference). */
export const CREDENTIAL_LABEL = "mcp.kagenti.com/credential";

/** What the controller writes in `$NAMESPACE`. */
export const CONFIG_MAP_NAME = "mcp-gateway-config";
export const CONFIG_KEY = "config.yaml";
export const CREDENTIALS_SECRET_NAME = "mcp-gateway-credentials";
/** Where the broker mounts {@link CREDENTIALS_SECRET_NAME}; the written config points here. */
export const CREDENTIALS_MOUNT = "/etc/mcp-gateway/credentials";
export const LEASE_NAME = "mcp-gateway-controller";

export type WatchedKindName = "MCPServer" | "MCPVirtualServer" | "HTTPRoute" | "Service" | "Secret";

export interface WatchedKind {
  kind: WatchedKindName;
  group: string;
  version: string;
  plural: string;
  labelSelector?: string;
}

export const WATCHED_KINDS: readonly WatchedKind[] = [
  { kind: "MCPServer", group: MCP_GROUP, version: MCP_VERSION, plural: "mcpservers" },
  { kind: "MCPVirtualServer", group: MCP_GROUP, version: MCP_VERSION, plural: "mcpvirtualservers" },
  { kind: "HTTPRoute", group: GATEWAY_GROUP, version: "v1", plural: "httproutes" },
  { kind: "Service", group: "", version: "v1", plural: "services" },
  { kind: "Secret", group: "", version: "v1", plural: "secrets", labelSelector: `${CREDENTIAL_LABEL}=true` },
];

export const WATCHED_KIND_NAMES: ReadonlySet<string> = new Set(WATCHED_KINDS.map((k) => k.kind));

/** `/api/v1/services` or `/apis/<group>/<version>/<plural>`: the all-namespaces collection path. */
export function collectionPath(kind: WatchedKind): string {
  return kind.group
    ? `/apis/${kind.group}/${kind.version}/${kind.plural}`
    : `/api/${kind.version}/${kind.plural}`;
}

/** `namespace/name`, the key every index in the controller uses. */
export function nsName(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
