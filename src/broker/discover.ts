/**
 * `server/discover` (MCP 2026-07-28): what the gateway serves, for 2026 clients — the versions of both
 * eras, the gateway's capabilities (what it aggregates and routes, as in its 2025 `initialize`) plus the
 * extensions its backends declare (advertised only while a ready backend has them), its instructions, and
 * its identity in `_meta`. Nothing in it depends on the caller.
 */
import { GATEWAY_INSTRUCTIONS } from "./initialize.ts";
import { GATEWAY_CAPABILITIES } from "./initialize.ts";
import { modernResultMembers } from "../era/frame.ts";
import { resultText } from "../mcp/jsonrpc.ts";
import { ALL_PROTOCOL_VERSIONS } from "../mcp/protocol.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";
import type { BrokerContext } from "./context.ts";

/** The extensions ready, enabled backends declare, merged (the first declaration of each wins). */
export function backendExtensions(upstreams: UpstreamsState): Record<string, unknown> | undefined {
  let extensions: Record<string, unknown> | undefined;
  for (const server of upstreams.servers.values()) {
    if (server.status !== "ready" || !server.config.enabled) continue;
    const declared = server.capabilities?.extensions;
    if (!declared || typeof declared !== "object") continue;
    for (const [id, settings] of Object.entries(declared)) {
      extensions ??= {};
      if (!Object.hasOwn(extensions, id)) extensions[id] = settings;
    }
  }
  return extensions;
}

export function handleDiscover(ctx: BrokerContext, rawId: string): Response {
  const extensions = backendExtensions(ctx.upstreams.state);
  const capabilities = extensions ? { ...GATEWAY_CAPABILITIES, extensions } : GATEWAY_CAPABILITIES;
  const body = JSON.stringify({
    supportedVersions: ALL_PROTOCOL_VERSIONS,
    capabilities,
    instructions: GATEWAY_INSTRUCTIONS,
  });
  // Backends come and go, and their extensions with them: not cached, but the same for every caller.
  const result = `${body.slice(0, -1)},${modernResultMembers({ ttlMs: 0, cacheScope: "public" })}}`;
  return new Response(resultText(rawId, result), { headers: { "content-type": "application/json" } });
}
