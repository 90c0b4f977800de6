/**
 * `initialize`: negotiates the protocol version and issues a gateway session — a signed token that any
 * replica and the router can verify without shared state.
 */
import { normalizeClientCapabilities } from "../mcp/client_capabilities.ts";
import { GATEWAY_INFO, negotiateProtocolVersion } from "../mcp/protocol.ts";
import { resultText } from "../mcp/jsonrpc.ts";
import type { Identity } from "../identity/identity.ts";
import { subjectKey } from "../identity/resolve.ts";
import type { BrokerContext } from "./context.ts";

/** What the gateway offers: the union of what it aggregates and routes. */
export const GATEWAY_CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  completions: {},
  logging: {},
};

/** What the gateway tells clients of itself, in `initialize` (2025) and `server/discover` (2026). */
export const GATEWAY_INSTRUCTIONS =
  "MCP Gateway: tools, prompts and resources from several MCP servers, each under its own prefix.";

export async function handleInitialize(
  ctx: BrokerContext,
  params: Record<string, unknown> | undefined,
  rawId: string,
  identity: Identity,
): Promise<Response> {
  const protocolVersion = negotiateProtocolVersion(params?.protocolVersion);
  // Only what backends may be told is kept: the token stays small whatever the client declares.
  const capabilities = normalizeClientCapabilities(params?.capabilities);
  const { token, claims } = await ctx.tokens.mintSession(protocolVersion, capabilities, subjectKey(identity));
  ctx.log.append({
    type: "SessionOpened",
    session: claims.id,
    protocolVersion,
    expiresAt: claims.expiresAt,
    answersRequests: Object.keys(capabilities).length > 0 || undefined,
  });
  const result = {
    protocolVersion,
    capabilities: GATEWAY_CAPABILITIES,
    serverInfo: GATEWAY_INFO,
    instructions: GATEWAY_INSTRUCTIONS,
  };
  return new Response(resultText(rawId, JSON.stringify(result)), {
    headers: { "content-type": "application/json", "mcp-session-id": token },
  });
}
