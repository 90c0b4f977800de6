/**
 * The era bridge: interactive requests (elicitation, sampling, roots) between a client of one protocol era
 * and a backend of the other, in one place. The 2025 era asks the client with server-to-client requests
 * during the call; the 2026 era answers `input_required` and the client retries (SEP-2322). Forwarding
 * (`forward.ts`) hands every answer of a crossing pair here:
 *
 * | client | backend wire   | what the bridge does                                                 |
 * | ------ | -------------- | -------------------------------------------------------------------- |
 * | 2025   | stateless 2026 | asks the client on the call's stream, retries the backend (ask_client) |
 * | 2026   | 2025 session   | answers `input_required`, holds the backend call for the retry (held_calls) |
 */
import type { Era } from "../../mcp/protocol.ts";
import type { BackendWire } from "../../mcp/backend_wire.ts";
import type { RelayedRequest } from "../../session/store.ts";
import { askBox, type AskCall, askClient } from "./ask_client.ts";
import type { BridgeDeps } from "./deps.ts";
import { HeldCalls, type HoldCall, type RetryCall } from "./held_calls.ts";
import { Mailboxes } from "./mailboxes.ts";

export type { AskCall, BridgeDeps, HoldCall, RetryCall };
export { Mailboxes };

/** Which bridge a client of `client` era and a backend on `wire` need, if any. */
export function crossingOf(client: Era, wire: BackendWire): "ask-client" | "hold-call" | undefined {
  if (client === "2025" && wire === "stateless") return "ask-client";
  if (client === "2026" && wire === "session") return "hold-call";
  return undefined;
}

export class Bridge {
  readonly #held: HeldCalls;

  constructor(private readonly deps: BridgeDeps) {
    this.#held = new HeldCalls(deps);
  }

  /** 2025 client, 2026 backend: answers the call from the backend's first answer. */
  ask(call: AskCall, first: Response, plain: (text: string) => Promise<Response>): Promise<Response> {
    return askClient(this.deps, call, first, plain);
  }

  /** 2026 client, 2025 backend session: answers the call, holding it if the backend asks for input. */
  hold(call: HoldCall, first: Response, plain: (text: string) => Promise<Response>): Promise<Response> {
    return this.#held.serve(call, first, plain);
  }

  /** 2026 client, 2025 backend session: a retry with a gateway `requestState`. */
  resume(retry: RetryCall): Promise<Response> {
    return this.#held.resume(retry);
  }

  /** A 2025 client's answer to a request the bridge asked it (`relayed.waiter` set): to the waiting call. */
  async answered(relayed: RelayedRequest, text: string): Promise<void> {
    const delivered = await this.deps.mailboxes.send(
      askBox(relayed.waiter!),
      JSON.stringify({ key: JSON.parse(relayed.backendRawId), text }),
    );
    if (!delivered) {
      this.deps.logger.debug("a client answered after its call ended", { server: relayed.server });
    }
  }

  /** Cancels the calls held in this process (shutdown). */
  close(): void {
    this.#held.close();
  }
}
