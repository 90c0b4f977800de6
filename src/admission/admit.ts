/**
 * Admission: may this request be served, and as whom? One function for both data paths — the broker's
 * HTTP handler and the router's body phase — so they refuse the same requests with the same answers.
 *
 * Checked, in order: Origin and Host (DNS rebinding); who is calling (a bearer token when the gateway
 * validates tokens, a policy layer's trusted header, the selected virtual server: one {@link Identity});
 * then, for a 2025-era request, the gateway session (spec, Streamable HTTP session management: none → 400,
 * unknown, expired or terminated → 404 so the client re-initializes), which must belong to the same subject
 * that opened it, and the `MCP-Protocol-Version` header (unsupported → 400). A 2026-era request has no
 * session: it is authenticated on its own, and its envelope (already validated by `era/classify.ts`) says
 * what its client is.
 */
import type { ProjectionView } from "../events/log.ts";
import type { BearerError } from "../identity/bearer.ts";
import { ANONYMOUS, type Identity } from "../identity/identity.ts";
import { type IdentityResolver, subjectKey } from "../identity/resolve.ts";
import type { HeaderLookup } from "../mcp/backend_headers.ts";
import { GatewayError } from "../mcp/errors.ts";
import type { ClientEnvelope } from "../era/envelope.ts";
import type { NormalizedRequest } from "../era/classify.ts";
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

/** Who is calling, for a request that needs no session (`initialize`). */
export interface Identified {
  identity: Identity;
}

/** A 2025 gateway session: the token the client holds and what it says. */
export interface AdmittedSession {
  token: string;
  claims: SessionClaims;
}

/** An admitted 2025-era request: it belongs to a gateway session, whose claims say what its client is. */
export interface Admitted2025 extends Identified {
  era: "2025";
  envelope: ClientEnvelope;
  session: AdmittedSession;
}

/** An admitted 2026-era request: no session; its own envelope says what its client is. */
export interface Admitted2026 extends Identified {
  era: "2026";
  envelope: ClientEnvelope;
  session?: undefined;
}

/** An admitted request, whichever era: who is calling, what its client declared, and its session if any. */
export type Admitted = Admitted2025 | Admitted2026;

/** The envelope a 2025 session stands for: the version and capabilities its `initialize` settled. */
export function sessionEnvelope(claims: SessionClaims): ClientEnvelope {
  return { protocolVersion: claims.protocolVersion, capabilities: claims.clientCapabilities };
}

/** A bearer-token refusal as a gateway error: 401/403 with the RFC 6750 challenge, or 503. */
function bearerRefusal(error: BearerError, rawId: string): GatewayError {
  const kind = error.status === 401
    ? "unauthorized"
    : error.status === 403
    ? "insufficient-scope"
    : "auth-unavailable";
  return new GatewayError(kind, error.message, rawId, {
    headers: error.wwwAuthenticate ? { "www-authenticate": error.wwwAuthenticate } : undefined,
  });
}

export class Admission {
  constructor(
    private readonly tokens: TokenService,
    private readonly sessions: ProjectionView<SessionMapState>,
    private readonly policy: OriginPolicy,
    private readonly identities?: IdentityResolver,
  ) {}

  /** Origin and Host only (e.g. for OPTIONS, or before anything else is read). */
  checkOrigin(req: InboundRequest): void {
    checkOrigin(req.host, req.header("origin"), this.policy, req.rawId);
  }

  /** Origin, Host and identity: for requests that open a session or need none. */
  async identify(req: InboundRequest): Promise<Identified> {
    this.checkOrigin(req);
    if (!this.identities) return { identity: ANONYMOUS };
    const result = await this.identities.resolve({ get: req.header });
    if (!result.ok) throw bearerRefusal(result.error, req.rawId ?? "null");
    return { identity: result.identity };
  }

  /**
   * Admits a classified request: a 2026 one on its own, a 2025 one by its session. Throws the
   * {@link GatewayError} to answer with.
   */
  async admit(req: InboundRequest, request: Pick<NormalizedRequest, "era" | "envelope">): Promise<Admitted> {
    if (request.era === "2026" && request.envelope) {
      const { identity } = await this.identify(req);
      return { era: "2026", envelope: request.envelope, identity };
    }
    return await this.admitSession(req);
  }

  /**
   * Admits a request that must belong to a 2025 gateway session (every 2025 request but `initialize`, GET
   * and DELETE); throws the {@link GatewayError} to answer with.
   */
  async admitSession(req: InboundRequest): Promise<Admitted2025> {
    const rawId = req.rawId ?? "null";
    const { identity } = await this.identify(req);
    const token = req.header("mcp-session-id");
    if (!token) {
      throw new GatewayError("missing-session", "Bad Request: Mcp-Session-Id header is required", rawId);
    }
    const verified = await this.tokens.verifySession(token);
    if (!verified.ok) {
      throw new GatewayError("invalid-session", `Session not found: ${verified.reason}`, rawId);
    }
    const claims = verified.claims;
    if (isClosed(this.sessions.state, claims.id)) {
      throw new GatewayError("invalid-session", "Session not found: the session was terminated", rawId);
    }
    // A session belongs to whoever opened it: another subject's token on it is a different caller, who
    // gets a session of their own (404 makes a client re-initialize) and sees nothing of this one.
    if (claims.subject !== undefined && claims.subject !== subjectKey(identity)) {
      throw new GatewayError("invalid-session", "Session not found: it belongs to another subject", rawId);
    }
    const version = req.header("mcp-protocol-version");
    if (version && !isSupportedProtocolVersion(version)) {
      throw new GatewayError(
        "invalid-request",
        `Bad Request: unsupported MCP-Protocol-Version ${JSON.stringify(version)}`,
        rawId,
      );
    }
    return { era: "2025", envelope: sessionEnvelope(claims), identity, session: { token, claims } };
  }
}
