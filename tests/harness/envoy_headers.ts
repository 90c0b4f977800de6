/**
 * Envoy's header handling for the harness: an ordered, multi-valued header list (pseudo-headers included)
 * and ext_proc's mutation rules, as Envoy's `mutation_utils.cc` / `mutation_rules.cc` apply them.
 */
import type { HeaderMap, HeaderMutation } from "../../src/router/proto.ts";

/**
 * Header values are bytes on the wire, and Envoy hands them to a processor as they are. Deno's `Headers`
 * hold them as byte strings (one char per byte), so they cross to and from `raw_value` byte for byte.
 */
const bytesOf = (value: string) => Uint8Array.from(value, (c) => c.charCodeAt(0) & 0xff);
const byteString = (bytes: Uint8Array) => Array.from(bytes, (b) => String.fromCharCode(b)).join("");

/** Ordered header list with lower-case names, as Envoy's HeaderMap. */
export class HeaderList {
  entries: [string, string][] = [];

  static fromRequest(req: Request, extra: [string, string][]): HeaderList {
    const list = new HeaderList();
    list.entries.push(...extra);
    for (const [k, v] of req.headers) list.entries.push([k.toLowerCase(), v]);
    return list;
  }

  get(name: string): string | undefined {
    const values = this.entries.filter(([k]) => k === name).map(([, v]) => v);
    return values.length ? values.join(", ") : undefined;
  }
  has(name: string): boolean {
    return this.entries.some(([k]) => k === name);
  }
  set(name: string, value: string) {
    const i = this.entries.findIndex(([k]) => k === name);
    this.remove(name);
    this.entries.splice(i < 0 ? this.entries.length : i, 0, [name, value]);
  }
  add(name: string, value: string) {
    this.entries.push([name, value]);
  }
  remove(name: string) {
    this.entries = this.entries.filter(([k]) => k !== name);
  }
  /** As Envoy sends them to a processor: every value in `raw_value`, never `value` (rule 2). */
  toHeaderMap(): HeaderMap {
    return { headers: this.entries.map(([key, v]) => ({ key, raw_value: bytesOf(v) })) };
  }
  /** Regular (non-pseudo) headers, minus hop-by-hop ones, for an HTTP/1.1 hop. */
  toHeaders(drop: ReadonlySet<string> = HOP_BY_HOP): Headers {
    const h = new Headers();
    for (const [k, v] of this.entries) if (!k.startsWith(":") && !drop.has(k)) h.append(k, v);
    return h;
  }
}

export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "te",
  "upgrade",
  "proxy-connection",
  "host",
  "content-length",
]);

export interface MutationRules {
  /** `mutation_rules.allow_all_routing`: may set `:authority`, `host`, `:method`, `:scheme`. */
  allowAllRouting: boolean;
  /** `mutation_rules.allow_envoy`: may touch `x-envoy-*`. */
  allowEnvoy: boolean;
}

export type MutationOutcome = { ok: true } | { ok: false; error: string };

const ROUTING = new Set([":authority", "host", ":method", ":scheme"]);
const VALID_NAME = /^:?[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const VALID_AUTHORITY = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(:\d{1,5})?$/;

/** Would Envoy's HeaderMutationChecker let a processor set this header? (disallowed → silently ignored) */
function allowedToSet(
  name: string,
  value: string,
  phase: "request" | "response",
  rules: MutationRules,
): string | null {
  if (ROUTING.has(name)) {
    if (!rules.allowAllRouting) return `${name} needs mutation_rules.allow_all_routing`;
    if ((name === ":authority" || name === "host") && !VALID_AUTHORITY.test(value)) {
      return `${name} value ${JSON.stringify(value)} is not a valid authority`;
    }
    if (phase === "response") return `${name} cannot be set on a response`;
    return null;
  }
  if (name.startsWith("x-envoy-") && !rules.allowEnvoy) return `${name} needs mutation_rules.allow_envoy`;
  if (name === ":path") return phase === "request" ? null : ":path cannot be set on a response";
  if (name === ":status") {
    if (phase !== "response") return ":status can only be set on a response";
    return /^\d{3}$/.test(value) && Number(value) >= 200
      ? null
      : `:status ${JSON.stringify(value)} is not valid`;
  }
  if (name.startsWith(":")) return `pseudo-header ${name} cannot be set`;
  return null;
}

/**
 * Applies one HeaderMutation like Envoy: removals first, then sets in order; overwrite unless
 * `append.value`; `append_action` ignored; only `raw_value` read. Disallowed entries are skipped with a
 * warning; malformed ones (both value and raw_value, bad characters) fail the whole reply.
 */
export function applyHeaderMutation(
  list: HeaderList,
  mutation: HeaderMutation | null | undefined,
  phase: "request" | "response",
  rules: MutationRules,
  warnings: string[],
): MutationOutcome {
  if (!mutation) return { ok: true };
  for (const raw of mutation.remove_headers ?? []) {
    const name = raw.toLowerCase();
    if (name.startsWith(":") || name === "host") {
      warnings.push(`remove ${name} rejected: pseudo-headers and host cannot be removed`);
      continue;
    }
    if (name.startsWith("x-envoy-") && !rules.allowEnvoy) {
      warnings.push(`remove ${name} rejected: needs allow_envoy`);
      continue;
    }
    list.remove(name);
  }
  for (const option of mutation.set_headers ?? []) {
    const header = option.header;
    if (!header?.key) return { ok: false, error: "set_headers entry without a key" };
    const name = header.key.toLowerCase();
    if (!VALID_NAME.test(name)) {
      return { ok: false, error: `invalid header name ${JSON.stringify(header.key)}` };
    }
    const hasRaw = !!header.raw_value && header.raw_value.length > 0;
    if (hasRaw && header.value) return { ok: false, error: `${name}: both value and raw_value are set` };
    if (!hasRaw && header.value) {
      warnings.push(`${name}: only \`value\` set; Envoy reads raw_value, so the value is empty`);
    }
    const value = hasRaw ? byteString(header.raw_value!) : "";
    if (/[\r\n\0]/.test(value)) return { ok: false, error: `${name}: invalid characters in value` };
    const action = option.append_action;
    if (action !== undefined && action !== 0 && action !== "APPEND_IF_EXISTS_OR_ADD") {
      warnings.push(`${name}: append_action ${action} is ignored by ext_proc (only \`append\` is honoured)`);
    }
    const rejected = allowedToSet(name, value, phase, rules);
    if (rejected) {
      warnings.push(`set ${name} rejected: ${rejected}`);
      continue;
    }
    if (option.append?.value === true) {
      if (name.startsWith(":")) {
        warnings.push(`append to ${name} rejected`);
        continue;
      }
      list.add(name, value);
    } else list.set(name, value);
  }
  return { ok: true };
}
