/**
 * A bridged call's answer to its client, written message by message as the gateway learns them (a
 * backend's notifications, requests the gateway asks, the final response): an SSE stream whose end the
 * gateway decides, and which tells when the client went away first.
 */
import { formatSse } from "../../mcp/sse.ts";

const encoder = new TextEncoder();

export class Outbox {
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #ended = false;
  #onCancel: (() => void) | undefined;

  constructor() {
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        if (this.#ended) return;
        this.#ended = true;
        this.#onCancel?.();
      },
    });
  }

  /** True once ended by the gateway, or closed by the client. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Called once when the client closes the stream before the gateway ended it. */
  onCancel(listener: () => void): void {
    this.#onCancel = listener;
  }

  /** Sends one JSON-RPC message (JSON text); false when the stream has ended. */
  send(json: string): boolean {
    if (this.#ended) return false;
    this.#controller.enqueue(encoder.encode(formatSse({ event: "message", data: json })));
    return true;
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#controller.close();
  }

  /** The HTTP answer carrying the stream. */
  response(headers: HeadersInit = {}): Response {
    const h = new Headers(headers);
    h.set("content-type", "text/event-stream");
    h.set("cache-control", "no-cache");
    h.set("x-accel-buffering", "no");
    return new Response(this.stream, { status: 200, headers: h });
  }
}
