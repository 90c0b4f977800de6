/**
 * Capabilities read from a validated access token itself, for standalone users with no policy engine in
 * front. The default reads Keycloak's client roles, the convention Kuadrant's AuthPolicy examples use:
 *
 * ```json
 * { "resource_access": { "weather-service": { "roles": ["tool:get_forecast", "prompt:summary"] } } }
 * ```
 *
 * A client (here `weather-service`) per MCP server, named as the gateway names the server (in controller
 * mode `<namespace>/<route>`), with roles `tool:<name>` and `prompt:<name>` (names as the server knows
 * them, unprefixed). As in Kuadrant's Rego that builds `allowed-capabilities` from these roles, tools and
 * prompts are always restricted (no role: nothing); resources only when `types` says so.
 *
 * Other claim layouts: `format: "capabilities"` reads a claim holding Kuadrant's `allowed-capabilities`
 * object (or its JSON string), e.g. one a custom token mapper writes.
 *
 * ```ts
 * const options = TokenCapabilitiesOptionsSchema.parse({}); // resource_access, roles
 * capabilitiesFromClaims(payload, options); // { tools: { "weather-service": ["get_forecast"] }, prompts: { … } }
 * ```
 */
import { z } from "zod";
import {
  type AllowedCapabilities,
  AllowedCapabilitiesSchema,
  CAPABILITY_TYPES,
  type CapabilityType,
} from "./identity.ts";

export const TokenCapabilitiesOptionsSchema = z.object({
  /**
   * Where the claim is: a top-level claim name, or a dotted path into nested objects (`mcp.allowed`).
   * A top-level claim whose name contains dots (`https://example.com/caps`) is found as it is.
   */
  claim: z.string().min(1).default("resource_access"),
  /**
   * `roles`: `{ "<server>": { "roles": ["tool:x", "prompt:y", "resource:z"] } }` (Keycloak client roles).
   * `capabilities`: Kuadrant's `{ "tools": { "<server>": ["x"] }, … }`, as an object or a JSON string.
   */
  format: z.enum(["roles", "capabilities"]).default("roles"),
  /** For `roles`: the types the token governs; a type left out is not restricted by the token. */
  types: z.array(z.enum(CAPABILITY_TYPES)).default(["tools", "prompts"]),
});
export type TokenCapabilitiesOptions = z.infer<typeof TokenCapabilitiesOptionsSchema>;

/** Role prefix per type, as Kuadrant's examples spell them (`tool:greet`, `prompt:math_tutor`). */
const ROLE_PREFIX: Record<CapabilityType, string> = {
  tools: "tool:",
  prompts: "prompt:",
  resources: "resource:",
};

/** Reads `claim` from a token payload: the literal key first, then as a dotted path. */
export function readClaim(payload: Record<string, unknown>, claim: string): unknown {
  if (Object.hasOwn(payload, claim)) return payload[claim];
  let node: unknown = payload;
  for (const part of claim.split(".")) {
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

const RolesClaimSchema = z.record(z.string(), z.object({ roles: z.array(z.string()).default([]) }).loose());

/**
 * The token's capabilities. A token without the claim (or with an unreadable one) allows nothing of the
 * governed types: with token capabilities configured, the token is the policy, and silence is not consent.
 */
export function capabilitiesFromClaims(
  payload: Record<string, unknown>,
  options: TokenCapabilitiesOptions,
): AllowedCapabilities {
  const raw = readClaim(payload, options.claim);
  if (options.format === "capabilities") {
    const value = typeof raw === "string" ? safeJson(raw) : raw;
    const parsed = AllowedCapabilitiesSchema.safeParse(value);
    if (!parsed.success) return { tools: {}, prompts: {}, resources: {} };
    const out: Partial<Record<CapabilityType, Record<string, string[]>>> = {};
    for (const type of CAPABILITY_TYPES) if (parsed.data[type]) out[type] = parsed.data[type];
    return out;
  }
  const out: Partial<Record<CapabilityType, Record<string, string[]>>> = {};
  for (const type of options.types) out[type] = {};
  const parsed = RolesClaimSchema.safeParse(raw);
  if (!parsed.success) return out;
  for (const [server, { roles }] of Object.entries(parsed.data)) {
    for (const type of options.types) {
      const prefix = ROLE_PREFIX[type];
      const names = roles.filter((r) => r.startsWith(prefix) && r.length > prefix.length).map((r) =>
        r.slice(prefix.length)
      );
      if (names.length > 0) out[type]![server] = names;
    }
  }
  return out;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
