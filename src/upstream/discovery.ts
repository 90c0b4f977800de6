/**
 * Lists everything of one kind a server offers, following `nextCursor` to the end. Items are kept exactly as
 * the server sent them (the SDK's typed schemas would drop fields a newer spec adds); only what routing needs
 * is checked, and items failing that are reported rather than served. A 2026 server's cache hint (first
 * page's `ttlMs`/`cacheScope`) is kept too: the gateway's own lists are derived from it.
 */
import type { Client } from "@modelcontextprotocol/client";
import { z } from "zod";
import type { ListCacheHint } from "../events/types.ts";

/** More pages than this is a server paging forever, not a real catalogue. */
const MAX_PAGES = 200;

const NAME = /^[A-Za-z0-9_.\-/]{1,128}$/;

/** What each list method returns, and the key that names an item. */
const KINDS = {
  tools: { method: "tools/list", field: "tools", key: "name" },
  prompts: { method: "prompts/list", field: "prompts", key: "name" },
  resources: { method: "resources/list", field: "resources", key: "uri" },
  templates: { method: "resources/templates/list", field: "resourceTemplates", key: "uriTemplate" },
} as const;
export type ListKind = keyof typeof KINDS;

const PageSchema = (field: string, key: string) =>
  z.looseObject({
    [field]: z.array(z.looseObject({ [key]: z.string() })),
    nextCursor: z.string().optional(),
  }).extend({
    ttlMs: z.number().int().min(0).optional(),
    cacheScope: z.enum(["public", "private"]).optional(),
  });

export interface Listing<T> {
  items: T[];
  /** Items not served, and why. */
  invalid: { name: string; reason: string }[];
  /** The first page's cache hint, when the server gave one (2026 servers must). */
  cache?: ListCacheHint;
}

function checkTool(item: Record<string, unknown>): string | undefined {
  if (!NAME.test(String(item.name))) return "name must be 1–128 characters of [A-Za-z0-9_.-/]";
  const schema = item.inputSchema as Record<string, unknown> | undefined;
  if (!schema || typeof schema !== "object" || schema.type !== "object") {
    return 'inputSchema must have type "object"';
  }
  return undefined;
}

export async function listAll<T>(client: Client, kind: ListKind, timeoutMs: number): Promise<Listing<T>> {
  const { method, field, key } = KINDS[kind];
  const schema = PageSchema(field, key);
  const items: T[] = [];
  const invalid: Listing<T>["invalid"] = [];
  const cursors = new Set<string>();
  let cursor: string | undefined;
  let cache: ListCacheHint | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await client.request(
      { method, params: cursor ? { cursor } : {} },
      schema,
      { timeout: timeoutMs },
    );
    const { ttlMs, cacheScope } = result as { ttlMs?: number; cacheScope?: ListCacheHint["cacheScope"] };
    if (page === 0 && ttlMs !== undefined && cacheScope !== undefined) cache = { ttlMs, cacheScope };
    for (const item of result[field] as Record<string, unknown>[]) {
      const reason = kind === "tools" ? checkTool(item) : undefined;
      if (reason) invalid.push({ name: String(item[key]), reason });
      else items.push(item as T);
    }
    cursor = result.nextCursor as string | undefined;
    if (!cursor) return cache ? { items, invalid, cache } : { items, invalid };
    if (cursors.has(cursor)) throw new Error(`${method} returned cursor ${JSON.stringify(cursor)} twice`);
    cursors.add(cursor);
  }
  throw new Error(`${method} did not finish within ${MAX_PAGES} pages`);
}
