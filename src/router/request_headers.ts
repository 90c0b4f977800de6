/**
 * Request-headers phase: every request is pointed at the broker's public host first, so nothing reaches a
 * backend except through a decision the body phase makes. Client-sent router headers are stripped. The
 * reply also asks Envoy only for the messages this request needs (`phases.ts`); a 2026 request the broker
 * answers is decided here, from `Mcp-Method`, without its body.
 */
import { headerRecord, type HttpHeaders, type ProcessingResponse } from "./proto.ts";
import { HAIRPIN_HOST_HEADER, HAIRPIN_TOKEN_HEADER } from "../mcp/backend_headers.ts";
import { BROKER_SERVER_NAME, ROUTER_OWNED_HEADERS, type RouterContext, type StreamState } from "./context.ts";
import { modeOverride, planRequest } from "./phases.ts";
import { requestHeadersReply, type RoutingFacts } from "./replies.ts";

const STRIPPED = [...ROUTER_OWNED_HEADERS, HAIRPIN_TOKEN_HEADER, HAIRPIN_HOST_HEADER];

export function handleRequestHeaders(
  ctx: RouterContext,
  state: StreamState,
  message: HttpHeaders,
): ProcessingResponse {
  const headers = headerRecord(message.headers);
  state.requestHeaders = headers;
  if (ctx.tracer) state.trace = ctx.tracer.decide(headers);
  const plan = planRequest(ctx, headers, !!message.end_of_stream);
  state.era = plan.era;
  state.phases = plan.phases;
  state.routable = plan.routable;
  const set: Record<string, string> = { ":authority": ctx.publicHost };
  let facts: RoutingFacts | undefined;
  if (plan.era === "2026" && !plan.phases.body) {
    // Decided here: the broker checks the body against these headers and answers (or refuses) it.
    set["x-mcp-servername"] = BROKER_SERVER_NAME;
    set["x-mcp-era"] = "2026";
    if (plan.method !== undefined) set["x-mcp-method"] = plan.method;
    facts = { method: plan.method, servername: BROKER_SERVER_NAME, era: "2026" };
    state.trace?.decided({ method: plan.method, era: "2026", route: "broker" });
  }
  return requestHeadersReply({
    set,
    remove: STRIPPED.filter((h) => headers.has(h)),
    clearRouteCache: true,
  }, { mode: modeOverride(plan.phases), facts });
}
