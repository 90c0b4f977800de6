/**
 * Projection: everything clients list — tools, prompts, resources and resource templates — aggregated
 * from every ready, enabled server under its prefix (see {@link aggregate}).
 */
import { aggregate, type AggregatedView, type AggregateSpec, prefixName, prefixUri } from "./aggregate.ts";
import { derivedProjection } from "./derived.ts";
import { upstreamsProjection, type UpstreamsState } from "./upstreams.ts";
import type { UpstreamTool } from "../events/types.ts";
import { REQUEST_CAPABILITIES } from "../mcp/client_capabilities.ts";

/**
 * The aggregated tool list; its `requirements` say which tools need which client capabilities to be listed
 * (servers hide such tools from clients without them).
 */
export type ToolView = AggregatedView<UpstreamTool>;

const renderings = new WeakMap<ToolView, Map<string, { json: string; items: ToolView["items"] }>>();

/**
 * The tools a client with `capabilities` may be listed — a tool that cannot be called must not be listed —
 * rendered once per view and capability combination.
 */
export function toolsFor(
  view: ToolView,
  capabilities: Record<string, unknown>,
): { json: string; items: ToolView["items"] } {
  if (!view.requirements.size) return view;
  const key = REQUEST_CAPABILITIES.filter((c) => capabilities[c] !== undefined).join(",");
  let cache = renderings.get(view);
  if (!cache) renderings.set(view, cache = new Map());
  let rendering = cache.get(key);
  if (!rendering) {
    const items = view.items.filter((t) =>
      (view.requirements.get(t.name) ?? []).every((c) => capabilities[c] !== undefined)
    );
    rendering = { items, json: JSON.stringify(items.map((t) => t.item)) };
    cache.set(key, rendering);
  }
  return rendering;
}

/** Every aggregated list clients can ask for. */
export interface Catalog {
  tools: ToolView;
  prompts: AggregatedView;
  resources: AggregatedView;
  templates: AggregatedView;
}

const TOOLS: AggregateSpec<UpstreamTool> = {
  items: (s) => s.tools,
  key: "name",
  rename: prefixName,
  // Requirements moving alone still change what some clients see.
  needs: (s) => s.toolRequirements,
};

/** Builds the tool view; keeps `previous` (same object) when nothing changed. */
export function buildToolView(upstreams: UpstreamsState, previous: ToolView | undefined): ToolView {
  return aggregate(upstreams, TOOLS, previous);
}

const PROMPTS: AggregateSpec<Record<string, unknown>> = {
  items: (s) => s.prompts,
  key: "name",
  rename: prefixName,
};
const RESOURCES: AggregateSpec<Record<string, unknown>> = {
  items: (s) => s.resources,
  key: "uri",
  rename: prefixUri,
};
const TEMPLATES: AggregateSpec<Record<string, unknown>> = {
  items: (s) => s.templates,
  key: "uriTemplate",
  rename: prefixUri,
};

/** Builds every list; keeps `previous` (same object) when nothing changed. */
export function buildCatalog(upstreams: UpstreamsState, previous: Catalog | undefined): Catalog {
  const tools = buildToolView(upstreams, previous?.tools);
  const prompts = aggregate(upstreams, PROMPTS, previous?.prompts);
  const resources = aggregate(upstreams, RESOURCES, previous?.resources);
  const templates = aggregate(upstreams, TEMPLATES, previous?.templates);
  if (
    previous && previous.tools === tools && previous.prompts === prompts &&
    previous.resources === resources &&
    previous.templates === templates
  ) return previous;
  return { tools, prompts, resources, templates };
}

export const toolViewProjection = derivedProjection("toolView", upstreamsProjection, buildToolView);
