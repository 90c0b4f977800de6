/**
 * The broker as an OAuth 2.0 resource server (MCP authorization, 2025-06-18 onwards): it validates the
 * client's bearer token itself, in standalone mode and as a second line behind Envoy.
 *
 * - Issuers come from `OAUTH_AUTHORIZATION_SERVERS`; each one's metadata is found by RFC 8414 / OpenID
 *   Connect discovery, and its keys are fetched, cached and refetched on an unknown `kid` (jose's
 *   `createRemoteJWKSet`).
 * - The token must be a JWT from one of those issuers, signed by its keys, unexpired, with `aud` naming
 *   `OAUTH_RESOURCE` (RFC 8707, RFC 9068 §4) and every scope of `OAUTH_REQUIRED_SCOPES`.
 * - Failures are values: 401 with `WWW-Authenticate: Bearer resource_metadata="…"` (RFC 9728 §5.1), plus
 *   `error="invalid_token"` when a token came (RFC 6750 §3.1 omits the error when none did); 403
 *   `insufficient_scope` with the scopes needed; 503 when an issuer cannot be reached.
 *
 * Tokens are never logged and never appear in an error message.
 *
 * ```ts
 * const options = oauthOptionsFromEnv((name) => Deno.env.get(name), { validateTokens: flags.oauthValidateTokens });
 * if (options.ok && options.value.validateTokens) {
 *   const validator = new BearerValidator(options.value);
 *   const result = await validator.validate(request.headers.get("authorization"));
 *   if (!result.ok) return bearerErrorResponse(result.error);
 * }
 * ```
 */
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, type JWTPayload, jwtVerify } from "jose";
import { z } from "zod";
import { GatewayError } from "../mcp/errors.ts";
import type { Identity } from "./identity.ts";
import { capabilitiesFromClaims, TokenCapabilitiesOptionsSchema } from "./token_capabilities.ts";
import { VerifiedCache } from "./verified_cache.ts";

/** Asymmetric JWS algorithms only: a resource server must never accept `none` or shared-secret HS*. */
const DEFAULT_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];

export const OAuthOptionsSchema = z.object({
  /** `--oauth-validate-tokens` / `OAUTH_VALIDATE_TOKENS=true`. */
  validateTokens: z.boolean().default(false),
  /** `OAUTH_RESOURCE`: this MCP endpoint's absolute URL; tokens must name it in `aud`. */
  resource: z.url({ protocol: /^https?$/, error: "OAUTH_RESOURCE must be an absolute http(s) URL" }),
  /** `OAUTH_AUTHORIZATION_SERVERS`: accepted issuers, exactly as they write `iss`. */
  authorizationServers: z.array(z.url({ protocol: /^https?$/ })).min(
    1,
    "OAUTH_AUTHORIZATION_SERVERS must name at least one issuer",
  ),
  /** `OAUTH_REQUIRED_SCOPES`: every one must be granted, else 403 insufficient_scope. */
  requiredScopes: z.array(z.string().min(1)).default([]),
  /** The protected resource metadata URL for the challenge; default derived from `resource` (RFC 9728 §3.1). */
  resourceMetadataUrl: z.url().optional(),
  algorithms: z.array(z.string()).min(1).default(DEFAULT_ALGORITHMS),
  /** Leeway for `exp`/`nbf`/`iat` between the issuer's clock and ours, seconds. */
  clockToleranceSeconds: z.number().int().min(0).default(30),
  /** How long fetched keys are trusted before a refetch (jose `cacheMaxAge`). */
  jwksCacheMaxAgeMs: z.number().int().positive().default(10 * 60_000),
  /**
   * Minimum time between two key refetches (jose `cooldownDuration`): an unknown `kid` triggers a
   * refetch at most this often, so forged `kid`s cannot make the gateway hammer the issuer.
   */
  jwksCooldownMs: z.number().int().min(0).default(30_000),
  /**
   * Tokens whose verification is remembered (until their expiry, and no longer than keys are cached);
   * 0 verifies every request.
   */
  verifiedCacheSize: z.number().int().min(0).default(1000),
  /** Timeout of one discovery or JWKS request. */
  fetchTimeoutMs: z.number().int().positive().default(5_000),
  /** After a failed discovery, requests are answered 503 without retrying for this long. */
  discoveryRetryMs: z.number().int().min(0).default(2_000),
  /** Read per-user capabilities from the token (see token_capabilities.ts); off when absent. */
  tokenCapabilities: TokenCapabilitiesOptionsSchema.optional(),
});
export type OAuthOptions = z.infer<typeof OAuthOptionsSchema>;
export type OAuthOptionsInput = z.input<typeof OAuthOptionsSchema>;

function list(value: string | undefined): string[] {
  return (value ?? "").split(/[,\s]+/).map((v) => v.trim()).filter((v) => v !== "");
}

/** `OAUTH_VALIDATE_TOKENS` spellings; anything else is an error rather than a silent "off". */
function envBoolean(name: string, value: string | undefined): boolean | string {
  if (value === undefined || value.trim() === "") return false;
  const v = value.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(v)) return true;
  if (["false", "0", "no", "off"].includes(v)) return false;
  return `${name} must be true or false, got "${value}"`;
}

/**
 * Options from the seed's `OAUTH_*` variables plus `OAUTH_VALIDATE_TOKENS` and `OAUTH_REQUIRED_SCOPES`.
 * `overrides` are flags (`--oauth-validate-tokens` wins over the variable). With validation off, the
 * result is `{ ok: true, value: undefined }`: nothing else is read or checked.
 */
export function oauthOptionsFromEnv(
  env: (name: string) => string | undefined,
  overrides: Partial<OAuthOptionsInput> = {},
): { ok: true; value: OAuthOptions | undefined } | { ok: false; error: string } {
  const flag = envBoolean("OAUTH_VALIDATE_TOKENS", env("OAUTH_VALIDATE_TOKENS"));
  if (typeof flag === "string") return { ok: false, error: flag };
  const validateTokens = overrides.validateTokens ?? flag;
  if (!validateTokens) return { ok: true, value: undefined };
  const parsed = OAuthOptionsSchema.safeParse({
    resource: env("OAUTH_RESOURCE"),
    authorizationServers: list(env("OAUTH_AUTHORIZATION_SERVERS")),
    requiredScopes: list(env("OAUTH_REQUIRED_SCOPES")),
    ...overrides,
    validateTokens,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const message = issue.path[0] === "resource" && issue.code === "invalid_type"
      ? "OAUTH_RESOURCE must be set (the MCP endpoint's absolute URL) when token validation is on"
      : issue.message;
    return { ok: false, error: message };
  }
  return { ok: true, value: parsed.data };
}

/**
 * RFC 9728 §3.1: the well-known segment goes between the host and the resource's path
 * (`https://mcp.example.com/mcp` → `https://mcp.example.com/.well-known/oauth-protected-resource/mcp`).
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

/**
 * Where an issuer's metadata may be, in the order MCP clients try them: RFC 8414 §3.1 (well-known segment
 * inserted before the issuer's path), OpenID Connect Discovery 1.0 §4 with the same insertion (RFC 8414
 * §5), and OpenID Connect Discovery appended to the issuer (Keycloak's `/realms/<realm>`).
 */
export function discoveryUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, "");
  if (path === "") {
    return [
      `${url.origin}/.well-known/oauth-authorization-server`,
      `${url.origin}/.well-known/openid-configuration`,
    ];
  }
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}/.well-known/openid-configuration${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
  ];
}

const AuthorizationServerMetadataSchema = z.object({
  issuer: z.string(),
  jwks_uri: z.url(),
}).loose();

export type BearerErrorCode = "invalid_token" | "insufficient_scope";

/** A refused request, ready to answer (see {@link bearerErrorResponse}). `message` is safe to log and show. */
export interface BearerError {
  status: 401 | 403 | 503;
  /** RFC 6750 error code; absent when no token came at all. */
  error?: BearerErrorCode;
  message: string;
  /** The `WWW-Authenticate` value (absent for 503). */
  wwwAuthenticate?: string;
}

export type BearerResult =
  | { ok: true; identity: Identity; claims: JWTPayload }
  | { ok: false; error: BearerError };

interface IssuerKeys {
  issuer: string;
  jwks: ReturnType<typeof createRemoteJWKSet>;
}

interface IssuerState {
  keys?: Promise<IssuerKeys>;
  retryAfter?: number;
}

/** RFC 6750 §3: auth-param values are quoted strings. */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** `scope` (RFC 9068 §2.2.3, space-separated) or `scp` (array or string, as some issuers write it). */
export function grantedScopes(claims: JWTPayload): string[] {
  const raw = claims.scope ?? claims.scp;
  if (typeof raw === "string") return raw.split(" ").filter((s) => s !== "");
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === "string");
  return [];
}

export class BearerValidator {
  readonly options: OAuthOptions;
  readonly resourceMetadataUrl: string;
  private readonly issuers = new Map<string, IssuerState>();
  private readonly verified: VerifiedCache<{ identity: Identity; claims: JWTPayload }>;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;

  constructor(options: OAuthOptionsInput, deps: { fetch?: typeof fetch; now?: () => number } = {}) {
    this.options = OAuthOptionsSchema.parse(options);
    this.resourceMetadataUrl = this.options.resourceMetadataUrl ??
      protectedResourceMetadataUrl(this.options.resource);
    this.fetchFn = deps.fetch ?? fetch;
    this.now = deps.now ?? Date.now;
    for (const issuer of this.options.authorizationServers) this.issuers.set(issuer, {});
    this.verified = new VerifiedCache(this.options.verifiedCacheSize);
  }

  /** The challenge for a request without a token (RFC 6750 §3.1: no error code then). */
  challenge(error?: BearerErrorCode): string {
    let value = `Bearer resource_metadata=${quoted(this.resourceMetadataUrl)}`;
    if (error) value += `, error=${quoted(error)}`;
    if (this.options.requiredScopes.length > 0) {
      value += `, scope=${quoted(this.options.requiredScopes.join(" "))}`;
    }
    return value;
  }

  private refuse(error: BearerErrorCode | undefined, message: string): BearerResult {
    const status = error === "insufficient_scope" ? 403 : 401;
    return { ok: false, error: { status, error, message, wwwAuthenticate: this.challenge(error) } };
  }

  /** Validates an `Authorization` header value (null when the request had none). */
  async validate(authorization: string | null | undefined): Promise<BearerResult> {
    if (!authorization) return this.refuse(undefined, "Unauthorized: a bearer token is required");
    const match = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(authorization);
    if (!match) {
      // Another scheme is not a bearer token at all; a malformed bearer is an invalid one.
      return /^Bearer\b/i.test(authorization)
        ? this.refuse("invalid_token", "Unauthorized: malformed bearer token")
        : this.refuse(undefined, "Unauthorized: a bearer token is required");
    }
    const token = match[1];
    const now = this.now();
    const cached = this.verified.get(token, now);
    if (cached) return { ok: true, ...cached };
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      return this.refuse("invalid_token", "Unauthorized: the token is not a JWT");
    }
    const issuer = typeof unverified.iss === "string" ? this.matchIssuer(unverified.iss) : undefined;
    if (!issuer) return this.refuse("invalid_token", "Unauthorized: the token's issuer is not accepted");
    let keys: IssuerKeys;
    try {
      keys = await this.keysOf(issuer);
    } catch (e) {
      return {
        ok: false,
        error: {
          status: 503,
          message: `Service unavailable: cannot read the metadata of issuer ${issuer}: ${
            (e as Error).message
          }`,
        },
      };
    }
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, keys.jwks, {
        issuer: keys.issuer,
        audience: this.options.resource,
        algorithms: this.options.algorithms,
        clockTolerance: this.options.clockToleranceSeconds,
        requiredClaims: ["exp"],
        currentDate: new Date(this.now()),
      }));
    } catch (e) {
      if (e instanceof joseErrors.JWKSTimeout || isFetchFailure(e)) {
        return {
          ok: false,
          error: { status: 503, message: `Service unavailable: cannot fetch the keys of issuer ${issuer}` },
        };
      }
      return this.refuse("invalid_token", `Unauthorized: ${describeFailure(e)}`);
    }
    const scopes = grantedScopes(claims);
    const missing = this.options.requiredScopes.filter((s) => !scopes.includes(s));
    if (missing.length > 0) {
      return this.refuse("insufficient_scope", `Forbidden: the token lacks scope ${missing.join(" ")}`);
    }
    const caps = this.options.tokenCapabilities;
    // Frozen: a remembered identity is handed to every later request with the same token.
    const identity: Identity = Object.freeze({
      source: "token" as const,
      subject: typeof claims.sub === "string" ? claims.sub : undefined,
      clientId: typeof claims.client_id === "string"
        ? claims.client_id
        : typeof claims.azp === "string"
        ? claims.azp
        : undefined,
      issuer: keys.issuer,
      scopes,
      expiresAt: claims.exp,
      allowed: caps ? capabilitiesFromClaims(claims, caps) : undefined,
      capabilitySources: caps ? ["token-claims" as const] : [],
    });
    // jose accepted it up to exp + tolerance; remember it that long, and no longer than keys are trusted.
    const until = Math.min(
      (claims.exp! + this.options.clockToleranceSeconds) * 1000,
      now + this.options.jwksCacheMaxAgeMs,
    );
    this.verified.set(token, { identity, claims }, until);
    return { ok: true, identity, claims };
  }

  /** The configured issuer `iss` names; a trailing slash on either side is not a different issuer. */
  private matchIssuer(iss: string): string | undefined {
    if (this.issuers.has(iss)) return iss;
    const bare = iss.replace(/\/$/, "");
    for (const issuer of this.issuers.keys()) if (issuer.replace(/\/$/, "") === bare) return issuer;
    return undefined;
  }

  private keysOf(issuer: string): Promise<IssuerKeys> {
    const state = this.issuers.get(issuer)!;
    if (state.keys) return state.keys;
    if (state.retryAfter !== undefined && this.now() < state.retryAfter) {
      return Promise.reject(new Error("discovery failed recently; retrying shortly"));
    }
    const keys = this.discover(issuer);
    state.keys = keys;
    keys.catch(() => {
      state.keys = undefined;
      state.retryAfter = this.now() + this.options.discoveryRetryMs;
    });
    return keys;
  }

  private async discover(issuer: string): Promise<IssuerKeys> {
    const problems: string[] = [];
    for (const url of discoveryUrls(issuer)) {
      let response: Response;
      try {
        response = await this.fetchFn(url, {
          headers: { accept: "application/json" },
          signal: AbortSignal.timeout(this.options.fetchTimeoutMs),
        });
      } catch (e) {
        problems.push(`${url}: ${(e as Error).message}`);
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel();
        problems.push(`${url}: HTTP ${response.status}`);
        continue;
      }
      const parsed = AuthorizationServerMetadataSchema.safeParse(
        await response.json().catch(() => undefined),
      );
      if (!parsed.success) {
        problems.push(`${url}: not authorization server metadata with a jwks_uri`);
        continue;
      }
      // RFC 8414 §3.3 / OIDC Discovery §4.3: metadata for another issuer must not be used.
      if (parsed.data.issuer !== issuer) {
        problems.push(`${url}: names issuer ${parsed.data.issuer}`);
        continue;
      }
      const jwks = createRemoteJWKSet(new URL(parsed.data.jwks_uri), {
        cacheMaxAge: this.options.jwksCacheMaxAgeMs,
        cooldownDuration: this.options.jwksCooldownMs,
        timeoutDuration: this.options.fetchTimeoutMs,
      });
      return { issuer: parsed.data.issuer, jwks };
    }
    throw new Error(problems.join("; "));
  }
}

function isFetchFailure(e: unknown): boolean {
  return e instanceof TypeError || (e instanceof Error && e.name === "AbortError") ||
    (e instanceof joseErrors.JOSEError && e.code === "ERR_JOSE_GENERIC" &&
      /fetch|status code/i.test(e.message));
}

/** A short reason for a refused token, never echoing the token or its claim values. */
function describeFailure(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return "the token has expired";
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === "aud") return "the token was not issued for this resource";
    if (e.claim === "nbf") return "the token is not valid yet";
    if (e.claim === "iss") return "the token's issuer is not accepted";
    return `the token's ${e.claim} claim is not acceptable`;
  }
  if (e instanceof joseErrors.JWKSNoMatchingKey) return "the token is signed with an unknown key";
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return "the token's signature is not valid";
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return "the token's signing algorithm is not accepted";
  return "the token is not valid";
}

/** The HTTP answer for a refused request: a JSON-RPC error body, the status, and the challenge header. */
export function bearerErrorResponse(error: BearerError, rawId = "null"): Response {
  const kind = error.status === 503
    ? "auth-unavailable"
    : error.status === 403
    ? "insufficient-scope"
    : "unauthorized";
  return new GatewayError(kind, error.message, rawId).toResponse(
    error.wwwAuthenticate ? { "www-authenticate": error.wwwAuthenticate } : {},
  );
}
