/**
 * Which ext_proc messages a request needs, decided from its headers alone (the request-headers phase), and
 * the `mode_override` that asks Envoy for exactly those. Envoy takes an override only in a headers reply,
 * and only with `allow_mode_override` in the filter config; without it every message comes as configured
 * and each handler still answers it (an extra message costs a round trip, never a wrong answer).
 *
 * | request                                              | body      | response headers     |
 * | ---------------------------------------------------- | --------- | -------------------- |
 * | 2025 POST                                            | BUFFERED  | SEND (session id, unbind on 404) |
 * | 2026 `tools/call`/`prompts/get` to a 2026 backend    | BUFFERED  | SEND only for the audit line |
 * | any other 2026 POST (the broker checks and answers)  | NONE      | SKIP                 |
 * | no body (GET, DELETE, empty POST)                    | (none)    | SKIP                 |
 *
 * A 2026 request names its method and target in `Mcp-Method` and `Mcp-Name` (SEP-2243), so the router can
 * tell from the headers whether a backend answers it through Envoy. The body still has to be read for
 * those: it must agree with the headers, and a prefixed name is rewritten in it. Everything else 2026 goes
 * to the broker, which reads and checks the body itself.
 */
import { backendWire } from "../mcp/backend_wire.ts";
import { HAIRPIN_HOST_HEADER, HAIRPIN_TOKEN_HEADER } from "../mcp/backend_headers.ts";
import {
  decodeHeaderValue,
  MCP_METHOD_HEADER,
  MCP_NAME_HEADER,
  PROTOCOL_VERSION_HEADER,
  stripOws,
} from "../era/headers.ts";
import { type Era, eraOfVersion } from "../mcp/protocol.ts";
import type { ProcessingMode } from "./proto.ts";
import type { Phases, RouterContext } from "./context.ts";

/** What the headers say of a request: its era, what it still needs, and whether a backend may answer it. */
export interface RequestPlan {
  era: Era;
  phases: Phases;
  /** 2026: a call the body phase routes to a backend through Envoy (unless the body says otherwise). */
  routable: boolean;
  /** 2026: the method `Mcp-Method` names (checked against the body by whoever reads it). */
  method?: string;
}

/** Every message, as the shipped processing mode sends them (SEND/SEND/BUFFERED/NONE/SKIP/SKIP). */
export const ALL_PHASES: Phases = { body: true, responseHeaders: true };
const NO_PHASES: Phases = { body: false, responseHeaders: false };

/** 2026 methods whose target `Mcp-Name` names and whose answer the backend's stream carries untouched. */
const ROUTABLE_2026 = new Set(["tools/call", "prompts/get"]);

export function planRequest(
  ctx: Pick<RouterContext, "routing" | "audit">,
  headers: Map<string, string>,
  endOfStream: boolean,
): RequestPlan {
  // GET and DELETE are 2025 session operations the broker serves; a body-less POST is refused by it.
  if (headers.get(":method") !== "POST" || endOfStream) {
    return { era: "2025", phases: NO_PHASES, routable: false };
  }
  const version = headers.get(PROTOCOL_VERSION_HEADER);
  // The router's own hairpin, and every 2025 request, is decided from the body as before.
  if (
    version === undefined || eraOfVersion(stripOws(version)) !== "2026" || headers.has(HAIRPIN_HOST_HEADER) ||
    headers.has(HAIRPIN_TOKEN_HEADER)
  ) {
    return { era: "2025", phases: ALL_PHASES, routable: false };
  }
  const methodHeader = headers.get(MCP_METHOD_HEADER);
  const method = methodHeader === undefined ? undefined : stripOws(methodHeader);
  const nameHeader = headers.get(MCP_NAME_HEADER);
  if (method !== undefined && ROUTABLE_2026.has(method) && nameHeader !== undefined) {
    const name = decodeHeaderValue(stripOws(nameHeader));
    const { base, view } = ctx.routing.state;
    const route = name === undefined
      ? undefined
      : (method === "tools/call" ? view.table.routes : view.table.prompts).get(name);
    const upstream = route && base.servers.get(route.server);
    // A 2025-only backend needs a session the broker holds for the caller: the broker carries those.
    if (upstream && backendWire(upstream, "2026") === "stateless") {
      return { era: "2026", phases: { body: true, responseHeaders: !!ctx.audit }, routable: true, method };
    }
  }
  return { era: "2026", phases: NO_PHASES, routable: false, method };
}

/**
 * The `mode_override` for `phases`, or undefined when they are what the shipped mode sends anyway. All six
 * fields are filled: newer Envoy keeps the configured value for DEFAULT header modes but takes body modes
 * literally, older Envoy took the whole message literally.
 */
export function modeOverride(phases: Phases): ProcessingMode | undefined {
  if (phases.body && phases.responseHeaders) return undefined;
  return {
    request_header_mode: "SEND",
    response_header_mode: phases.responseHeaders ? "SEND" : "SKIP",
    request_body_mode: phases.body ? "BUFFERED" : "NONE",
    response_body_mode: "NONE",
    request_trailer_mode: "SKIP",
    response_trailer_mode: "SKIP",
  };
}
