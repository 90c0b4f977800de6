/**
 * Mailboxes: where a bridged call's waiting side is told things by whoever serves the next request about
 * it — a 2025 client's answer, POSTed to any replica, reaching the call that asked; a 2026 client's retry
 * reaching the replica that holds the backend call, and the rest of that call's answer coming back. A box
 * open in this process gets its messages directly; one open on another process through the session bus.
 */
import type { SessionBus } from "../../session/bus.ts";

export class Mailboxes {
  #local = new Map<string, (json: string) => void>();

  constructor(private readonly bus: SessionBus) {}

  /** Opens `box` (a unique name); resolves once messages sent to it from any process arrive at `receive`. */
  async open(box: string, receive: (json: string) => void): Promise<() => void> {
    this.#local.set(box, receive);
    const closeShared = this.bus.shared ? await this.bus.openBox(box, receive) : () => {};
    return () => {
      if (this.#local.get(box) === receive) this.#local.delete(box);
      closeShared();
    };
  }

  /** Delivers one message to `box` wherever it is open; resolves false when it is open nowhere. */
  async send(box: string, json: string): Promise<boolean> {
    const local = this.#local.get(box);
    if (local) {
      local(json);
      return true;
    }
    return this.bus.shared ? await this.bus.sendToBox(box, json) : false;
  }
}
