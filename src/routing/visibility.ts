/**
 * What one caller may see and use of the catalog: one function of (projection, identity) for lists and one
 * for routing decisions, called by both data paths, so a client that skips `tools/list` gains nothing.
 * A caller is narrowed by its capabilities (a policy's trusted header, its token's claims), by the virtual
 * server it selected (`X-Mcp-Virtualserver`), and, for tools, by the client capabilities it declared
 * (servers hide tools needing sampling, elicitation or roots from clients without them).
 */
import type { VirtualServer } from "../config/schema.ts";
import { type ItemKind, lookupVirtualServer, mayUse, visibleItems } from "../identity/authorize.ts";
import type { Identity } from "../identity/identity.ts";
import type { ClientCapabilities } from "../mcp/client_capabilities.ts";
import { GatewayError } from "../mcp/errors.ts";
import type { ListKind } from "../mcp/methods.ts";
import type { AggregatedView } from "./aggregate.ts";
import { decideRoute, type RoutingDecision } from "./decide.ts";
import type { RoutingState } from "./routing_table.ts";
import type { UpstreamsState } from "./upstreams.ts";
import { type Catalog, toolsFor } from "./tool_view.ts";

const ITEM_KIND: Record<ListKind, ItemKind> = {
  tools: "tool",
  prompts: "prompt",
  resources: "resource",
  templates: "resource",
};

/** The virtual server an identity selected, if configured (an unknown name narrows nothing). */
export function selectedVirtualServer(
  virtualServers: readonly VirtualServer[],
  identity: Identity,
): VirtualServer | undefined {
  const lookup = lookupVirtualServer(virtualServers, identity.virtualServer);
  return lookup.kind === "found" ? lookup.virtual : undefined;
}

/** One list as one caller sees it, rendered; `private` when the answer depends on who asked. */
export interface VisibleListing {
  json: string;
  cacheScope: "public" | "private";
}

export function visibleList(
  catalog: Catalog,
  kind: ListKind,
  identity: Identity,
  virtual: VirtualServer | undefined,
  capabilities: ClientCapabilities,
): VisibleListing {
  let view: Pick<AggregatedView, "items" | "json"> = catalog[kind];
  if (kind === "tools") view = toolsFor(catalog.tools, capabilities);
  const visible = visibleItems(identity, ITEM_KIND[kind], view.items, virtual);
  // Tools some clients are not listed (they need capabilities not every client declares) make the answer
  // depend on the request's declared capabilities: not for a shared cache either.
  const cacheScope = kind === "tools" && catalog.tools.requirements.size ? "private" : visible.cacheScope;
  if (visible.items === view.items) return { json: view.json, cacheScope };
  return { json: JSON.stringify(visible.items.map((t) => t.item)), cacheScope };
}

/**
 * Refuses a decision the caller may not use, exactly as if the name were unknown (a caller learns nothing
 * of what it cannot see); the error is marked denied for the audit log.
 */
export function authorizeDecision(
  decision: RoutingDecision,
  identity: Identity,
  virtual: VirtualServer | undefined,
  rawId: string,
): void {
  const { kind, served, upstream } = decision.target;
  if (mayUse(identity, kind, { name: served, server: decision.server, upstreamName: upstream }, virtual)) {
    return;
  }
  const denied = { denied: true };
  throw kind === "tool"
    ? new GatewayError("unknown-tool", `Unknown tool: ${served}`, rawId, denied)
    : kind === "prompt"
    ? new GatewayError("invalid-params", `Invalid params: unknown prompt ${served}`, rawId, denied)
    : new GatewayError("resource-not-found", `Resource not found: ${served}`, rawId, denied);
}

/** A request's routing decision for one caller, or the error that caller gets (with the decision, if made). */
export type CallerDecision =
  | { ok: true; decision: RoutingDecision }
  | { ok: false; error: GatewayError; decision?: RoutingDecision };

/**
 * Routes a request and checks that the caller may use its target: the step both data paths take before
 * anything goes to a backend. Only the client's errors are returned; anything else is a bug and thrown.
 */
export function decideForCaller(
  upstreams: UpstreamsState,
  routing: RoutingState,
  identity: Identity,
  request: { method: string; params: Record<string, unknown> | undefined; text: string; rawId: string },
): CallerDecision {
  const { method, params, text, rawId } = request;
  let decision: RoutingDecision | undefined;
  try {
    decision = decideRoute(upstreams, routing, method, params, text, rawId);
    authorizeDecision(
      decision,
      identity,
      selectedVirtualServer(upstreams.config.virtualServers, identity),
      rawId,
    );
    return { ok: true, decision };
  } catch (e) {
    if (!(e instanceof GatewayError)) throw e;
    return { ok: false, error: e, decision };
  }
}
