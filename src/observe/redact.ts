/**
 * Secrets people put in server URLs (`https://user:token@host/mcp?api_key=…`) must never reach a client or a
 * log: `/status`, `lastError`, `/debug/*` and log lines show URLs through these functions. The real URL is
 * only ever used to connect.
 *
 * ```ts
 * redactUrl("https://bot:s3cret@tools.example.com/mcp?api_key=abc&v=2");
 * // "https://redacted@tools.example.com/mcp?api_key=redacted&v=redacted"
 * ```
 */

/** What replaces userinfo and every query value. */
export const REDACTED = "redacted";

/** A URL inside free text: scheme, `://`, then anything up to whitespace, quotes, brackets or parentheses. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>()\[\]{}`]+/gi;

/**
 * One URL with its userinfo and query values replaced. Query keys stay (they say what was configured);
 * values go, since the gateway cannot tell an API key from a harmless flag. The fragment is never sent, so
 * it is kept. Works on the text, so a URL that does not parse is still redacted.
 */
export function redactUrl(url: string): string {
  const scheme = url.indexOf("://");
  if (scheme < 0) return url;
  const authorityStart = scheme + 3;
  const rest = url.slice(authorityStart);
  const authorityEnd = rest.search(/[/?#]/);
  let authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  let tail = authorityEnd < 0 ? "" : rest.slice(authorityEnd);
  const at = authority.lastIndexOf("@");
  if (at >= 0) authority = `${REDACTED}@${authority.slice(at + 1)}`;
  const query = tail.indexOf("?");
  if (query >= 0) {
    const hash = tail.indexOf("#", query);
    const end = hash < 0 ? tail.length : hash;
    const params = tail.slice(query + 1, end).split("&").map((part) => {
      if (part === "") return part;
      const eq = part.indexOf("=");
      return eq < 0 ? REDACTED : `${part.slice(0, eq)}=${REDACTED}`;
    });
    tail = `${tail.slice(0, query)}?${params.join("&")}${tail.slice(end)}`;
  }
  return `${url.slice(0, authorityStart)}${authority}${tail}`;
}

/** Every URL in a message (an error from fetch, a backend's answer) redacted; other text unchanged. */
export function redactUrlsIn(text: string): string {
  if (!text.includes("://")) return text;
  // Sentence punctuation right after a URL ("cannot reach http://h/mcp?k=v, retrying") is not part of it.
  return text.replace(URL_IN_TEXT, (url) => {
    const trailing = /[.,;:!?]+$/.exec(url)?.[0] ?? "";
    return redactUrl(url.slice(0, url.length - trailing.length)) + trailing;
  });
}

/** A routed `:path` (`/mcp?api_key=…`) with its query values redacted. */
export function redactPath(path: string): string {
  return path.includes("?") ? redactUrl(`x://h${path}`).slice("x://h".length) : path;
}
