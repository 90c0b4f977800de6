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

export type ClientCapabilities = Partial<Record<RequestCapability, Record<string, boolean | object>>> & {
  /**
   * Extensions the client declared (MCP 2026-07-28 `clientCapabilities.extensions`, e.g. the tasks
   * extension), by identifier. Kept only from 2026 envelopes: a 2025 session token never carries them.
   */
  extensions?: Record<string, Record<string, unknown>>;
};

/** Extension identifiers look like `io.modelcontextprotocol/tasks`. */
const EXTENSION_ID = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,127}$/;
/** Bounds on what an envelope's `extensions` may carry through the gateway. */
const MAX_EXTENSIONS = 16;
const MAX_EXTENSION_SETTINGS_CHARS = 1024;

function isObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

/**
 * Reduces declared capabilities to the bounded shape above; unknown keys and values are dropped.
 * `extensions: true` (2026 envelopes) also keeps up to 16 declared extensions, each with its settings
 * object when small (else `{}`: the extension is declared, its settings are not carried).
 */
export function normalizeClientCapabilities(
  declared: unknown,
  options: { extensions?: boolean } = {},
): ClientCapabilities {
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
  if (options.extensions && isObject(declared.extensions)) {
    const extensions: Record<string, Record<string, unknown>> = {};
    for (const [id, settings] of Object.entries(declared.extensions).slice(0, MAX_EXTENSIONS)) {
      if (!EXTENSION_ID.test(id) || !isObject(settings)) continue;
      extensions[id] = JSON.stringify(settings).length <= MAX_EXTENSION_SETTINGS_CHARS ? settings : {};
    }
    if (Object.keys(extensions).length) out.extensions = extensions;
  }
  return out;
}
