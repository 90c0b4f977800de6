/**
 * Projection: everything clients list — tools, prompts, resources and resource templates — aggregated
 * from every ready, enabled server under its prefix (see {@link aggregate}).
 */
import { aggregate, type AggregatedView, prefixName, prefixUri } from "./aggregate.ts";
import { derivedProjection } from "./derived.ts";
import { upstreamsProjection, type UpstreamsState } from "./upstreams.ts";
import type { UpstreamTool } from "../events/types.ts";

/** The aggregated tool list. */
export type ToolView = AggregatedView<UpstreamTool>;

/** Every aggregated list clients can ask for. */
export interface Catalog {
  tools: ToolView;
  prompts: AggregatedView;
  resources: AggregatedView;
  templates: AggregatedView;
}

/** Builds the tool view; keeps `previous` (same object) when nothing changed. */
export function buildToolView(upstreams: UpstreamsState, previous: ToolView | undefined): ToolView {
  return aggregate<UpstreamTool>(
    upstreams,
    { items: (s) => s.tools, key: "name", rename: prefixName },
    previous,
  );
}

/** Builds every list; keeps `previous` (same object) when nothing changed. */
export function buildCatalog(upstreams: UpstreamsState, previous: Catalog | undefined): Catalog {
  const tools = buildToolView(upstreams, previous?.tools);
  const prompts = aggregate(
    upstreams,
    { items: (s) => s.prompts, key: "name", rename: prefixName },
    previous?.prompts,
  );
  const resources = aggregate(
    upstreams,
    { items: (s) => s.resources, key: "uri", rename: prefixUri },
    previous?.resources,
  );
  const templates = aggregate(
    upstreams,
    { items: (s) => s.templates, key: "uriTemplate", rename: prefixUri },
    previous?.templates,
  );
  if (
    previous && previous.tools === tools && previous.prompts === prompts &&
    previous.resources === resources &&
    previous.templates === templates
  ) return previous;
  return { tools, prompts, resources, templates };
}

export const toolViewProjection = derivedProjection("toolView", upstreamsProjection, buildToolView);
