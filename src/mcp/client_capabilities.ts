/**
 * The client capabilities the gateway carries in a session token and declares to backends on the client's
 * behalf. Only what the spec defines for roots, sampling and elicitation is kept, reduced to flags: what a
 * client sends can neither grow its token nor reach a backend as anything but a declaration.
 */

/** Capabilities that let a backend send the client requests (spec 2025-11-25, "Client capabilities"). */
export const REQUEST_CAPABILITIES = ["roots", "sampling", "elicitation"] as const;
export type RequestCapability = (typeof REQUEST_CAPABILITIES)[number];

/** Sub-capabilities the spec defines: flags (`listChanged`) and marker objects (`{}`). */
const KNOWN: Record<RequestCapability, { flags: string[]; markers: string[] }> = {
  roots: { flags: ["listChanged"], markers: [] },
  sampling: { flags: [], markers: ["context", "tools"] },
  elicitation: { flags: [], markers: ["form", "url"] },
};

export type ClientCapabilities = Partial<Record<RequestCapability, Record<string, boolean | object>>>;

function isObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

/** Reduces declared capabilities to the bounded shape above; unknown keys and values are dropped. */
export function normalizeClientCapabilities(declared: unknown): ClientCapabilities {
  const out: ClientCapabilities = {};
  if (!isObject(declared)) return out;
  for (const name of REQUEST_CAPABILITIES) {
    const value = declared[name];
    if (!isObject(value)) continue;
    const kept: Record<string, boolean | object> = {};
    for (const flag of KNOWN[name].flags) if (typeof value[flag] === "boolean") kept[flag] = value[flag];
    for (const marker of KNOWN[name].markers) if (isObject(value[marker])) kept[marker] = {};
    out[name] = kept;
  }
  return out;
}
