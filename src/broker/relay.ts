/**
 * Carries backend messages to a client, changing only what must change for the client to see one server:
 * a backend's requests get gateway ids (two backends may both use id 1; the client's answer is matched
 * back through the session store), resource URIs get the server's prefix, results may be rewritten.
 */
import type { ServerConfig } from "../config/schema.ts";
import { GatewayError } from "../mcp/errors.ts";
import { memberSpans, replaceAt } from "../mcp/jsonrpc.ts";
import { formatSse, parseSse } from "../mcp/sse.ts";
import { prefixUri } from "../routing/aggregate.ts";
import type { BackendBinding } from "../session/session_map.ts";
import type { SessionStore } from "../session/store.ts";
import type { Logger } from "../observe/log.ts";

/** How a call was answered: "ok", or "error" (a JSON-RPC error, or a tool result with `isError`). */
export type Answer = "ok" | "error";

/** The answer a message carries, or false when it is not a response. */
export function answerOf(message: Record<string, unknown>): Answer | false {
  if ("method" in message) return false;
  if ("error" in message) return "error";
  if (!("result" in message)) return false;
  const result = message.result as Record<string, unknown> | null;
  return result && typeof result === "object" && result.isError === true ? "error" : "ok";
}

export interface RelayOptions {
  /**
   * Rewrites the result of the response (resource URIs back to served ones, framing for the client's era).
   * A {@link GatewayError} replaces the response: the client is told why it gets no result.
   */
  rewriteResult?: (
    result: Record<string, unknown>,
  ) => Record<string, unknown> | GatewayError | Promise<Record<string, unknown> | GatewayError>;
  /** Notifications the client must not get (e.g. log messages a 2026 client did not ask for). */
  dropNotification?: (message: Record<string, unknown>) => boolean;
}

export class Relay {
  constructor(
    private readonly store: SessionStore,
    private readonly logger: Logger,
    /** The gateway session the messages are for. */
    private readonly session: string,
    private readonly server: ServerConfig,
    private readonly binding: BackendBinding,
    private readonly options: RelayOptions = {},
  ) {}

  /** One message, as JSON text in and out; returns the input itself when nothing changes. */
  async rewrite(text: string): Promise<string> {
    return (await this.process(text)).text ?? "";
  }

  /**
   * Rewrites one message and tells whether it was the response (the one message that answers a call),
   * and if so whether it reports a failure (a JSON-RPC error, or a tool result marked `isError`). `text`
   * undefined: the client does not get this message.
   */
  async process(text: string): Promise<{ text: string | undefined; response: Answer | false }> {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text);
    } catch {
      return { text, response: false };
    }
    if (!message || typeof message !== "object") return { text, response: false };
    const params = message.params as Record<string, unknown> | undefined;
    if (
      typeof message.method === "string" && !("id" in message) && this.options.dropNotification?.(message)
    ) {
      return { text: undefined, response: false };
    }
    if (typeof message.method === "string" && "id" in message) {
      const id = await this.store.relay({
        session: this.session,
        server: this.server.name,
        backendSession: this.binding.id,
        protocolVersion: this.binding.protocolVersion,
        backendRawId: JSON.stringify(message.id),
      });
      return { text: JSON.stringify({ ...message, id: JSON.parse(id) }), response: false };
    }
    if (message.method === "notifications/resources/updated" && typeof params?.uri === "string") {
      const uri = prefixUri(this.server.toolPrefix, params.uri);
      return { text: JSON.stringify({ ...message, params: { ...params, uri } }), response: false };
    }
    const response = answerOf(message);
    if (response && this.options.rewriteResult && message.result && typeof message.result === "object") {
      const result = await this.options.rewriteResult(message.result as Record<string, unknown>);
      // Only the result changes: the id is spliced back as sent (ids of any size survive).
      const idSpan = memberSpans(text).get("id");
      const rawId = idSpan ? text.slice(idSpan[0], idSpan[1]) : "null";
      if (result instanceof GatewayError) return { text: result.withId(rawId).body(), response: "error" };
      return { text: replaceAt(text, ["result"], JSON.stringify(result)), response };
    }
    return { text, response };
  }

  /**
   * A call's SSE answer, event by event. The call's id (`rawId`) must be answered: a stream the backend
   * cuts (or ends) before its response ends with a JSON-RPC error for that id, so the client's request
   * never hangs unanswered.
   */
  stream(
    body: ReadableStream<Uint8Array>,
    rawId: string,
    onEnd: (answer: Answer | "cut") => void,
  ): ReadableStream<Uint8Array> {
    const events = parseSse(body);
    const encoder = new TextEncoder();
    let ended = false;
    let answered: Answer | false = false;
    const end = () => {
      if (!ended) onEnd(answered || "cut");
      ended = true;
    };
    const cut = (why: string) =>
      encoder.encode(formatSse({
        event: "message",
        data: new GatewayError(
          "upstream-unavailable",
          `Server ${this.server.name} ${why} before answering`,
          rawId,
          { data: { server: this.server.name, retryable: true } },
        ).body(),
      }));
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          // A pull must enqueue something (or end the stream): a stream whose pull enqueues nothing is not
          // pulled again. Messages the client must not get are skipped here, so read on past them.
          while (true) {
            const { value, done } = await events.next();
            if (done) {
              end();
              if (!answered) controller.enqueue(cut("ended the stream"));
              controller.close();
              return;
            }
            let data: string | undefined = value.data;
            if (data) {
              const processed = await this.process(data);
              data = processed.text;
              answered ||= processed.response;
            }
            if (data === undefined) continue;
            controller.enqueue(encoder.encode(formatSse({ ...value, data })));
            return;
          }
        } catch (e) {
          end();
          this.logger.warn("backend stream broke", { server: this.server.name, error: e });
          if (!answered) controller.enqueue(cut("broke the stream"));
          controller.close();
        }
      },
      cancel: async () => {
        end();
        await events.return(undefined);
      },
    });
  }
}
