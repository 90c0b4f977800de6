/**
 * `GET /debug/explain?tool=NAME` (or `prompt=`, `uri=`, `session=`): why a name is served (or not) by whom,
 * since which event, after which conflict, with the server's health history; or a session's bindings and
 * events. Answered from projection state (see `observe/explain_query.ts`), rendered like every `/debug`
 * answer, with URLs in reasons redacted as in the event log file, so a replay gives the same text.
 */
import { explain, parseExplainQuery } from "../observe/explain_query.ts";
import type { BrokerContext } from "./context.ts";
import { debugReplacer } from "./debug.ts";

export function handleExplain(ctx: BrokerContext, url: URL): Response {
  const parsed = parseExplainQuery(url.searchParams);
  if (!parsed.ok) return Response.json({ error: parsed.error }, { status: 400 });
  const answer = explain(
    { explain: ctx.explain.state, sessions: ctx.sessions.state, recent: ctx.log.recent() },
    parsed.query,
  );
  return new Response(renderExplain(answer, (text) => ctx.redactor.text(text)), {
    headers: { "content-type": "application/json" },
  });
}

/** An explain answer as JSON: `/debug` rendering, every string's URLs redacted by `redact`. */
export function renderExplain(answer: unknown, redact: (text: string) => string): string {
  return JSON.stringify(answer, (key, value) => {
    const v = debugReplacer(key, value);
    return typeof v === "string" ? redact(v) : v;
  });
}
