/**
 * Calls a 2025 session has in flight on 2026 backends. 2026-07-28 has no cancellation notification toward
 * a server: a request is cancelled by closing it. So a 2025 client's `notifications/cancelled` for such a
 * call aborts the gateway's request to the backend. Held in this process (the one carrying the call's
 * stream), by session and request id.
 */
export class StatelessCalls {
  #calls = new Map<string, AbortController>();

  /** Registers a call; its request to the backend carries the returned signal. */
  begin(session: string, rawId: string): AbortSignal {
    const abort = new AbortController();
    this.#calls.set(`${session}\0${rawId}`, abort);
    return abort.signal;
  }

  end(session: string, rawId: string): void {
    this.#calls.delete(`${session}\0${rawId}`);
  }

  /** Cancels the call `rawId` (JSON text of its id) of `session`; false when no such call is in flight here. */
  cancel(session: string, rawId: string): boolean {
    const abort = this.#calls.get(`${session}\0${rawId}`);
    if (!abort) return false;
    this.#calls.delete(`${session}\0${rawId}`);
    abort.abort(new Error("cancelled by the client"));
    return true;
  }
}
