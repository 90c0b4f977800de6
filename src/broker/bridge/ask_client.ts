/**
 * 2025 client → 2026 backend. The gateway speaks 2026 to the backend for the client; a 2026 backend that
 * needs input answers `input_required` instead of asking on the stream. The gateway asks the client the
 * 2025 way — ordinary server-to-client requests on the call's own SSE stream, under gateway ids (the answers
 * may be POSTed to any replica: the store knows whose they are, and a mailbox carries them here) — then
 * retries the backend call with the answers as `inputResponses` and the `requestState` byte-exact, on a new
 * JSON-RPC id, until the backend completes (or {@link MAX_INPUT_ROUNDS}). The client keeps its own id, and
 * hears the backend's progress and log messages of every round on the same stream.
 */
import type { ServerConfig } from "../../config/schema.ts";
import { resultTypeOf } from "../../era/frame.ts";
import { GatewayError } from "../../mcp/errors.ts";
import { answerFor, parseJsonObject, replaceId, resultText, withMembers } from "../../mcp/jsonrpc.ts";
import { MODERN_PROTOCOL_VERSION } from "../../mcp/protocol.ts";
import { answerMessages } from "../../mcp/sse.ts";
import type { SessionClaims } from "../../session/tokens.ts";
import { type Answer, answerOf, type Relay } from "../relay.ts";
import { type BridgeDeps, Cancelled, MAX_INPUT_ROUNDS, within } from "./deps.ts";
import { type InputRequest, missingCapability, readInputRequests, toLegacyParams } from "./input_requests.ts";
import { Outbox } from "./outbox.ts";
import type { CallTrace } from "../../observe/tracing/call.ts";

/** A `requestState`-only round (no questions: the backend sheds load) is retried after this pause (SDK's). */
const STATE_ONLY_PAUSE_MS = 250;

/** A 2025 client's call on a 2026 backend, as the gateway first sent it. */
export interface AskCall {
  session: SessionClaims;
  /** The client's `mcp-session-id` (its token), on every answer. */
  sessionToken: string;
  server: ServerConfig;
  /** The client's request id (JSON text): every answer to the client carries it. */
  rawId: string;
  /** What was sent to the backend: retries send the same, with the answers and a new id. */
  request: { headers: Record<string, string>; body: string };
  /** Aborts when the client cancels the call (`notifications/cancelled`) or {@link abort} is called. */
  signal: AbortSignal;
  /** Closes the call toward the backend (the client went away). */
  abort(): void;
  /** Carries the backend's notifications to the client (URIs prefixed, as for any call). */
  relay: Relay;
  /** A complete result, made fit for the client (URIs, 2026 members dropped). */
  finish(result: Record<string, unknown>): Promise<Record<string, unknown> | GatewayError>;
  /** The call is over (for the store, metrics and the audit line). */
  settle(outcome: Answer | "cut"): void;
  /** The call's trace, while tracing is on: a span per round, a CLIENT span per retry. */
  trace?: CallTrace;
}

const isResponse = (message: Record<string, unknown>) => answerOf(message) !== false;

/**
 * Answers the call from the backend's first answer `first`. A JSON answer that needs no input is given to
 * `plain` (the ordinary path); anything else becomes an SSE stream the gateway writes round by round.
 */
export async function askClient(
  deps: BridgeDeps,
  call: AskCall,
  first: Response,
  plain: (text: string) => Promise<Response>,
): Promise<Response> {
  let messages: AsyncIterable<string> | Iterable<string> = answerMessages(first);
  if (!(first.headers.get("content-type") ?? "").includes("text/event-stream")) {
    const text = await first.text();
    const message = parseJsonObject(text);
    const result = message?.result as Record<string, unknown> | undefined;
    if (!result || typeof result !== "object" || resultTypeOf(result) !== "input_required") {
      return plain(text);
    }
    messages = [text];
  }
  const outbox = new Outbox();
  outbox.onCancel(() => call.abort());
  void new AskRun(deps, call, outbox, call.signal).run(messages).then((outcome) => {
    outbox.end();
    call.settle(outcome);
  });
  return outbox.response({ "mcp-session-id": call.sessionToken });
}

class AskRun {
  constructor(
    private readonly deps: BridgeDeps,
    private readonly call: AskCall,
    private readonly outbox: Outbox,
    private readonly signal: AbortSignal,
  ) {}

  /** The error answering the client's call, as an outcome. */
  #fail(error: GatewayError): Answer {
    this.outbox.send(error.withId(this.call.rawId).body());
    return "error";
  }

  async run(first: AsyncIterable<string> | Iterable<string>): Promise<Answer | "cut"> {
    const { rawId, server } = this.call;
    let messages = first;
    try {
      for (let round = 0;; round++) {
        let final: { text: string; message: Record<string, unknown> } | undefined;
        for await (const text of messages) {
          const message = parseJsonObject(text);
          if (message && isResponse(message)) {
            final = { text, message };
            break;
          }
          const relayed = (await this.call.relay.process(text)).text;
          if (relayed !== undefined) this.outbox.send(relayed);
        }
        if (this.signal.aborted) return "cut";
        if (!final) {
          return this.#fail(
            new GatewayError(
              "upstream-unavailable",
              `Server ${server.name} ended the stream before answering`,
              rawId,
              {
                data: { server: server.name, retryable: true },
              },
            ),
          );
        }
        const result = final.message.result as Record<string, unknown> | undefined;
        if (!result || typeof result !== "object") {
          this.outbox.send(answerFor(final.text, final.message, rawId));
          return "error";
        }
        if (resultTypeOf(result) !== "input_required") {
          const framed = await this.call.finish(result);
          if (framed instanceof GatewayError) return this.#fail(framed);
          this.outbox.send(resultText(rawId, JSON.stringify(framed)));
          return framed.isError === true ? "error" : "ok";
        }
        // This round's backend request is over: its answer asks for input.
        this.call.trace?.backendDone();
        if (round >= MAX_INPUT_ROUNDS) {
          return this.#fail(
            new GatewayError(
              "input-failed",
              `Server ${server.name} still needed input after ${MAX_INPUT_ROUNDS} rounds; the gateway gave up`,
              rawId,
              { data: { server: server.name, rounds: MAX_INPUT_ROUNDS } },
            ),
          );
        }
        const responses = await this.#ask(result, round + 1);
        if (responses instanceof GatewayError) return this.#fail(responses);
        if (responses === undefined) {
          await new Promise((resolve) => setTimeout(resolve, STATE_ONLY_PAUSE_MS));
        }
        const retry = await this.#retry(responses, result.requestState, round + 1);
        if (retry instanceof GatewayError) return this.#fail(retry);
        messages = answerMessages(retry);
      }
    } catch (e) {
      if (e instanceof Cancelled || this.signal.aborted) return "cut";
      if (e instanceof GatewayError) return this.#fail(e);
      this.deps.logger.warn("bridged call failed", { server: server.name, error: e });
      return this.#fail(
        new GatewayError(
          "upstream-unavailable",
          `Server ${server.name} broke the stream before answering`,
          rawId,
          {
            data: { server: server.name, retryable: true },
          },
        ),
      );
    }
  }

  /**
   * Asks the client every input request of `result` and waits for all its answers: the `inputResponses` of
   * the retry, undefined when nothing was asked, or the error that ends the call.
   */
  async #ask(
    result: Record<string, unknown>,
    round: number,
  ): Promise<Record<string, unknown> | GatewayError | undefined> {
    const { rawId, server } = this.call;
    let requests: Map<string, InputRequest>;
    try {
      requests = readInputRequests(result.inputRequests);
    } catch (e) {
      return new GatewayError(
        "input-failed",
        `Server ${server.name} asked for input the gateway cannot relay: ${(e as Error).message}`,
        rawId,
        {
          data: { server: server.name },
        },
      );
    }
    if (requests.size === 0) return undefined;
    const span = this.call.trace?.inputRound(round, [...requests.values()].map((r) => r.method));
    try {
      const asked = await this.#askAll(requests);
      span?.end(
        asked instanceof GatewayError ? { type: String(asked.code), message: asked.message } : undefined,
      );
      return asked;
    } catch (e) {
      span?.end(
        e instanceof GatewayError ? { type: String(e.code), message: e.message } : { type: "cancelled" },
      );
      throw e;
    }
  }

  /** Asks the client every request of one round; its answers, or the error that ends the call. */
  async #askAll(requests: Map<string, InputRequest>): Promise<Record<string, unknown> | GatewayError> {
    const { rawId, server, session } = this.call;
    for (const request of requests.values()) {
      const missing = missingCapability(session.clientCapabilities, request);
      if (missing) {
        return new GatewayError(
          "missing-client-capability",
          `Server ${server.name} needs ${request.method}, which this client did not declare it supports`,
          rawId,
          { data: { server: server.name, requiredCapabilities: missing } },
        );
      }
    }
    const waiter = crypto.randomUUID();
    const answers = new Map<string, unknown>();
    let refused: GatewayError | undefined;
    let allAnswered!: () => void;
    const answered = new Promise<void>((resolve) => allAnswered = resolve);
    const close = await this.deps.mailboxes.open(askBox(waiter), (json) => {
      const { key, text } = JSON.parse(json) as { key: string; text: string };
      const request = requests.get(key);
      const message = parseJsonObject(text);
      if (!request || !message || answers.has(key)) return;
      if (message.error !== undefined) {
        const error = message.error as { code?: unknown; message?: unknown };
        refused ??= new GatewayError(
          "input-failed",
          `The client refused ${request.method} that server ${server.name} needs: ${
            String(error?.message ?? "")
          }`,
          rawId,
          { data: { server: server.name, clientError: error } },
        );
        allAnswered();
        return;
      }
      answers.set(key, message.result);
      if (answers.size === requests.size) allAnswered();
    });
    try {
      for (const [key, request] of requests) {
        const id = await this.deps.store.relay({
          session: session.id,
          server: server.name,
          backendSession: "",
          protocolVersion: MODERN_PROTOCOL_VERSION,
          backendRawId: JSON.stringify(key),
          waiter,
        });
        const params = toLegacyParams(request, session.protocolVersion);
        this.outbox.send(
          `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(request.method)},"params":${
            JSON.stringify(params)
          }}`,
        );
      }
      const seconds = Math.round(this.deps.inputTimeoutMs / 100) / 10;
      await within(answered, this.deps.inputTimeoutMs, () =>
        new GatewayError(
          "input-unanswered",
          `The client did not answer ${
            [...requests.values()].map((r) => r.method).join(", ")
          } for server ${server.name} within ${seconds} s`,
          rawId,
          { data: { server: server.name, timeoutMs: this.deps.inputTimeoutMs } },
        ), this.signal);
    } finally {
      close();
    }
    return refused ?? Object.fromEntries(answers);
  }

  /** Sends the call again with this round's answers and the backend's `requestState`, on a new id. */
  async #retry(
    responses: Record<string, unknown> | undefined,
    requestState: unknown,
    round: number,
  ): Promise<Response | GatewayError> {
    const { request, server, rawId } = this.call;
    const members: Record<string, string> = {};
    if (responses) members.inputResponses = JSON.stringify(responses);
    if (requestState !== undefined) members.requestState = JSON.stringify(requestState);
    const id = JSON.stringify(`mcpgw-${crypto.randomUUID()}`);
    let sent = {
      headers: request.headers,
      body: withMembers(replaceId(request.body, id), ["params"], members),
    };
    const trace = this.call.trace;
    if (trace) {
      const body = parseJsonObject(request.body);
      const params = body?.params as Record<string, unknown> | undefined;
      sent = trace.backend({
        method: String(body?.method ?? ""),
        name: typeof params?.name === "string" ? params.name : undefined,
        server,
        rawId: id,
        protocolVersion: MODERN_PROTOCOL_VERSION,
        round,
      }).apply(sent, true);
    }
    let res: Response;
    try {
      res = await fetch(server.url, {
        method: "POST",
        headers: sent.headers,
        body: sent.body,
        signal: this.signal,
      });
    } catch (e) {
      if (this.signal.aborted) throw new Cancelled("cancelled");
      return new GatewayError(
        "upstream-unavailable",
        `Server ${server.name} is unavailable: ${(e as Error).message}`,
        rawId,
        {
          data: { server: server.name, retryable: true },
        },
      );
    }
    const type = res.headers.get("content-type") ?? "";
    if (!res.ok && !type.includes("application/json")) {
      const detail = await res.text().catch(() => "");
      return new GatewayError(
        "upstream-error",
        `Server ${server.name} answered HTTP ${res.status}${detail ? `: ${detail.slice(0, 200)}` : ""}`,
        rawId,
        {
          data: { server: server.name, status: res.status },
        },
      );
    }
    return res;
  }
}

/** The mailbox a 2025 client's answers to one round go to. */
export function askBox(waiter: string): string {
  return `ask:${waiter}`;
}
