/**
 * One request's identity from its headers: the bearer token (when the broker validates tokens), the
 * trusted header (when a policy layer sends one) and the selected virtual server, combined into one
 * {@link Identity}. This is the call `admit()` makes in both data paths.
 *
 * ```ts
 * const resolver = await IdentityResolver.create({ oauth, trustedHeader: { publicKeyPem, enforceCapabilityFiltering } });
 * const result = await resolver.resolve(request.headers);
 * if (!result.ok) return bearerErrorResponse(result.error, rawId);
 * const { identity } = result; // carried to lists, calls and the audit log
 * ```
 */
import { type BearerError, BearerValidator, type OAuthOptionsInput } from "./bearer.ts";
import { ANONYMOUS, type CapabilitySource, type Identity, intersectCapabilities } from "./identity.ts";
import {
  type HeaderSource,
  type TrustedHeaderOptions,
  type TrustedHeaderResult,
  TrustedHeaderVerifier,
} from "./trusted_header.ts";

export const VIRTUAL_SERVER_HEADER = "x-mcp-virtualserver";

/**
 * Headers only the gateway and its policy layer may set: stripped before any request leaves for a
 * backend, in both data paths (Kuadrant strips the same: CLAUDE.md "internal headers").
 */
export const INTERNAL_IDENTITY_HEADERS = [
  "x-mcp-authorized",
  "x-authorized-tools",
  VIRTUAL_SERVER_HEADER,
] as const;

export interface IdentityResolverOptions {
  /** Token validation; absent or `validateTokens: false` means tokens are not the broker's business. */
  oauth?: OAuthOptionsInput;
  trustedHeader?: TrustedHeaderOptions;
}

export type ResolveResult =
  | { ok: true; identity: Identity; trustedHeader: TrustedHeaderResult }
  | { ok: false; error: BearerError };

/** Combines what each source established; pure, so both paths and the tests agree on the rule. */
export function combineIdentity(
  token: Identity | undefined,
  header: TrustedHeaderResult,
  virtualServer: string | undefined,
): Identity {
  const base: Identity = token ??
    (header.status === "valid"
      ? { ...ANONYMOUS, source: "trusted-header", subject: header.subject, clientId: header.clientId }
      : ANONYMOUS);
  const sources: CapabilitySource[] = [...base.capabilitySources];
  if (header.status !== "absent") sources.push("trusted-header");
  else if (header.allowed) sources.push("enforcement");
  const allowed = intersectCapabilities(base.allowed, header.allowed);
  const identity: Identity = { ...base, allowed, capabilitySources: sources };
  if (!identity.subject && header.status === "valid" && header.subject) identity.subject = header.subject;
  if (!identity.clientId && header.status === "valid" && header.clientId) identity.clientId = header.clientId;
  if (virtualServer) identity.virtualServer = virtualServer;
  return identity;
}

/**
 * Who the subject is, unique across issuers: what a 2025-era session is bound to, so another user's
 * token on it is refused. Undefined for an identity without a subject.
 */
export function subjectKey(identity: Identity): string | undefined {
  if (!identity.subject) return undefined;
  return `${identity.issuer ?? identity.source}|${identity.subject}`;
}

export class IdentityResolver {
  private constructor(
    readonly bearer: BearerValidator | undefined,
    readonly trustedHeader: TrustedHeaderVerifier,
  ) {}

  static async create(options: IdentityResolverOptions): Promise<IdentityResolver> {
    const bearer = options.oauth?.validateTokens ? new BearerValidator(options.oauth) : undefined;
    const trustedHeader = await TrustedHeaderVerifier.create(options.trustedHeader ?? {});
    return new IdentityResolver(bearer, trustedHeader);
  }

  async resolve(headers: HeaderSource): Promise<ResolveResult> {
    let token: Identity | undefined;
    if (this.bearer) {
      const result = await this.bearer.validate(headers.get("authorization"));
      if (!result.ok) return result;
      token = result.identity;
    }
    const header = await this.trustedHeader.verify(headers);
    const virtualServer = headers.get(VIRTUAL_SERVER_HEADER) ?? undefined;
    return {
      ok: true,
      identity: combineIdentity(token, header, virtualServer || undefined),
      trustedHeader: header,
    };
  }
}
