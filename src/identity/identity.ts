/**
 * Who a request is, as one value computed once at the edge (the broker's HTTP handler or the router's
 * headers phase) and carried by both data paths. Everything downstream (list filtering, call refusal,
 * the audit log) reads this value and never a header or a token again.
 *
 * ```ts
 * const anonymous = ANONYMOUS; // no token, no trusted header: unrestricted unless enforcement says otherwise
 * const restricted: Identity = { ...ANONYMOUS, allowed: { tools: { "weather-service": ["get_forecast"] } } };
 * ```
 */
import { z } from "zod";

/** The three capability types of Kuadrant's `allowed-capabilities` claim. */
export const CAPABILITY_TYPES = ["tools", "prompts", "resources"] as const;
export type CapabilityType = typeof CAPABILITY_TYPES[number];

/**
 * Server name → the names that server knows its items by (unprefixed). For tools and prompts these are
 * the server's tool and prompt names; for resources, Kuadrant lists URI authorities (`ui://host/x` →
 * `host`, the server's own, before the gateway's prefix), and an exact upstream URI or URI template is
 * accepted too.
 */
export type CapabilityMap = Readonly<Record<string, readonly string[]>>;

/**
 * What an identity may use, per type, with Kuadrant's semantics (internal/broker/filtered_*_handler.go):
 * - a type whose key is absent is not restricted (the policy said nothing about it);
 * - a type whose map is empty (`{}`) allows nothing of that type;
 * - a server absent from a type's map gets nothing of that type.
 *
 * Enforcement (`--enforce-capability-filtering`) is applied when the value is built (absent keys become
 * `{}`), so readers never need the flag.
 */
export type AllowedCapabilities = Readonly<Partial<Record<CapabilityType, CapabilityMap>>>;

/** Nothing of any type: an invalid trusted header, or a missing one under enforcement. */
export const DENY_ALL: AllowedCapabilities = Object.freeze({ tools: {}, prompts: {}, resources: {} });

/** Where the identity's subject was established. */
export type IdentitySource =
  /** No credential: the gateway does not validate tokens and no trusted header came. */
  | "anonymous"
  /** A bearer token the broker validated itself (`--oauth-validate-tokens`). */
  | "token"
  /** Only a trusted header from the policy layer in front (Kuadrant's `x-mcp-authorized`). */
  | "trusted-header";

/** Which inputs narrowed `allowed` (for the audit log and debugging: "why can't alice see X?"). */
export type CapabilitySource = "trusted-header" | "token-claims" | "enforcement";

export interface Identity {
  source: IdentitySource;
  /** `sub` of the validated token (or of the trusted header when the policy layer put it there). */
  subject?: string;
  /** OAuth client: `client_id` (RFC 9068) or `azp` (OIDC, Keycloak). */
  clientId?: string;
  /** `iss` of the validated token. */
  issuer?: string;
  /** Granted scopes (`scope`, space-separated, or `scp`). */
  scopes: readonly string[];
  /** `exp` of the validated token, seconds since the epoch. */
  expiresAt?: number;
  /** Undefined: not restricted at all. See {@link AllowedCapabilities}. */
  allowed?: AllowedCapabilities;
  /** What narrowed `allowed`, in the order applied. */
  capabilitySources: readonly CapabilitySource[];
  /** Name from `X-Mcp-Virtualserver`, when the request selected one (it narrows, never grants). */
  virtualServer?: string;
}

export const ANONYMOUS: Identity = Object.freeze({
  source: "anonymous",
  scopes: Object.freeze([]) as readonly string[],
  capabilitySources: Object.freeze([]) as readonly CapabilitySource[],
});

/** The `allowed-capabilities` JSON (Kuadrant's claim value once parsed); unknown types are ignored. */
export const AllowedCapabilitiesSchema = z.object({
  tools: z.record(z.string(), z.array(z.string())).optional(),
  prompts: z.record(z.string(), z.array(z.string())).optional(),
  resources: z.record(z.string(), z.array(z.string())).optional(),
});

/**
 * Both sources narrow: a type restricted by either is restricted to what both allow. Used when a token's
 * own claims and a trusted header both speak.
 */
export function intersectCapabilities(
  a: AllowedCapabilities | undefined,
  b: AllowedCapabilities | undefined,
): AllowedCapabilities | undefined {
  if (!a) return b;
  if (!b) return a;
  const out: Partial<Record<CapabilityType, CapabilityMap>> = {};
  for (const type of CAPABILITY_TYPES) {
    const x = a[type], y = b[type];
    if (!x || !y) {
      const only = x ?? y;
      if (only) out[type] = only;
      continue;
    }
    const map: Record<string, string[]> = {};
    for (const [server, names] of Object.entries(x)) {
      const other = y[server];
      if (!other) continue;
      const keep = new Set(other);
      map[server] = names.filter((n) => keep.has(n));
    }
    out[type] = map;
  }
  return out;
}

/**
 * Under enforcement a type the policy did not mention allows nothing (Kuadrant: a missing key with
 * `enforceCapabilityFilter` returns an empty list).
 */
export function enforceAllTypes(allowed: AllowedCapabilities): AllowedCapabilities {
  return {
    tools: allowed.tools ?? {},
    prompts: allowed.prompts ?? {},
    resources: allowed.resources ?? {},
  };
}
