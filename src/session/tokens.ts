/**
 * Gateway session ids, hairpin tokens and the `requestState` of calls the gateway holds for 2026 clients:
 * HS256 JWTs, each kind with its own audience (one never passes for another). Stateless validation lets
 * every replica, and the router, accept a session without a shared store; only backend-session bindings
 * need sharing.
 */
import { jwtVerify, SignJWT } from "jose";
import { type ClientCapabilities, normalizeClientCapabilities } from "../mcp/client_capabilities.ts";

const ISSUER = "mcp-gateway";
const SESSION_AUDIENCE = "mcp-gateway";
const HAIRPIN_AUDIENCE = "mcp-router";
const INPUT_STATE_AUDIENCE = "mcp-gateway-input";
/** Longest `requestState` worth verifying (one names a handful of backend requests). */
const MAX_INPUT_STATE_CHARS = 8192;
/**
 * Bytes of verified tokens kept (a token is ≈0.4 KiB, its entry ≈0.7 KiB); beyond it the oldest are
 * verified again when next seen. Bounded in bytes, not entries: a client cannot make entries large.
 */
export const TOKEN_CACHE_BYTES = 64 * 1024 * 1024;
/** Longest session token worth verifying. */
const MAX_TOKEN_CHARS = 2048;
/** What one cache entry costs besides its token's characters: claims object, map slot. */
const ENTRY_OVERHEAD_BYTES = 320;

/** What a valid gateway session token says. */
export interface SessionClaims {
  /** Session id (`jti`): what events and maps key on, so the token itself is never logged. */
  id: string;
  /** Expiry, ms since epoch. */
  expiresAt: number;
  /** Protocol version negotiated with the client at initialize. */
  protocolVersion: string;
  /** Client capabilities declared at initialize (sampling, elicitation, roots) — never promised further. */
  clientCapabilities: ClientCapabilities;
  /** Who opened the session (issuer|subject), when known: only they may use it. */
  subject?: string;
}

/**
 * What a gateway-signed `requestState` binds (MCP 2026-07-28, multi round-trip requests: servers SHOULD bind
 * it to the principal, the method and an expiry): the call held on a 2025 backend and the round it answers,
 * who may answer it, for which request, and the backend's requests it answers.
 */
export interface InputStateClaims {
  /** The held call's id (its record in the session store). */
  call: string;
  round: number;
  /** The caller (`issuer|subject`, "" when anonymous). */
  subject: string;
  method: string;
  server: string;
  /** The tool, prompt or resource the request names on the backend. */
  name: string;
  /** The backend's requests asked in this round: input key → the backend's id (JSON text). */
  requests: Record<string, string>;
}

export type VerifyResult = { ok: true; claims: SessionClaims } | { ok: false; reason: string };

export interface TokenServiceOptions {
  /** HMAC key; at least 32 bytes recommended. */
  signingKey: string;
  /** Session lifetime in minutes (the seed's `--session-length`). */
  sessionMinutes: number;
  /** Verified-token cache budget in bytes (default {@link TOKEN_CACHE_BYTES}). */
  cacheBytes?: number;
}

/**
 * Mints and verifies tokens. Verification results are cached per token until expiry: the signature check
 * is WebCrypto work that every request would otherwise repeat.
 */
export class TokenService {
  readonly #key: Uint8Array;
  readonly #lifetimeSec: number;
  readonly #cacheBudget: number;
  #cache = new Map<string, SessionClaims>();
  #cacheBytes = 0;

  constructor(options: TokenServiceOptions) {
    this.#key = new TextEncoder().encode(options.signingKey);
    this.#lifetimeSec = Math.max(1, Math.round(options.sessionMinutes * 60));
    this.#cacheBudget = options.cacheBytes ?? TOKEN_CACHE_BYTES;
  }

  /** Bytes the verified-token cache holds now (an estimate, for status and tests). */
  get cacheBytes(): number {
    return this.#cacheBytes;
  }

  async mintSession(
    protocolVersion: string,
    clientCapabilities: ClientCapabilities,
    subject?: string,
  ): Promise<{ token: string; claims: SessionClaims }> {
    const id = crypto.randomUUID();
    const now = Math.floor(Date.now() / 1000);
    const payload = subject === undefined
      ? { pv: protocolVersion, cc: clientCapabilities }
      : { pv: protocolVersion, cc: clientCapabilities, sub: subject };
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(ISSUER)
      .setAudience(SESSION_AUDIENCE)
      .setJti(id)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + this.#lifetimeSec)
      .sign(this.#key);
    const claims: SessionClaims = {
      id,
      expiresAt: (now + this.#lifetimeSec) * 1000,
      protocolVersion,
      clientCapabilities,
    };
    if (subject !== undefined) claims.subject = subject;
    return { token, claims };
  }

  async verifySession(token: string): Promise<VerifyResult> {
    // Tokens we mint are a few hundred bytes: anything far larger is not ours, and not worth an HMAC.
    if (token.length > MAX_TOKEN_CHARS) return { ok: false, reason: "session token is not valid" };
    const cached = this.#cache.get(token);
    if (cached) {
      if (cached.expiresAt > Date.now()) return { ok: true, claims: cached };
      this.forget(token);
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
        clientCapabilities: normalizeClientCapabilities(payload.cc),
      };
      if (typeof payload.sub === "string") claims.subject = payload.sub;
      this.#remember(token, claims);
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
    if (this.#cache.delete(token)) this.#cacheBytes -= token.length + ENTRY_OVERHEAD_BYTES;
  }

  #remember(token: string, claims: SessionClaims) {
    if (this.#cache.has(token)) return;
    const size = token.length + ENTRY_OVERHEAD_BYTES;
    if (size > this.#cacheBudget / 100) return; // not worth a slot (and a sign of abuse)
    if (this.#cacheBytes + size > this.#cacheBudget) {
      // Maps iterate in insertion order: drop the oldest tenth, not everything (a full clear would send
      // every active session back through signature checks at once).
      const target = this.#cacheBudget * 0.9 - size;
      for (const key of this.#cache.keys()) {
        if (this.#cacheBytes <= target) break;
        this.forget(key);
      }
    }
    this.#cache.set(token, claims);
    this.#cacheBytes += size;
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

  /** A `requestState` for a held call's round, valid for `ttlMs` (rounded up to a second). */
  mintInputState(claims: InputStateClaims, ttlMs: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const { call, round, subject, method, server, name, requests } = claims;
    return new SignJWT({ c: call, r: round, m: method, s: server, n: name, k: requests })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(ISSUER)
      .setAudience(INPUT_STATE_AUDIENCE)
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(now + Math.max(1, Math.ceil(ttlMs / 1000)))
      .sign(this.#key);
  }

  /** The claims of a `requestState` this gateway signed, unexpired; undefined for anything else. */
  async verifyInputState(token: string): Promise<InputStateClaims | undefined> {
    if (token.length > MAX_INPUT_STATE_CHARS) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: ["HS256"],
        issuer: ISSUER,
        audience: INPUT_STATE_AUDIENCE,
        requiredClaims: ["exp", "sub"],
      });
      const { c, r, m, s, n, k } = payload;
      if (typeof c !== "string" || typeof r !== "number" || typeof m !== "string" || typeof s !== "string") {
        return undefined;
      }
      if (typeof n !== "string" || !k || typeof k !== "object" || Array.isArray(k)) return undefined;
      const requests: Record<string, string> = {};
      for (const [key, id] of Object.entries(k)) {
        if (typeof id !== "string") return undefined;
        requests[key] = id;
      }
      return { call: c, round: r, subject: payload.sub!, method: m, server: s, name: n, requests };
    } catch {
      return undefined;
    }
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
