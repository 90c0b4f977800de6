/**
 * Admission: may this request be served, and as whom? One function for both data paths — the broker's
 * HTTP handler and the router's body phase — so they refuse the same requests with the same answers.
 *
 * Checked, in order: Origin and Host (DNS rebinding), the gateway session (spec, Streamable HTTP session
 * management: none → 400, unknown, expired or terminated → 404 so the client re-initializes) and the
 * `MCP-Protocol-Version` header (unsupported → 400).
 */
import type { ProjectionView } from "../events/log.ts";
import type { HeaderLookup } from "../mcp/backend_headers.ts";
import { GatewayError } from "../mcp/errors.ts";
import { isSupportedProtocolVersion } from "../mcp/protocol.ts";
import { isClosed, type SessionMapState } from "../session/session_map.ts";
import type { SessionClaims, TokenService } from "../session/tokens.ts";
import { checkOrigin, type OriginPolicy } from "./origin.ts";

/** A request as admission sees it, whichever path it came by. */
export interface InboundRequest {
  /** Request headers by lower-case name. */
  header: HeaderLookup;
  /** The Host the client addressed (the Host header, or the original `:authority` behind Envoy). */
  host: string | null | undefined;
  /** The JSON-RPC request id as JSON text, so refusals answer the request they refuse. */
  rawId?: string;
}

/** An admitted request's session: the token the client holds and what it says. */
export interface Admitted {
  token: string;
  claims: SessionClaims;
}

export class Admission {
  constructor(
    private readonly tokens: TokenService,
    private readonly sessions: ProjectionView<SessionMapState>,
    private readonly policy: OriginPolicy,
  ) {}

  /** Origin and Host only: for requests that open a session or need none. */
  checkOrigin(req: InboundRequest): void {
    checkOrigin(req.host, req.header("origin"), this.policy, req.rawId);
  }

  /** Admits a request that must belong to a session; throws the {@link GatewayError} to answer with. */
  async admit(req: InboundRequest): Promise<Admitted> {
    const rawId = req.rawId ?? "null";
    this.checkOrigin(req);
    const token = req.header("mcp-session-id");
    if (!token) {
      throw new GatewayError("missing-session", "Bad Request: Mcp-Session-Id header is required", rawId);
    }
    const verified = await this.tokens.verifySession(token);
    if (!verified.ok) {
      throw new GatewayError("invalid-session", `Session not found: ${verified.reason}`, rawId);
    }
    if (isClosed(this.sessions.state, verified.claims.id)) {
      throw new GatewayError("invalid-session", "Session not found: the session was terminated", rawId);
    }
    const version = req.header("mcp-protocol-version");
    if (version && !isSupportedProtocolVersion(version)) {
      throw new GatewayError(
        "invalid-request",
        `Bad Request: unsupported MCP-Protocol-Version ${JSON.stringify(version)}`,
        rawId,
      );
    }
    return { token, claims: verified.claims };
  }
}
