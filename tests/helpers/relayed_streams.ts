/**
 * Response bodies a test proxy relays (the recording proxy, the Envoy harness), each of which can be ended
 * at once: a long SSE stream would otherwise hold the proxy's shutdown open. The upstream is cancelled when
 * the client goes away or the stream is ended.
 */
export class RelayedStreams {
  readonly #open = new Set<() => void>();

  /** `body`, passed on read by read. */
  relay(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    let stop!: () => void;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        stop = () => {
          this.#open.delete(stop);
          try {
            controller.close();
          } catch { /* already closed */ }
          reader.cancel().catch(() => {});
        };
        this.#open.add(stop);
      },
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (done) stop();
          else controller.enqueue(value);
        } catch {
          stop();
        }
      },
      cancel: () => stop(),
    });
  }

  /** Ends every stream still open. */
  endAll(): void {
    for (const stop of [...this.#open]) stop();
  }
}
