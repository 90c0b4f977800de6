/** Compares what a gateway lists with what its (unprefixed) backend lists, item by item. */
import { z } from "zod";
import { assert, assertEquals } from "./assert.ts";

/** The part of an SDK client these checks use. */
interface Requester {
  request(request: { method: string; params: Record<string, unknown> }, schema: z.ZodType): Promise<unknown>;
}

/** A loose schema keeps every field exactly as sent (the SDK's typed results could drop some). */
export const ANY_RESULT = z.looseObject({});

const LISTS = [
  ["tools/list", "tools", "name"],
  ["prompts/list", "prompts", "name"],
  ["resources/list", "resources", "uri"],
  ["resources/templates/list", "resourceTemplates", "uriTemplate"],
] as const;

/**
 * Every list through the gateway equals the backend's, item for item; only the order may differ (the
 * gateway serves its aggregate sorted by name).
 */
export async function assertSameCatalog(direct: Requester, viaGateway: Requester): Promise<void> {
  for (const [method, field, key] of LISTS) {
    const [want, got] = await Promise.all([
      direct.request({ method, params: {} }, ANY_RESULT),
      viaGateway.request({ method, params: {} }, ANY_RESULT),
    ]) as Record<string, unknown>[];
    const byKey = (r: Record<string, unknown>) =>
      [...(r[field] as Record<string, string>[])].sort((a, b) => a[key] < b[key] ? -1 : 1);
    assert(byKey(want).length > 0, `${method}: the backend lists something`);
    assertEquals(byKey(got), byKey(want), method);
  }
}
