/**
 * Kuadrant's trusted header: the policy layer in front (Authorino, as an AuthPolicy "wristband") signs the
 * user's allowed capabilities into `x-mcp-authorized`, an ES256 JWT whose claim `allowed-capabilities` is a
 * JSON string `{"tools":{"<server>":["<tool>"]},"prompts":{…},"resources":{…}}`. The broker verifies it
 * with the PEM public key in `TRUSTED_HEADER_PUBLIC_KEY`. The kagenti era's `x-authorized-tools` with
 * claim `allowed-tools` (a JSON string `{"<server>":["<tool>"]}`) is accepted too.
 *
 * Semantics, as Kuadrant's broker (internal/broker/filtered_tools_handler.go):
 * - no header: everything, unless `enforceCapabilityFiltering` (then nothing);
 * - a header that fails verification (signature, expiry, algorithm, shape, no key configured): nothing;
 * - a valid header: what it lists; a type it does not mention follows the no-header rule.
 *
 * ```ts
 * const verifier = await TrustedHeaderVerifier.create({ publicKeyPem, enforceCapabilityFiltering: false });
 * const result = await verifier.verify(request.headers);
 * if (result.status === "invalid") logger.warn("trusted header refused", { reason: result.reason });
 * ```
 */
import { decodeProtectedHeader, importSPKI, type JWTPayload, jwtVerify } from "jose";
import { z } from "zod";
import {
  type AllowedCapabilities,
  AllowedCapabilitiesSchema,
  DENY_ALL,
  enforceAllTypes,
} from "./identity.ts";
import { VerifiedCache } from "./verified_cache.ts";

export const TRUSTED_HEADER = "x-mcp-authorized";
export const LEGACY_TRUSTED_HEADER = "x-authorized-tools";
export const ALLOWED_CAPABILITIES_CLAIM = "allowed-capabilities";
export const LEGACY_ALLOWED_TOOLS_CLAIM = "allowed-tools";

/** Authorino signs wristbands with the algorithm of its signing key; Kuadrant's broker accepts ES256 only. */
const ALGORITHM = "ES256";

export const TrustedHeaderOptionsSchema = z.object({
  /** PEM (SPKI) of the policy layer's ECDSA P-256 public key (`TRUSTED_HEADER_PUBLIC_KEY`). */
  publicKeyPem: z.string().trim().min(1).optional(),
  /** `--enforce-capability-filtering`: a missing header (or type) allows nothing. */
  enforceCapabilityFiltering: z.boolean().default(false),
  /** Leeway for `exp`/`nbf`, seconds (Kuadrant's broker allows none). */
  clockToleranceSeconds: z.number().int().min(0).default(0),
  /** Valid headers remembered until their expiry (Authorino reissues per request, so hits are modest). */
  verifiedCacheSize: z.number().int().min(0).default(1000),
});
export type TrustedHeaderOptions = z.input<typeof TrustedHeaderOptionsSchema>;

/** Anything with `get(name)`: fetch `Headers`, or the router's lower-cased header `Map`. */
export interface HeaderSource {
  get(name: string): string | null | undefined;
}

export type TrustedHeaderResult =
  /** No trusted header came: `allowed` is undefined (open) or {@link DENY_ALL} under enforcement. */
  | { status: "absent"; allowed: AllowedCapabilities | undefined }
  | {
    status: "valid";
    header: string;
    allowed: AllowedCapabilities;
    /** `sub`, when the policy put the user's subject there (our AuthPolicy does; Authorino's default is a hash). */
    subject?: string;
    /** `client_id` or `azp`, when the policy copied it from the user's token. */
    clientId?: string;
    expiresAt?: number;
  }
  /** A header that must not be trusted: nothing is allowed. `reason` is safe to log (no header value). */
  | { status: "invalid"; header: string; allowed: AllowedCapabilities; reason: string };

const LegacyAllowedToolsSchema = z.record(z.string(), z.array(z.string()));

/** A claim holding JSON: Kuadrant sends a string; an object is taken as already parsed. */
function claimJson(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Whatever `importSPKI` gives (the global and node:crypto `CryptoKey` types differ under @types/node). */
type PublicKey = Awaited<ReturnType<typeof importSPKI>>;

export class TrustedHeaderVerifier {
  private readonly verified: VerifiedCache<TrustedHeaderResult>;

  private constructor(
    private readonly key: PublicKey | undefined,
    private readonly options: z.infer<typeof TrustedHeaderOptionsSchema>,
  ) {
    this.verified = new VerifiedCache(options.verifiedCacheSize);
  }

  /** Imports the key once; an unreadable PEM is a startup error, not a per-request surprise. */
  static async create(options: TrustedHeaderOptions): Promise<TrustedHeaderVerifier> {
    const parsed = TrustedHeaderOptionsSchema.parse(options);
    let key: PublicKey | undefined;
    if (parsed.publicKeyPem) {
      try {
        key = await importSPKI(parsed.publicKeyPem, ALGORITHM);
      } catch (e) {
        throw new Error(
          `TRUSTED_HEADER_PUBLIC_KEY is not a PEM ECDSA P-256 public key: ${
            e instanceof Error ? e.message : e
          }`,
        );
      }
    }
    return new TrustedHeaderVerifier(key, parsed);
  }

  get enforcing(): boolean {
    return this.options.enforceCapabilityFiltering;
  }

  async verify(headers: HeaderSource): Promise<TrustedHeaderResult> {
    const current = headers.get(TRUSTED_HEADER);
    const legacy = current == null ? headers.get(LEGACY_TRUSTED_HEADER) : undefined;
    const header = current != null ? TRUSTED_HEADER : LEGACY_TRUSTED_HEADER;
    const value = current ?? legacy;
    if (value == null) {
      return { status: "absent", allowed: this.options.enforceCapabilityFiltering ? DENY_ALL : undefined };
    }
    const invalid = (reason: string): TrustedHeaderResult => ({
      status: "invalid",
      header,
      allowed: DENY_ALL,
      reason,
    });
    if (!this.key) return invalid("no public key configured (TRUSTED_HEADER_PUBLIC_KEY)");
    if (value.trim() === "") return invalid("empty header");
    const cacheKey = `${header} ${value}`;
    const cached = this.verified.get(cacheKey, Date.now());
    if (cached) return cached;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(value.trim(), this.key, {
        algorithms: [ALGORITHM],
        clockTolerance: this.options.clockToleranceSeconds,
      }));
    } catch (e) {
      return invalid(describeJoseError(e, value));
    }
    let allowed: AllowedCapabilities;
    if (header === TRUSTED_HEADER) {
      if (!(ALLOWED_CAPABILITIES_CLAIM in payload)) {
        return invalid(`missing claim ${ALLOWED_CAPABILITIES_CLAIM}`);
      }
      const parsed = AllowedCapabilitiesSchema.safeParse(claimJson(payload[ALLOWED_CAPABILITIES_CLAIM]));
      if (!parsed.success) return invalid(`claim ${ALLOWED_CAPABILITIES_CLAIM} is not a capabilities map`);
      allowed = withoutUndefined(parsed.data);
    } else {
      if (!(LEGACY_ALLOWED_TOOLS_CLAIM in payload)) {
        return invalid(`missing claim ${LEGACY_ALLOWED_TOOLS_CLAIM}`);
      }
      const parsed = LegacyAllowedToolsSchema.safeParse(claimJson(payload[LEGACY_ALLOWED_TOOLS_CLAIM]));
      if (!parsed.success) return invalid(`claim ${LEGACY_ALLOWED_TOOLS_CLAIM} is not a server → tools map`);
      allowed = { tools: parsed.data };
    }
    if (this.options.enforceCapabilityFiltering) allowed = enforceAllTypes(allowed);
    const expiresAt = typeof payload.exp === "number" ? payload.exp : undefined;
    const result: TrustedHeaderResult = {
      status: "valid",
      header,
      allowed,
      subject: stringClaim(payload, "sub"),
      clientId: stringClaim(payload, "client_id") ?? stringClaim(payload, "azp"),
      expiresAt,
    };
    // Without `exp` (Kuadrant does not require one) a header is re-verified after a minute.
    const until = expiresAt !== undefined
      ? (expiresAt + this.options.clockToleranceSeconds) * 1000
      : Date.now() + 60_000;
    this.verified.set(cacheKey, result, until);
    return result;
  }
}

function withoutUndefined(value: z.infer<typeof AllowedCapabilitiesSchema>): AllowedCapabilities {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as AllowedCapabilities;
}

/** A log-safe reason: jose's error code and, for an algorithm mismatch, the algorithm named. */
function describeJoseError(e: unknown, value: string): string {
  const code = (e as { code?: string })?.code;
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return "expired";
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "bad signature";
    case "ERR_JOSE_ALG_NOT_ALLOWED": {
      let alg = "?";
      try {
        alg = String(decodeProtectedHeader(value).alg);
      } catch { /* reported as not allowed either way */ }
      return `algorithm ${alg} not allowed (want ${ALGORITHM})`;
    }
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return `claim check failed: ${(e as Error).message}`;
    default:
      return code ? `not a valid JWT (${code})` : "not a valid JWT";
  }
}
