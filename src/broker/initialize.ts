/**
 * `initialize`: negotiates the protocol version and issues a gateway session — a signed token that any
 * replica and the router can verify without shared state.
 */
import { GATEWAY_INFO, negotiateProtocolVersion } from "../mcp/protocol.ts";
import { resultText } from "../mcp/jsonrpc.ts";
import type { BrokerContext } from "./context.ts";

/** Only these client capabilities are carried (in the token) and ever declared to backends for the client. */
const FORWARDABLE_CAPABILITIES = ["roots", "sampling", "elicitation"];

/** What the gateway offers: the union of what it aggregates and routes. */
export const GATEWAY_CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  completions: {},
  logging: {},
};

export async function handleInitialize(
  ctx: BrokerContext,
  params: Record<string, unknown> | undefined,
  rawId: string,
): Promise<Response> {
  const protocolVersion = negotiateProtocolVersion(params?.protocolVersion);
  const declared = (params?.capabilities ?? {}) as Record<string, unknown>;
  const capabilities = Object.fromEntries(
    Object.entries(declared).filter(([key]) => FORWARDABLE_CAPABILITIES.includes(key)),
  );
  const { token, claims } = await ctx.tokens.mintSession(protocolVersion, capabilities);
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
    instructions:
      "MCP Gateway: tools, prompts and resources from several MCP servers, each under its own prefix.",
  };
  return new Response(resultText(rawId, JSON.stringify(result)), {
    headers: { "content-type": "application/json", "mcp-session-id": token },
  });
}
