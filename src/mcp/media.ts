/**
 * Content negotiation for Streamable HTTP (spec 2025-11-25, "Sending Messages to the Server"): a POST must
 * accept both JSON and SSE answers (the server picks per request), and its body must be UTF-8 JSON.
 */

/** Whether an `Accept` header admits `type`; no header accepts anything (RFC 9110 §12.5.1). */
export function accepts(accept: string | null, type: string): boolean {
  if (accept === null || accept.trim() === "") return true;
  const wildcard = `${type.slice(0, type.indexOf("/"))}/*`;
  return accept.toLowerCase().split(",").some((part) => {
    const [range, ...params] = part.split(";").map((p) => p.trim());
    // `q=0` means "not acceptable" (RFC 9110 §12.4.2).
    if (params.some((p) => /^q\s*=\s*0(\.0{0,3})?$/.test(p))) return false;
    return range === type || range === wildcard || range === "*/*";
  });
}

/** Why a POST's `Accept` is refused (406), or undefined when it accepts both JSON and SSE answers. */
export function postAcceptProblem(accept: string | null): string | undefined {
  return remembered(acceptVerdicts, accept, () => {
    if (accepts(accept, "application/json") && accepts(accept, "text/event-stream")) return undefined;
    return `Not Acceptable: the Accept header must allow both application/json and text/event-stream, got ${
      JSON.stringify(accept)
    }`;
  });
}

/**
 * Verdicts on header values: a client sends the same `Accept` and `Content-Type` with every request, and
 * parsing them cost more than the rest of the checks. Bounded: forgetting costs only a parse again.
 */
const acceptVerdicts = new Map<string | null, string | undefined>();
const contentTypeVerdicts = new Map<string | null, string | undefined>();
const MAX_VERDICTS = 256;

function remembered(
  verdicts: Map<string | null, string | undefined>,
  value: string | null,
  decide: () => string | undefined,
): string | undefined {
  if (verdicts.has(value)) return verdicts.get(value);
  const verdict = decide();
  if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
  verdicts.set(value, verdict);
  return verdict;
}

/**
 * Why a POST's `Content-Type` is refused (415), or undefined for JSON in UTF-8. A `charset` other than UTF-8
 * is refused rather than silently decoded as UTF-8 (JSON text exchanged between systems is UTF-8, RFC 8259 §8.1).
 */
export function contentTypeProblem(contentType: string | null): string | undefined {
  return remembered(contentTypeVerdicts, contentType, () => contentTypeVerdict(contentType));
}

function contentTypeVerdict(contentType: string | null): string | undefined {
  const [type, ...params] = (contentType ?? "").split(";").map((p) => p.trim());
  if (type.toLowerCase() !== "application/json") {
    return `Unsupported Media Type: Content-Type must be application/json, got ${
      JSON.stringify(type || "(none)")
    }`;
  }
  for (const param of params) {
    const [name, value] = param.split("=").map((p) => p.trim().replace(/^"|"$/g, "").toLowerCase());
    if (name === "charset" && value !== "utf-8" && value !== "utf8") {
      return `Unsupported Media Type: JSON must be UTF-8, got charset=${value}`;
    }
  }
  return undefined;
}
