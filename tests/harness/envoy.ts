/**
 * An HTTP front proxy that plays Envoy with the ext_proc filter configured as in deploy/envoy/envoy.yaml:
 * one `Process` stream per request, processing mode SEND/SEND/BUFFERED/NONE/SKIP/SKIP, `message_timeout`,
 * fail-closed, `allow_all_routing`, `allow_mode_override`, routing by `:authority` (exact vhost domains,
 * default → broker, with the default virtual host's header routes and per-route ext_proc disabling). It
 * enforces the checklist of shared/reference/envoy-ext-proc.md §5 so a processor that passes here behaves
 * the same behind real Envoy: among them `mode_override` exactly as Envoy's `onReceiveMessage` takes it
 * (only with `allow_mode_override`, only while a headers message is outstanding, DEFAULT header and trailer
 * modes keeping the configured value, body modes literal, `allowed_override_modes` when set), and Envoy's
 * early close of the stream once no further message can follow. Limits: no trailers, request bodies are
 * buffered (STREAMED request bodies arrive as one chunk), and Host is always the upstream's (Deno's fetch
 * cannot set it), like `host_rewrite_literal`.
 */
import * as grpc from "@grpc/grpc-js";
import {
  type BodySendMode,
  type CommonResponse,
  externalProcessorClient,
  fromStruct,
  type HeaderSendMode,
  type ProcessCall,
  type ProcessingMode,
  type ProcessingRequest,
  type ProcessingResponse,
  type RequestArm,
  statusNumber,
} from "../../src/router/proto.ts";
import { applyHeaderMutation, HeaderList, type MutationRules } from "./envoy_headers.ts";
import { RelayedStreams } from "../helpers/relayed_streams.ts";

export interface EnvoyHarnessOptions {
  /** ext_proc gRPC address "host:port" (a function when the processor starts after the proxy). */
  extProc: string | (() => string);
  /** Virtual hosts: exact `:authority` → upstream base URL (only its origin is used). */
  clusters?: Record<string, string>;
  /**
   * The `*` virtual host (the broker); without it unmatched requests get Envoy's 404. A function when the
   * broker starts after the proxy (it needs the proxy's port for its hairpin).
   */
  defaultCluster?: string | (() => string);
  /** Listen port; 0 (default) picks one. */
  port?: number;
  processingMode?: ProcessingMode;
  /** `message_timeout`; the shipped config uses 10 s (Envoy's own default is 200 ms). */
  messageTimeoutMs?: number;
  /** `max_message_timeout`; 0 disables `override_message_timeout`. */
  maxMessageTimeoutMs?: number;
  failureModeAllow?: boolean;
  /** `allow_mode_override`; the shipped config sets it (default true here). */
  allowModeOverride?: boolean;
  /** `allowed_override_modes`: when non-empty, an override must equal one of them (request headers aside). */
  allowedOverrideModes?: ProcessingMode[];
  mutationRules?: Partial<MutationRules>;
  /** Newer fail-closed Envoy answers a spurious reply with 500; older/fail-open ignores it and continues. */
  spuriousResponse?: "error" | "ignore";
  /** `metadata_options.receiving_namespaces.untyped`. */
  receivingNamespaces?: string[];
  /** `per_connection_buffer_limit_bytes`: a BUFFERED body beyond it is answered 413 by Envoy itself. */
  bufferLimitBytes?: number;
  /**
   * Routes of the `*` virtual host before its catch-all, as Envoy route config (the generated bootstrap's
   * `brokerByHeaderRoute()`): `match.headers` (`string_match` exact or `safe_regex`, `present_match`,
   * `invert_match`), a cluster (`mcp_broker` = the default cluster), and `typed_per_filter_config` that may
   * disable ext_proc for the route.
   */
  defaultRoutes?: EnvoyRoute[];
}

/** The subset of an Envoy route (`envoy.config.route.v3.Route`) the harness understands. */
export interface EnvoyRoute {
  match: { prefix?: string; headers?: HeaderMatcher[] };
  route: { cluster: string };
  typed_per_filter_config?: Record<string, { disabled?: boolean }>;
}

interface HeaderMatcher {
  name: string;
  string_match?: { exact?: string; safe_regex?: { regex: string } };
  present_match?: boolean;
  invert_match?: boolean;
}

/**
 * Envoy's `HeaderMatcher` on one request's headers: a missing header fails the matcher whatever
 * `invert_match` says (`treat_missing_header_as_empty` unset); a regex must match the whole value.
 */
function headerMatches(headers: HeaderList, m: HeaderMatcher): boolean {
  const value = headers.get(m.name);
  if (value === undefined) return false;
  let ok = true;
  if (m.string_match?.exact !== undefined) ok = value === m.string_match.exact;
  else if (m.string_match?.safe_regex) {
    ok = new RegExp(`^(?:${m.string_match.safe_regex.regex})$`).test(value);
  } else if (m.present_match !== undefined) ok = m.present_match;
  return m.invert_match ? !ok : ok;
}

/** What happened to one request, for assertions. */
export interface Exchange {
  requestId: string;
  method: string;
  path: string;
  /** Messages sent to the processor, in order. */
  sent: RequestArm[];
  /** Upstream base URL the request went to; undefined for a local reply. */
  upstream?: string;
  /** Headers (pseudo included) as they left for the upstream. */
  upstreamHeaders?: [string, string][];
  upstreamBody?: string;
  status?: number;
  /** `%RESPONSE_CODE_DETAILS%` of a local reply. */
  details?: string;
  dynamicMetadata: Record<string, unknown>;
  /** Mutations Envoy would have rejected or ignored, and other surprises. */
  warnings: string[];
  /** Replies received after processing completed (ignored, as Envoy does). */
  ignoredReplies: number;
  /** The processing mode in force at the end, after any `mode_override`. */
  mode?: Required<ProcessingMode>;
}

export interface EnvoyHarness {
  port: number;
  url: string;
  exchanges: Exchange[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export const REFERENCE_MODE: Required<ProcessingMode> = {
  request_header_mode: "SEND",
  response_header_mode: "SEND",
  request_body_mode: "BUFFERED",
  response_body_mode: "NONE",
  request_trailer_mode: "SKIP",
  response_trailer_mode: "SKIP",
};

/**
 * The mode a `mode_override` sets, as newer Envoy computes it (`effectiveModeOverride`): header and trailer
 * modes left DEFAULT keep the configured value; body modes are taken literally (unset = NONE).
 */
export function effectiveModeOverride(
  override: ProcessingMode,
  configured: Required<ProcessingMode>,
): Required<ProcessingMode> {
  const keep = (v: HeaderSendMode | undefined, d: HeaderSendMode) => !v || v === "DEFAULT" ? d : v;
  return {
    request_header_mode: keep(override.request_header_mode, configured.request_header_mode),
    response_header_mode: keep(override.response_header_mode, configured.response_header_mode),
    request_trailer_mode: keep(override.request_trailer_mode, configured.request_trailer_mode),
    response_trailer_mode: keep(override.response_trailer_mode, configured.response_trailer_mode),
    request_body_mode: (override.request_body_mode ?? "NONE") as BodySendMode,
    response_body_mode: (override.response_body_mode ?? "NONE") as BodySendMode,
  };
}

/** Headers are sent unless SKIP (DEFAULT = SEND); trailers only when SEND (DEFAULT = SKIP). */
const sendsHeaders = (m: HeaderSendMode) => m !== "SKIP";
const sendsTrailers = (m: HeaderSendMode) => m === "SEND";

type Outcome =
  | { kind: "reply"; reply: ProcessingResponse }
  | { kind: "closed"; ok: boolean; detail: string }
  | { kind: "timeout" }
  | { kind: "spurious"; reply: ProcessingResponse };

/**
 * One ext_proc stream, Envoy side: one outstanding message at a time, a timer per message. The gRPC call
 * opens with the first message (a route with ext_proc disabled never opens one).
 */
class ExtProcStream {
  #call?: ProcessCall;
  #queue: ProcessingResponse[] = [];
  #status?: grpc.StatusObject;
  #wake?: () => void;
  #outstanding = false;
  #spurious?: ProcessingResponse;
  complete = false;

  constructor(private readonly client: () => grpc.Client, private readonly ex: Exchange) {}

  #open(): ProcessCall {
    const call = (this.client() as unknown as { Process(): ProcessCall }).Process();
    call.on("data", (reply: ProcessingResponse) => {
      if (this.complete) {
        this.ex.ignoredReplies++;
        return;
      }
      // A reply while nothing is outstanding is spurious (a timeout-only override is not a reply).
      if (!this.#outstanding && !(reply.override_message_timeout && !reply.response)) {
        this.#spurious ??= reply;
      } else this.#queue.push(reply);
      this.#wake?.();
    });
    call.on("status", (status: grpc.StatusObject) => {
      this.#status = status;
      this.#wake?.();
    });
    call.on("error", () => {/* reported through "status" */});
    return call;
  }

  send(message: ProcessingRequest) {
    this.ex.sent.push(message.request!);
    this.#outstanding = true;
    this.#call ??= this.#open();
    this.#call.write(message);
  }

  /** Waits for the reply to the outstanding message. */
  async next(timeoutMs: number, maxOverrideMs: number): Promise<Outcome> {
    let deadline = Date.now() + timeoutMs;
    let overridden = false;
    while (true) {
      if (this.#spurious) return { kind: "spurious", reply: this.#spurious };
      const reply = this.#queue.shift();
      if (reply) {
        if (reply.override_message_timeout && !reply.response) {
          // Honoured once per message, only within max_message_timeout; otherwise ignored.
          const d = reply.override_message_timeout;
          const ms = Number(d.seconds ?? 0) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
          if (!overridden && maxOverrideMs >= 1 && ms >= 1 && ms <= maxOverrideMs) {
            deadline = Date.now() + ms;
            overridden = true;
          } else this.ex.warnings.push("override_message_timeout ignored");
          continue;
        }
        this.#outstanding = false;
        return { kind: "reply", reply };
      }
      if (this.#status) {
        this.#outstanding = false;
        const ok = this.#status.code === grpc.status.OK;
        return { kind: "closed", ok, detail: `${this.#status.code}{${this.#status.details}}` };
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) return { kind: "timeout" };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Processing is over: half-close, then reset (Envoy closes as soon as it will send nothing more). */
  close() {
    this.complete = true;
    this.#call?.end();
    this.#call?.cancel();
  }
}

class LocalReply {
  constructor(readonly response: Response, readonly details: string) {}
}

const dec = new TextDecoder();

function matchingArm(reply: ProcessingResponse): string | undefined {
  return reply.response ??
    Object.keys(reply).find((k) =>
      k.startsWith("request_") || k.startsWith("response_") || k === "immediate_response"
    );
}

/** Starts the proxy. Close it with `await using` or `close()`. */
export function startEnvoyHarness(options: EnvoyHarnessOptions): Promise<EnvoyHarness> {
  const opts = {
    clusters: {},
    processingMode: REFERENCE_MODE,
    messageTimeoutMs: 10_000,
    maxMessageTimeoutMs: 0,
    failureModeAllow: false,
    allowModeOverride: true,
    allowedOverrideModes: [] as ProcessingMode[],
    spuriousResponse: "error" as const,
    receivingNamespaces: ["mcp-gateway"],
    bufferLimitBytes: 8 * 1024 * 1024,
    ...options,
  };
  const rules: MutationRules = { allowAllRouting: true, allowEnvoy: false, ...options.mutationRules };
  const clusters = new Map(
    Object.entries(opts.clusters).map(([k, v]) => [k.toLowerCase(), new URL(v).origin]),
  );
  const exchanges: Exchange[] = [];
  /** Open response streams, ended on close so long SSE streams cannot hold shutdown open. */
  const streams = new RelayedStreams();
  // One client per processor address; a function may name another address for each request (several
  // routers behind one Envoy cluster).
  const clients = new Map<string, grpc.Client>();
  const grpcClient = () => {
    const address = typeof opts.extProc === "function" ? opts.extProc() : opts.extProc;
    let client = clients.get(address);
    if (!client) {
      const Client = externalProcessorClient();
      clients.set(address, client = new Client(address, grpc.credentials.createInsecure()));
    }
    return client;
  };
  const defaultCluster = () =>
    typeof opts.defaultCluster === "function" ? opts.defaultCluster() : opts.defaultCluster;
  /** The route for these headers: a server's vhost by exact `:authority`, else the `*` vhost's routes. */
  const route = (headers: HeaderList): { upstream?: string; extProcDisabled: boolean } => {
    const fallback = defaultCluster();
    const byHost = clusters.get((headers.get(":authority") ?? "").toLowerCase());
    if (byHost) return { upstream: byHost, extProcDisabled: false };
    const upstream = fallback && new URL(fallback).origin;
    const path = headers.get(":path") ?? "/";
    const matched = (opts.defaultRoutes ?? []).find((r) =>
      path.startsWith(r.match.prefix ?? "/") &&
      (r.match.headers ?? []).every((m) => headerMatches(headers, m))
    );
    if (matched && matched.route.cluster !== "mcp_broker") {
      throw new Error(`harness: default routes may only name mcp_broker, not ${matched.route.cluster}`);
    }
    const disabled = !!matched?.typed_per_filter_config?.["envoy.filters.http.ext_proc"]?.disabled;
    return { upstream, extProcDisabled: disabled };
  };

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const requestId = req.headers.get("x-request-id") ?? crypto.randomUUID();
    const ex: Exchange = {
      requestId,
      method: req.method,
      path: url.pathname + url.search,
      sent: [],
      dynamicMetadata: {},
      warnings: [],
      ignoredReplies: 0,
    };
    exchanges.push(ex);
    const configured: Required<ProcessingMode> = { ...REFERENCE_MODE, ...opts.processingMode };
    let mode: Required<ProcessingMode> = { ...configured };
    // The HTTP connection manager adds these before any filter runs (rule 2: pseudo-headers and x-request-id).
    const headers = HeaderList.fromRequest(req, [
      [":authority", req.headers.get("host") ?? url.host],
      [":path", url.pathname + url.search],
      [":method", req.method],
      [":scheme", "http"],
    ]);
    headers.remove("host");
    headers.set("x-request-id", requestId);
    if (!headers.has("x-forwarded-proto")) headers.add("x-forwarded-proto", "http");
    let body = new Uint8Array(await req.arrayBuffer());

    const stream = new ExtProcStream(grpcClient, ex);
    // Rule 6: the route is chosen from the original headers and only re-chosen when a reply clears it. Its
    // per-route config is read once, then: a route with ext_proc disabled never consults the processor.
    const first = route(headers);
    let upstream = first.upstream;
    let processing = !first.extProcDisabled;

    const local = (status: number, details: string, text = "", extra?: (h: Headers) => void) => {
      const h = new Headers();
      if (text) h.set("content-type", "text/plain");
      extra?.(h);
      return new LocalReply(new Response(text || null, { status, headers: h }), details.replaceAll(" ", "_"));
    };
    const finish = (r: LocalReply | Response): Response => {
      ex.mode = mode;
      if (r instanceof LocalReply) {
        ex.details = r.details;
        ex.status = r.response.status;
        return r.response;
      }
      ex.status = r.status;
      return r;
    };
    const failure = (status: number, details: string): LocalReply | null => {
      stream.close();
      processing = false;
      return opts.failureModeAllow ? null : local(status, details);
    };

    /** Rule 4/7/8/9/11: await one reply, resolve it to a CommonResponse, a local reply, or "continue". */
    const exchange = async (
      message: ProcessingRequest,
      arm: RequestArm,
    ): Promise<CommonResponse | LocalReply | null> => {
      stream.send(message);
      const outcome = await stream.next(opts.messageTimeoutMs, opts.maxMessageTimeoutMs);
      if (outcome.kind === "timeout") return failure(504, "ext_proc_error_per-message_timeout_exceeded");
      if (outcome.kind === "closed") {
        if (outcome.ok) {
          // Clean close: continue unmodified, never consult the processor again.
          stream.complete = true;
          processing = false;
          return null;
        }
        return failure(500, `ext_proc_error_gRPC_error_${outcome.detail}`);
      }
      if (outcome.kind === "spurious") {
        if (opts.spuriousResponse === "error" && !opts.failureModeAllow) {
          return failure(500, "ext_proc_error_spurious_message");
        }
        stream.close();
        processing = false;
        return null;
      }
      const reply = outcome.reply;
      if (reply.dynamic_metadata) {
        const md = fromStruct(reply.dynamic_metadata);
        for (const [ns, value] of Object.entries(md)) {
          if (!opts.receivingNamespaces.includes(ns)) {
            ex.warnings.push(`dynamic_metadata namespace ${ns} dropped`);
          } else if (value && typeof value === "object" && !Array.isArray(value)) {
            ex.dynamicMetadata[ns] = { ...(ex.dynamicMetadata[ns] as object ?? {}), ...value };
          } else ex.warnings.push(`dynamic_metadata ${ns} is not a Struct`);
        }
      }
      if (reply.immediate_response) {
        const ir = reply.immediate_response;
        stream.close();
        processing = false;
        let status = statusNumber(ir.status?.code);
        if (status < 200) status = 200;
        const text = ir.body && ir.body.length ? dec.decode(ir.body) : "";
        const list = new HeaderList();
        if (text) list.set("content-type", "text/plain");
        const outcomeMutation = applyHeaderMutation(list, ir.headers, "response", rules, ex.warnings);
        if (!outcomeMutation.ok) return local(500, outcomeMutation.error);
        return new LocalReply(
          new Response(text || null, { status, headers: list.toHeaders() }),
          (ir.details || "ext_proc_immediate_response").replaceAll(" ", "_"),
        );
      }
      const got = matchingArm(reply);
      if (got !== arm) {
        ex.warnings.push(`spurious reply: expected ${arm}, got ${got}`);
        if (opts.spuriousResponse === "error" && !opts.failureModeAllow) {
          return failure(500, "ext_proc_error_spurious_message");
        }
        stream.close();
        processing = false;
        return null;
      }
      // Rule 10: mode_override only when allowed and while a headers message is outstanding (Envoy applies
      // it to both directions for the rest of the request); never when the configured body mode is
      // FULL_DUPLEX_STREAMED; with `allowed_override_modes`, only one of those.
      if (reply.mode_override) {
        const inHeaders = arm === "request_headers" || arm === "response_headers";
        const duplex = configured.request_body_mode === "FULL_DUPLEX_STREAMED" ||
          configured.response_body_mode === "FULL_DUPLEX_STREAMED";
        const next = effectiveModeOverride(reply.mode_override, configured);
        // Envoy compares the entries as written (unset = DEFAULT / NONE), request_header_mode aside.
        const listed = opts.allowedOverrideModes.length === 0 ||
          opts.allowedOverrideModes.some((m) =>
            next.request_body_mode === (m.request_body_mode ?? "NONE") &&
            next.response_body_mode === (m.response_body_mode ?? "NONE") &&
            next.response_header_mode === (m.response_header_mode ?? "DEFAULT") &&
            next.request_trailer_mode === (m.request_trailer_mode ?? "DEFAULT") &&
            next.response_trailer_mode === (m.response_trailer_mode ?? "DEFAULT")
          );
        if (opts.allowModeOverride && inHeaders && !duplex && listed) mode = next;
        else ex.warnings.push(`mode_override ignored in ${arm}`);
      }
      return (reply[arm as "request_headers"]?.response ?? {}) as CommonResponse;
    };

    /** Applies a request-path CommonResponse; header mutations in a body reply only count in BUFFERED. */
    const applyRequest = (common: CommonResponse, phase: "headers" | "body"): LocalReply | null => {
      const headerMutationAllowed = phase === "headers" || mode.request_body_mode === "BUFFERED";
      if (common.header_mutation && !headerMutationAllowed) {
        ex.warnings.push("header mutation in a STREAMED body reply ignored");
      } else {
        const r = applyHeaderMutation(headers, common.header_mutation, "request", rules, ex.warnings);
        if (!r.ok) return failure(500, r.error);
      }
      const m = common.body_mutation;
      if (m && (phase === "body" || common.status === "CONTINUE_AND_REPLACE")) {
        if (m.body !== undefined && m.body !== null) body = new Uint8Array(m.body);
        else if (m.clear_body) body = new Uint8Array();
      } else if (m) ex.warnings.push("body_mutation in a headers reply without CONTINUE_AND_REPLACE ignored");
      // Rule 6 (newer Envoy): clear_route_cache counts only alongside a header mutation.
      if (common.clear_route_cache) {
        if (common.header_mutation && headerMutationAllowed) upstream = route(headers).upstream;
        else ex.warnings.push("clear_route_cache ignored without a header mutation");
      }
      return null;
    };

    /**
     * Newer Envoy (`ext_proc_stream_close_optimization`) closes the stream as soon as no further message can
     * follow: after the request-headers reply when there is no body to send and the response phases are all
     * off, after the last body reply when they are. The processor sees the stream cancelled.
     */
    const responsePhasesOff = () =>
      !sendsHeaders(mode.response_header_mode) && mode.response_body_mode === "NONE" &&
      !sendsTrailers(mode.response_trailer_mode);
    const closeIfLast = (after: "request_headers" | "request_body") => {
      if (!processing) return;
      const noRequestBody = body.length === 0 ||
        (mode.request_body_mode === "NONE" && !sendsTrailers(mode.request_trailer_mode));
      if ((after === "request_body" || noRequestBody) && responsePhasesOff()) {
        stream.close();
        processing = false;
      }
    };

    // --- request headers
    let replacedBody = false;
    if (processing && body.length > opts.bufferLimitBytes && mode.request_body_mode === "BUFFERED") {
      stream.close();
      return finish(local(413, "request_payload_too_large", "Payload Too Large"));
    }
    if (processing && sendsHeaders(mode.request_header_mode)) {
      const r = await exchange({
        request_headers: { headers: headers.toHeaderMap(), end_of_stream: body.length === 0 },
        request: "request_headers",
        protocol_config: {
          request_body_mode: mode.request_body_mode,
          response_body_mode: mode.response_body_mode,
        },
        metadata_context: {},
      }, "request_headers");
      if (r instanceof LocalReply) return finish(r);
      if (r) {
        replacedBody = r.status === "CONTINUE_AND_REPLACE";
        const bad = applyRequest(r, "headers");
        if (bad) return finish(bad);
      }
      closeIfLast("request_headers");
    }
    // --- request body (rule 3: never for a body-less request)
    const bodyMode = mode.request_body_mode;
    if (
      processing && !replacedBody && body.length > 0 && (bodyMode === "BUFFERED" || bodyMode === "STREAMED")
    ) {
      const r = await exchange(
        { request_body: { body, end_of_stream: true }, request: "request_body" },
        "request_body",
      );
      if (r instanceof LocalReply) return finish(r);
      if (r) {
        const bad = applyRequest(r, "body");
        if (bad) return finish(bad);
      }
      closeIfLast("request_body");
    }
    const declared = headers.get("content-length");
    if (declared !== undefined && Number(declared) !== body.length) {
      stream.close();
      return finish(local(500, `content-length ${declared} does not match the ${body.length}-byte body`));
    }

    // --- upstream (rule 12: route-layer local replies still go through the response phase)
    let res: Response;
    const upstreamPath = headers.get(":path") ?? "/";
    if (!upstream) res = new Response(null, { status: 404 });
    else {
      ex.upstream = upstream;
      ex.upstreamHeaders = headers.entries.map(([k, v]) => [k, v]);
      ex.upstreamBody = dec.decode(body);
      const h = headers.toHeaders();
      h.delete("accept-encoding"); // fetch decodes bodies itself; keep the client's encoding out of it
      try {
        const method = headers.get(":method") ?? req.method;
        // `:path` is appended to the cluster's origin as it is: "//mcp" is a path, not a host.
        res = await fetch(`${upstream}${upstreamPath.startsWith("/") ? "" : "/"}${upstreamPath}`, {
          method,
          headers: h,
          body: method === "GET" || method === "HEAD" || body.length === 0 ? undefined : body,
          redirect: "manual",
        });
      } catch (e) {
        res = new Response(`upstream connect error or disconnect/reset before headers. reset reason: ${e}`, {
          status: 503,
          headers: { "content-type": "text/plain" },
        });
      }
    }

    // --- response headers
    const responseHeaders = new HeaderList();
    responseHeaders.add(":status", String(res.status));
    for (const [k, v] of res.headers) {
      if (k !== "content-length" && k !== "content-encoding" && k !== "transfer-encoding") {
        responseHeaders.add(k, v);
      }
    }
    if (processing && sendsHeaders(mode.response_header_mode)) {
      const r = await exchange({
        response_headers: { headers: responseHeaders.toHeaderMap(), end_of_stream: res.body === null },
        request: "response_headers",
      }, "response_headers");
      if (r instanceof LocalReply) {
        await res.body?.cancel();
        return finish(r);
      }
      if (r) {
        const outcome = applyHeaderMutation(
          responseHeaders,
          r.header_mutation,
          "response",
          rules,
          ex.warnings,
        );
        if (!outcome.ok) {
          await res.body?.cancel();
          return finish(failure(500, outcome.error) ?? local(500, outcome.error));
        }
        if (r.body_mutation) ex.warnings.push("body_mutation in a response_headers reply ignored");
      }
    }
    const status = Number(responseHeaders.get(":status") ?? res.status);
    const out = responseHeaders.toHeaders(new Set(["content-length"]));
    const nullBody = status === 204 || status === 304 || req.method === "HEAD";

    // --- response body: NONE streams straight through; STREAMED asks the processor chunk by chunk.
    if (!processing || mode.response_body_mode !== "STREAMED" || !res.body || nullBody) {
      if (!res.body || nullBody) {
        await res.body?.cancel();
        if (!stream.complete) stream.close();
        return finish(new Response(null, { status, headers: out }));
      }
      if (!stream.complete) stream.close();
      return finish(new Response(nullBody ? null : streams.relay(res.body!), { status, headers: out }));
    }
    const reader = res.body.getReader();
    const processed = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await reader.read();
        if (!processing) {
          if (done) controller.close();
          else controller.enqueue(value);
          return;
        }
        const r = await exchange(
          {
            response_body: { body: value ?? new Uint8Array(), end_of_stream: done },
            request: "response_body",
          },
          "response_body",
        );
        let chunk = value;
        if (r instanceof LocalReply) {
          // The response has started: all Envoy can do now is reset the stream.
          controller.error(new Error(`ext_proc failed mid-response: ${r.details}`));
          await reader.cancel();
          return;
        }
        const m = r?.body_mutation;
        if (m?.body !== undefined && m.body !== null) chunk = new Uint8Array(m.body);
        else if (m?.clear_body) chunk = new Uint8Array();
        if (chunk && chunk.length) controller.enqueue(chunk);
        if (done) {
          if (!stream.complete) stream.close();
          controller.close();
        }
      },
      cancel(reason) {
        stream.close();
        return reader.cancel(reason);
      },
    });
    return finish(new Response(processed, { status, headers: out }));
  }

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: opts.port ?? 0,
      onListen: () => {},
    }, async (req) => {
      try {
        return await handle(req);
      } catch (e) {
        return new Response(`harness error: ${(e as Error).stack}`, { status: 500 });
      }
    });
    const port = server.addr.port;
    const close = async () => {
      streams.endAll();
      for (const client of clients.values()) client.close();
      await server.shutdown();
    };
    resolve({ port, url: `http://127.0.0.1:${port}`, exchanges, close, [Symbol.asyncDispose]: close });
  });
}
