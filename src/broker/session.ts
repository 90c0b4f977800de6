/**
 * Authenticates a request's gateway session. Spec (Streamable HTTP, session management): a request without
 * `Mcp-Session-Id` gets 400; an unknown, expired or terminated one gets 404, which tells the client to
 * initialize again.
 */
import { GatewayError } from "../mcp/errors.ts";
import type { SessionClaims } from "../session/tokens.ts";
import type { BrokerContext } from "./context.ts";

export interface AuthenticatedSession {
  token: string;
  claims: SessionClaims;
}

export async function authenticate(
  req: Request,
  ctx: BrokerContext,
  rawId = "null",
): Promise<AuthenticatedSession> {
  const token = req.headers.get("mcp-session-id");
  if (!token) {
    throw new GatewayError("missing-session", "Bad Request: Mcp-Session-Id header is required", rawId);
  }
  const result = await ctx.tokens.verifySession(token);
  if (!result.ok) throw new GatewayError("invalid-session", `Session not found: ${result.reason}`, rawId);
  if (ctx.sessions.state.closed.has(result.claims.id)) {
    throw new GatewayError("invalid-session", "Session not found: the session was terminated", rawId);
  }
  return { token, claims: result.claims };
}
