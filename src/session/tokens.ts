/**
 * Gateway session ids and hairpin tokens: HS256 JWTs. Stateless validation lets every replica, and the
 * router, accept a session without a shared store; only backend-session bindings need sharing.
 */
import { jwtVerify, SignJWT } from "jose";

const ISSUER = "mcp-gateway";
const SESSION_AUDIENCE = "mcp-gateway";
const HAIRPIN_AUDIENCE = "mcp-router";
/** Verified tokens kept (≈0.5 KiB each); beyond it the oldest are verified again when next seen. */
const MAX_CACHED = 200_000;

/** What a valid gateway session token says. */
export interface SessionClaims {
  /** Session id (`jti`): what events and maps key on, so the token itself is never logged. */
  id: string;
  /** Expiry, ms since epoch. */
  expiresAt: number;
  /** Protocol version negotiated with the client at initialize. */
  protocolVersion: string;
  /** Client capabilities declared at initialize (sampling, elicitation, roots) — never promised further. */
  clientCapabilities: Record<string, unknown>;
}

export type VerifyResult = { ok: true; claims: SessionClaims } | { ok: false; reason: string };

export interface TokenServiceOptions {
  /** HMAC key; at least 32 bytes recommended. */
  signingKey: string;
  /** Session lifetime in minutes (the seed's `--session-length`). */
  sessionMinutes: number;
}

/**
 * Mints and verifies tokens. Verification results are cached per token until expiry: the signature check
 * is WebCrypto work that every request would otherwise repeat.
 */
export class TokenService {
  readonly #key: Uint8Array;
  readonly #lifetimeSec: number;
  #cache = new Map<string, SessionClaims>();

  constructor(options: TokenServiceOptions) {
    this.#key = new TextEncoder().encode(options.signingKey);
    this.#lifetimeSec = Math.max(1, Math.round(options.sessionMinutes * 60));
  }

  async mintSession(
    protocolVersion: string,
    clientCapabilities: Record<string, unknown>,
  ): Promise<{ token: string; claims: SessionClaims }> {
    const id = crypto.randomUUID();
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ pv: protocolVersion, cc: clientCapabilities })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(ISSUER)
      .setAudience(SESSION_AUDIENCE)
      .setJti(id)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + this.#lifetimeSec)
      .sign(this.#key);
    const claims = { id, expiresAt: (now + this.#lifetimeSec) * 1000, protocolVersion, clientCapabilities };
    return { token, claims };
  }

  async verifySession(token: string): Promise<VerifyResult> {
    const cached = this.#cache.get(token);
    if (cached) {
      if (cached.expiresAt > Date.now()) return { ok: true, claims: cached };
      this.#cache.delete(token);
      return { ok: false, reason: "session expired" };
    }
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: ["HS256"],
        issuer: ISSUER,
        audience: SESSION_AUDIENCE,
        requiredClaims: ["exp", "jti"],
      });
      const claims: SessionClaims = {
        id: payload.jti!,
        expiresAt: payload.exp! * 1000,
        protocolVersion: typeof payload.pv === "string" ? payload.pv : "2025-03-26",
        clientCapabilities: (payload.cc && typeof payload.cc === "object" ? payload.cc : {}) as Record<
          string,
          unknown
        >,
      };
      if (this.#cache.size >= MAX_CACHED) {
        // Maps iterate in insertion order: drop the oldest tenth, not everything (a full clear would send
        // every active session back through signature checks at once).
        let drop = MAX_CACHED / 10;
        for (const key of this.#cache.keys()) {
          this.#cache.delete(key);
          if (--drop <= 0) break;
        }
      }
      this.#cache.set(token, claims);
      return { ok: true, claims };
    } catch (e) {
      const code = (e as { code?: string }).code;
      return {
        ok: false,
        reason: code === "ERR_JWT_EXPIRED" ? "session expired" : "session token is not valid",
      };
    }
  }

  /** Forgets a token (on DELETE) so the cache never outlives a closed session. */
  forget(token: string) {
    this.#cache.delete(token);
  }

  /**
   * A short-lived token that lets the router's hairpin `initialize` through, bound to the one host it is
   * for: a leaked token cannot open sessions elsewhere, and expires in seconds.
   */
  mintHairpin(host: string, lifetimeSec = 30): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ purpose: "backend-init", host })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(ISSUER)
      .setAudience(HAIRPIN_AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + lifetimeSec)
      .sign(this.#key);
  }

  async verifyHairpin(token: string, host: string): Promise<boolean> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: ["HS256"],
        issuer: ISSUER,
        audience: HAIRPIN_AUDIENCE,
        requiredClaims: ["exp"],
      });
      return payload.purpose === "backend-init" && payload.host === host;
    } catch {
      return false;
    }
  }
}
