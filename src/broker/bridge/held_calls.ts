/**
 * 2026 client → 2025 backend. The gateway holds a 2025 backend session for the caller; a 2025 backend that
 * needs input sends the client a request (elicitation, sampling, roots) on the call's stream and waits. A
 * 2026 client cannot be sent requests: the gateway ends the client's HTTP answer with an `input_required`
 * result instead — the backend's requests, translated, under input keys of its own, and a `requestState`
 * it signed — while the backend call stays open, held here. The client's retry (same request,
 * `inputResponses`, that `requestState`, a new id) delivers the answers to the backend under its own ids, and
 * the rest of the backend's answer becomes the retry's answer (another `input_required` if it asks again).
 *
 * The retry may reach any replica. The held call is recorded in the session store (which replica reads it,
 * which round it waits for); the retry's replica sends a claim to the holder's mailbox and relays what comes
 * back on a mailbox of its own. A call nobody retries within the input timeout is cancelled at the backend
 * (its requests answered with an error, then `notifications/cancelled`); a retry after that, or with a
 * `requestState` that is tampered, expired or another caller's, is refused (-32602, `invalid_request_state`)
 * and reaches no backend. When the holder is gone (its replica died), the retry fails with a retryable error
 * and the backend call is cancelled from the retry's replica.
 */
import type { ServerConfig } from "../../config/schema.ts";
import type { ClientCapabilities } from "../../mcp/client_capabilities.ts";
import { GatewayError } from "../../mcp/errors.ts";
import { answerFor, parseJsonObject, resultText } from "../../mcp/jsonrpc.ts";
import { answerMessages } from "../../mcp/sse.ts";
import type { BackendBinding } from "../../session/session_map.ts";
import type { HeldInput } from "../../session/store.ts";
import { postOnSession } from "../backend_transport.ts";
import { type Answer, answerOf, type Relay } from "../relay.ts";
import type { BridgeDeps } from "./deps.ts";
import {
  inputKey,
  type InputRequest,
  isInputMethod,
  missingCapability,
  toInputRequest,
} from "./input_requests.ts";
import { Outbox } from "./outbox.ts";
import type { BackendCall, CallTrace } from "../../observe/tracing/call.ts";
import type { OpenSpan } from "../../observe/tracing/span.ts";

/**
 * Requests a backend sends within this long of each other are asked in one `input_required` (a server
 * asking for several inputs at once sends them together, e.g. the SDK's legacy shim).
 */
const ASK_TOGETHER_MS = 50;
/** Messages kept for the next retry while no client is listening (the oldest go first). */
const MAX_BUFFERED = 256;

/** A 2026 client's call on a backend session, as the gateway first sent it. */
export interface HoldCall {
  /** The caller (`issuer|subject`, "" when anonymous): only they may answer. */
  subject: string;
  capabilities: ClientCapabilities;
  server: ServerConfig;
  binding: BackendBinding;
  method: string;
  /** The tool, prompt or resource the request names on the backend. */
  name: string;
  /** The client's request id (JSON text). */
  rawId: string;
  /** The id the backend got (JSON text): the gateway's own, so callers sharing the session never collide. */
  backendId: string;
  /** The request's progress token (JSON text), if any: the backend's progress carries it. */
  progressToken?: string;
  relay: Relay;
  /** Closes the backend call's answer (the gateway's request to the backend). */
  abort(): void;
  /** A result, framed for the 2026 client. */
  finish(result: Record<string, unknown>): Promise<Record<string, unknown> | GatewayError>;
  /** The first HTTP answer is over. */
  settle(outcome: Answer | "cut"): void;
  /** The first request's trace, while tracing is on: the rounds' spans are its children. */
  trace?: CallTrace;
  /** The CLIENT span of the backend call, ended when the backend's answer is (this call may outlive it). */
  backendSpan?: BackendCall;
}

/** A retry of a held call, as a replica received it. */
export interface RetryCall {
  subject: string;
  method: string;
  server: ServerConfig;
  name: string;
  rawId: string;
  params: Record<string, unknown>;
  /** The retry's HTTP answer is over. */
  settle(outcome: Answer | "cut"): void;
}

/** Where a held call's answer goes now: the HTTP answer of the request the client is waiting on. */
interface Sink {
  readonly rawId: string;
  /** The progress token (JSON text) of that request, if any. */
  readonly progressToken?: string;
  send(json: string): void;
  /** Sends the last message of this answer and ends it. */
  end(json: string, outcome: Answer | "cut"): void;
}

/** Messages between a retry's replica and the holder's. */
type ToHolder =
  | {
    t: "claim";
    round: number;
    reply: string;
    rawId: string;
    progressToken?: string;
    answers: Record<string, unknown>;
  }
  | { t: "cancel"; reply: string };
type ToRetry = { t: "m"; d: string } | { t: "end"; d: string; o: Answer | "cut" };

function isObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

function errorText(rawId: string, code: number, message: string): string {
  return `{"jsonrpc":"2.0","id":${rawId},"error":{"code":${code},"message":${JSON.stringify(message)}}}`;
}

/** The mailbox of a held call (claims and cancellations of its retries). */
const heldBox = (call: string) => `held:${call}`;

/** The answer to a retry whose `requestState` cannot be honoured (as the SDK's codec answers it). */
function invalidState(rawId: string, why: string): GatewayError {
  return new GatewayError("invalid-params", `Invalid or expired requestState: ${why}`, rawId, {
    data: { reason: "invalid_request_state" },
  });
}

/** The answer to a retry whose held call died with the replica holding it. */
function lostCall(rawId: string, server: string): GatewayError {
  return new GatewayError(
    "input-failed",
    `The gateway replica holding this call to server ${server} is gone, and the call with it; send the request again without requestState`,
    rawId,
    { data: { server, reason: "call_lost", retryable: true } },
  );
}

/** The calls held in this process, and the retries of any replica's. */
export class HeldCalls {
  #calls = new Set<HeldCall>();

  constructor(private readonly deps: BridgeDeps) {}

  /**
   * Answers the client from the backend's first answer `first`: a JSON answer goes to `plain`; a stream is
   * relayed, and held if the backend asks the client anything.
   */
  async serve(
    call: HoldCall,
    first: Response,
    plain: (text: string) => Promise<Response>,
  ): Promise<Response> {
    if (!(first.headers.get("content-type") ?? "").includes("text/event-stream")) {
      const text = await first.text();
      let message: Record<string, unknown> | undefined;
      try {
        message = JSON.parse(text);
      } catch { /* not JSON: passed on as it came */ }
      return plain(isObject(message) ? answerFor(text, message, call.rawId) : text);
    }
    const outbox = new Outbox();
    const held = new HeldCall(this.deps, call, answerMessages(first), () => this.#calls.delete(held));
    this.#calls.add(held);
    held.attach(new LocalSink(outbox, call.rawId, call.progressToken, call.settle), outbox);
    void held.pump();
    return outbox.response();
  }

  /**
   * A retry carrying a gateway `requestState`: checked, then delivered to the held call wherever it is;
   * resolves with the retry's answer. Throws the error that refuses it (it reaches no backend then).
   */
  async resume(retry: RetryCall): Promise<Response> {
    const { rawId, params } = retry;
    const state = params.requestState;
    const claims = typeof state === "string" ? await this.deps.tokens.verifyInputState(state) : undefined;
    if (!claims) throw invalidState(rawId, "it is not one this gateway issued, or it has expired");
    if (claims.subject !== retry.subject) throw invalidState(rawId, "it was issued to another caller");
    if (claims.method !== retry.method || claims.server !== retry.server.name || claims.name !== retry.name) {
      throw invalidState(rawId, "it was issued for another request");
    }
    const held = await this.deps.store.heldInput(claims.call);
    if (!held || held.round !== claims.round) {
      throw invalidState(rawId, "the call no longer waits for this answer");
    }
    const token = isObject(params._meta) ? params._meta.progressToken : undefined;
    const claim: ToHolder = {
      t: "claim",
      round: claims.round,
      reply: `reply:${crypto.randomUUID()}`,
      rawId,
      ...(token !== undefined ? { progressToken: JSON.stringify(token) } : {}),
      answers: isObject(params.inputResponses) ? params.inputResponses : {},
    };
    const outbox = new Outbox();
    let ended = false;
    let unwatch = () => {};
    const finish = (outcome: Answer | "cut") => {
      if (ended) return;
      ended = true;
      outbox.end();
      close();
      unwatch();
      retry.settle(outcome);
    };
    const close = await this.deps.mailboxes.open(claim.reply, (json) => {
      const message = parseJsonObject(json) as ToRetry | undefined;
      if (!message || ended) return;
      outbox.send(message.d);
      if (message.t === "end") finish(message.o);
    });
    outbox.onCancel(() => {
      if (ended) return;
      ended = true;
      close();
      unwatch();
      void this.deps.mailboxes.send(
        heldBox(claims.call),
        JSON.stringify({ t: "cancel", reply: claim.reply }),
      );
      retry.settle("cut");
    });
    if (!await this.deps.mailboxes.send(heldBox(claims.call), JSON.stringify(claim))) {
      ended = true;
      close();
      // A holder that ends a call forgets it in the store first: a call still recorded whose mailbox is
      // open nowhere went with its replica (a connection cut at once; its heartbeat lingers for seconds).
      const still = held.replica !== this.deps.bus.replica && await this.deps.store.heldInput(claims.call);
      if (still && still.round === claims.round) {
        await this.#abandon(claims.call, held);
        throw lostCall(rawId, held.server);
      }
      throw invalidState(rawId, "the call no longer waits for this answer");
    }
    if (held.replica !== this.deps.bus.replica && !ended) {
      // The holder relays the rest of the call here; if its replica dies, nothing more will come.
      unwatch = this.deps.bus.onPeerLost(() => {
        void this.deps.bus.isAlive(held.replica).then((alive) => {
          if (alive || ended) return;
          outbox.send(lostCall(rawId, held.server).body());
          finish("error");
        });
      });
    }
    return outbox.response();
  }

  /** The call's holder is gone: its backend call is cancelled from here, so the backend stops waiting. */
  async #abandon(id: string, held: HeldInput): Promise<void> {
    await this.deps.store.releaseInput(id);
    const server = this.deps.server(held.server);
    if (!server) return;
    const binding = { id: held.backendSession, protocolVersion: held.protocolVersion };
    await cancelAtBackend(
      server,
      binding,
      held.call,
      Object.values(held.requests),
      "the gateway replica holding the call is gone",
    );
  }

  /**
   * Shutdown: calls waiting here for a retry are cancelled (their backends stop waiting for answers that can
   * no longer come); calls a client is listening to run on.
   */
  close(): void {
    for (const held of [...this.#calls]) if (held.waiting) held.cancel("the gateway is shutting down");
  }
}

/** Answers the backend's outstanding requests with an error, then cancels the call itself (best effort). */
async function cancelAtBackend(
  server: ServerConfig,
  binding: BackendBinding,
  call: string,
  requests: string[],
  reason: string,
): Promise<void> {
  await Promise.all(
    requests.map((id) =>
      postOnSession(server, binding, errorText(id, -32001, `Request cancelled: ${reason}`))
    ),
  );
  await postOnSession(
    server,
    binding,
    JSON.stringify({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: JSON.parse(call), reason },
    }),
  );
}

/** The HTTP answer of the request being served here (the first, or a retry that reached this replica). */
class LocalSink implements Sink {
  constructor(
    private readonly outbox: Outbox,
    readonly rawId: string,
    readonly progressToken: string | undefined,
    private readonly settle: (outcome: Answer | "cut") => void,
  ) {}

  send(json: string): void {
    this.outbox.send(json);
  }

  end(json: string, outcome: Answer | "cut"): void {
    this.outbox.send(json);
    this.outbox.end();
    this.settle(outcome);
  }
}

/** The HTTP answer of a retry, served by whichever replica it reached, through its mailbox. */
class BoxSink implements Sink {
  #sending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: BridgeDeps,
    readonly reply: string,
    readonly rawId: string,
    readonly progressToken: string | undefined,
    private readonly gone: (sink: Sink) => void,
  ) {}

  #post(message: ToRetry): void {
    this.#sending = this.#sending.then(async () => {
      if (!await this.deps.mailboxes.send(this.reply, JSON.stringify(message))) this.gone(this);
    });
  }

  send(json: string): void {
    this.#post({ t: "m", d: json });
  }

  end(json: string, outcome: Answer | "cut"): void {
    this.#post({ t: "end", d: json, o: outcome });
  }
}

/** One backend call held open across the rounds of its client's input. */
class HeldCall {
  readonly id = crypto.randomUUID();
  #round = 0;
  #sink: Sink | undefined;
  #buffer: string[] = [];
  /** The backend's requests not answered yet, by input key. */
  #asked = new Map<string, { id: string; request: InputRequest }>();
  #count = 0;
  /** The backend's answer, when it came while no client was listening: the next retry gets it. */
  #final: { make: (rawId: string) => string; outcome: Answer } | undefined;
  #askTimer: ReturnType<typeof setTimeout> | undefined;
  #waitTimer: ReturnType<typeof setTimeout> | undefined;
  #closeBox: (() => void) | undefined;
  #recorded = false;
  #done = false;
  /** The `input_required` round waiting for its retry, as a span (tracing on). */
  #roundSpan: OpenSpan | undefined;

  constructor(
    private readonly deps: BridgeDeps,
    private readonly call: HoldCall,
    private readonly messages: AsyncGenerator<string>,
    private readonly onDone: () => void,
  ) {}

  /** True while no client listens: the call waits for a retry. */
  get waiting(): boolean {
    return !this.#sink && !this.#done;
  }

  /** The first answer's sink: its client closing the stream cancels the call (the 2026 way to cancel). */
  attach(sink: LocalSink, outbox: Outbox): void {
    this.#sink = sink;
    outbox.onCancel(() => {
      if (this.#sink !== sink) return;
      this.call.settle("cut");
      this.cancel("the client closed its request");
    });
  }

  /** Reads the backend's answer to its end, whoever is listening. */
  async pump(): Promise<void> {
    try {
      for await (const text of this.messages) {
        if (this.#done) return;
        const message = parseJsonObject(text);
        if (!message) continue;
        if (typeof message.method === "string") {
          if ("id" in message) await this.#backendRequest(message);
          else await this.#notification(text, message);
          continue;
        }
        if (answerOf(message) === false) continue;
        await this.#answer(text, message);
        return;
      }
      if (!this.#done) this.#answerWith(this.#cut("ended the stream"), "error");
    } catch (e) {
      if (this.#done) return;
      this.deps.logger.warn("held backend stream broke", { server: this.call.server.name, error: e });
      this.#answerWith(this.#cut("broke the stream"), "error");
    }
  }

  #cut(why: string): (rawId: string) => string {
    const server = this.call.server.name;
    return (rawId) =>
      new GatewayError("upstream-unavailable", `Server ${server} ${why} before answering`, rawId, {
        data: { server, retryable: true },
      }).body();
  }

  async #answer(text: string, message: Record<string, unknown>): Promise<void> {
    const result = message.result;
    if (!isObject(result)) {
      const code = isObject(message.error) ? message.error.code : undefined;
      return this.#answerWith((rawId) => answerFor(text, message, rawId), "error", String(code ?? "_OTHER"));
    }
    const framed = await this.call.finish(result);
    if (framed instanceof GatewayError) {
      return this.#answerWith((rawId) => framed.withId(rawId).body(), "error", String(framed.code));
    }
    const json = JSON.stringify(framed);
    const isError = framed.isError === true;
    this.#answerWith(
      (rawId) => resultText(rawId, json),
      isError ? "error" : "ok",
      isError ? "tool_error" : "",
    );
  }

  /** The backend answered the call: to the client listening now, else to the next retry. */
  #answerWith(make: (rawId: string) => string, outcome: Answer, errorType = "cut"): void {
    this.call.backendSpan?.end(outcome === "error" ? { type: errorType } : undefined);
    this.#asked.clear();
    clearTimeout(this.#askTimer);
    const sink = this.#sink;
    if (!sink) {
      this.#final = { make, outcome };
      return;
    }
    this.#flush(sink);
    sink.end(make(sink.rawId), outcome);
    this.#sink = undefined;
    this.#close();
  }

  async #backendRequest(message: Record<string, unknown>): Promise<void> {
    const method = message.method as string;
    const id = JSON.stringify(message.id);
    if (method === "ping") return void await this.#post(resultText(id, "{}"));
    if (!isInputMethod(method)) {
      return void await this.#post(
        errorText(
          id,
          -32601,
          `Method not found: the client of this call speaks MCP 2026-07-28, which has no ${method}`,
        ),
      );
    }
    const request = toInputRequest(method, message.params);
    if (missingCapability(this.call.capabilities, request)) {
      return void await this.#post(
        errorText(id, -32601, `Method not found: the client did not declare the capability ${method} needs`),
      );
    }
    this.#asked.set(inputKey(method, ++this.#count), { id, request });
    this.#scheduleAsk();
  }

  async #notification(text: string, message: Record<string, unknown>): Promise<void> {
    // 2026 has no URL-elicitation completion notice: the retry is the client's "done".
    if (message.method === "notifications/elicitation/complete") return;
    const relayed = (await this.call.relay.process(text)).text;
    if (relayed === undefined) return;
    if (this.#sink) return this.#deliver(this.#sink, relayed);
    this.#buffer.push(relayed);
    if (this.#buffer.length > MAX_BUFFERED) this.#buffer.shift();
  }

  /** Sends a message to `sink`, its progress token made that of the sink's own request. */
  #deliver(sink: Sink, text: string): void {
    const original = this.call.progressToken;
    if (
      original !== undefined && sink.progressToken !== original && text.includes("notifications/progress")
    ) {
      const message = parseJsonObject(text);
      const params = message?.params as Record<string, unknown> | undefined;
      if (
        message?.method === "notifications/progress" && JSON.stringify(params?.progressToken) === original
      ) {
        // A retry is a new request: its progress is reported under its own token, or not at all.
        if (sink.progressToken === undefined) return;
        text = JSON.stringify({
          ...message,
          params: { ...params, progressToken: JSON.parse(sink.progressToken) },
        });
      }
    }
    sink.send(text);
  }

  #flush(sink: Sink): void {
    for (const text of this.#buffer.splice(0)) this.#deliver(sink, text);
  }

  #scheduleAsk(): void {
    if (!this.#sink || this.#done || !this.#asked.size) return;
    clearTimeout(this.#askTimer);
    this.#askTimer = setTimeout(() => void this.#ask(), ASK_TOGETHER_MS);
  }

  /** Ends the listening client's answer with `input_required`: every request the backend waits on. */
  async #ask(): Promise<void> {
    const sink = this.#sink;
    if (!sink || this.#done || !this.#asked.size) return;
    this.#sink = undefined;
    const round = ++this.#round;
    const requests: Record<string, string> = {};
    const inputRequests: Record<string, InputRequest> = {};
    for (const [key, asked] of this.#asked) {
      requests[key] = asked.id;
      inputRequests[key] = asked.request;
    }
    const { deps, call } = this;
    this.#roundSpan = call.trace?.inputRound(round, Object.values(inputRequests).map((r) => r.method));
    const timeoutMs = deps.inputTimeoutMs;
    clearTimeout(this.#waitTimer);
    this.#waitTimer = setTimeout(() => this.#expire(), timeoutMs);
    try {
      this.#closeBox ??= await deps.mailboxes.open(heldBox(this.id), (json) => this.#receive(json));
      const held: HeldInput = {
        replica: deps.bus.replica,
        server: call.server.name,
        backendSession: call.binding.id,
        protocolVersion: call.binding.protocolVersion,
        call: call.backendId,
        round,
        requests,
      };
      await deps.store.holdInput(this.id, held, timeoutMs);
      this.#recorded = true;
      const requestState = await deps.tokens.mintInputState({
        call: this.id,
        round,
        subject: call.subject,
        method: call.method,
        server: call.server.name,
        name: call.name,
        requests,
      }, timeoutMs);
      const framed = await call.finish({ resultType: "input_required", inputRequests, requestState });
      if (framed instanceof GatewayError) throw framed;
      sink.end(resultText(sink.rawId, JSON.stringify(framed)), "ok");
    } catch (e) {
      deps.logger.warn("could not hold a call for its client's input", {
        server: call.server.name,
        error: e,
      });
      sink.end(
        new GatewayError("internal", "Internal error: the gateway could not hold the call", sink.rawId)
          .body(),
        "error",
      );
      this.cancel("the gateway could not hold the call");
    }
  }

  #receive(json: string): void {
    const message = parseJsonObject(json) as ToHolder | undefined;
    if (message?.t === "claim") this.#claim(message);
    else if (message?.t === "cancel" && this.#sink instanceof BoxSink && this.#sink.reply === message.reply) {
      this.cancel("the client closed its request");
    }
  }

  /** A retry for round `claim.round`: its answers go to the backend, the rest of the call to the retry. */
  #claim(claim: Extract<ToHolder, { t: "claim" }>): void {
    const sink = new BoxSink(this.deps, claim.reply, claim.rawId, claim.progressToken, (gone) => {
      if (this.#sink === gone) this.cancel("the client's retry went away");
    });
    if (this.#sink || claim.round !== this.#round || (this.#done && !this.#final)) {
      sink.end(invalidState(claim.rawId, "the call no longer waits for this answer").body(), "error");
      return;
    }
    clearTimeout(this.#waitTimer);
    this.#sink = sink;
    // The client answered this round (its retry reached the call).
    this.#roundSpan?.end();
    const answers: Promise<unknown>[] = [];
    for (const [key, value] of Object.entries(claim.answers)) {
      const asked = this.#asked.get(key);
      // Keys the round did not ask are ignored; a missing answer is asked again (SEP-2322).
      if (!asked || !isObject(value)) continue;
      this.#asked.delete(key);
      answers.push(this.#post(resultText(asked.id, JSON.stringify(value))));
    }
    if (this.#final) {
      this.#flush(sink);
      sink.end(this.#final.make(sink.rawId), this.#final.outcome);
      this.#sink = undefined;
      this.#close();
      return;
    }
    this.#flush(sink);
    void Promise.all(answers).then(() => this.#scheduleAsk());
  }

  async #post(body: string): Promise<void> {
    const { server, binding } = this.call;
    const status = await postOnSession(server, binding, body);
    if (status >= 400) {
      this.deps.logger.warn("backend refused an answer to its request", { server: server.name, status });
    }
  }

  /** Nobody retried in time: the backend stops waiting; a later retry is refused. */
  #expire(): void {
    if (this.#done || this.#sink) return;
    if (this.#final) return this.#close();
    this.cancel(`the client did not answer within ${Math.round(this.deps.inputTimeoutMs / 1000)} s`);
  }

  /** Cancels the backend call (its requests answered with an error first) and forgets it. */
  cancel(reason: string): void {
    if (this.#done) return;
    const { server, binding, backendId } = this.call;
    const pending = [...this.#asked.values()].map((a) => a.id);
    this.#close();
    void cancelAtBackend(server, binding, backendId, pending, reason);
  }

  #close(): void {
    if (this.#done) return;
    this.#done = true;
    // Ended here only when nothing ended them before: the call was cancelled.
    this.#roundSpan?.end({ type: "cancelled" });
    this.call.backendSpan?.end({ type: "cancelled" });
    this.#asked.clear();
    clearTimeout(this.#askTimer);
    clearTimeout(this.#waitTimer);
    // Forgotten in the store before the mailbox closes: a retry finding no mailbox but the record takes
    // the holder for dead.
    if (this.#recorded) void this.deps.store.releaseInput(this.id);
    this.#closeBox?.();
    this.call.abort();
    this.onDone();
  }
}
