/**
 * `/debug/events` and `/debug/projections`: the recent log and each projection's state, so "why is tool X
 * routed to Y?" is answered from the facts. Credentials, and the secrets people put in server URLs (userinfo,
 * query values), are redacted before anything leaves the process.
 */
import type { EventLog } from "../events/log.ts";
import { redactPath, redactUrlsIn } from "../observe/redact.ts";

/** JSON replacer: Maps become objects, credentials become "[redacted]", URLs lose userinfo and query values. */
function replacer(key: string, value: unknown): unknown {
  if (key === "credential" && typeof value === "string") return "[redacted]";
  // A route's `path` is the URL's path and query, as the router sets `:path`.
  if (key === "path" && typeof value === "string") return redactPath(value);
  if (typeof value === "string") return redactUrlsIn(value);
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

export function handleDebug(log: EventLog, path: string, url: URL): Response {
  const headers = { "content-type": "application/json" };
  if (path === "/debug/events") {
    const limit = Math.min(Number(url.searchParams.get("limit") ?? 200) || 200, 10_000);
    const type = url.searchParams.get("type");
    const events = log.recent(limit).filter((e) => !type || e.type === type);
    return new Response(JSON.stringify({ lastSeq: log.lastSeq, counts: log.counts(), events }, replacer), {
      headers,
    });
  }
  if (path === "/debug/projections") {
    const name = url.searchParams.get("name");
    const states = Object.fromEntries(
      log.projections().filter((p) => !name || p.name === name).map((p) => [p.name, p.state]),
    );
    return new Response(JSON.stringify(states, replacer), { headers });
  }
  return Response.json({ error: "Not found. Try /debug/events or /debug/projections" }, { status: 404 });
}

/** The replacer `/debug/*` answers are rendered with; a replay renders its output with it too. */
export { replacer as debugReplacer };
