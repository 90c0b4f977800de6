/**
 * Requests a backend sends to the client (sampling, elicitation, roots) during a call. Two backends may
 * both use id 1, so each gets a gateway id on the way out; the client's answer is matched back to the
 * backend session that asked, with the backend's own id restored.
 */
import type { ServerConfig } from "../events/types.ts";
import { RELAYED_REQUEST_ID_PREFIX } from "../mcp/protocol.ts";
import type { BackendBinding } from "../session/session_map.ts";

export interface PendingRequest {
  session: string;
  server: ServerConfig;
  binding: BackendBinding;
  /** The backend's id, as JSON text. */
  backendRawId: string;
  expires: number;
}

/** How long a client may take to answer (elicitation waits for a person). */
const ANSWER_WINDOW_MS = 15 * 60_000;

export class PendingRequests {
  #pending = new Map<string, PendingRequest>();

  /** Records a backend request and returns the id (JSON text) the client will see. */
  add(session: string, server: ServerConfig, binding: BackendBinding, backendRawId: string): string {
    const now = Date.now();
    if (this.#pending.size > 10_000) {
      for (const [id, p] of this.#pending) if (p.expires < now) this.#pending.delete(id);
    }
    const id = `${RELAYED_REQUEST_ID_PREFIX}${crypto.randomUUID()}`;
    this.#pending.set(id, { session, server, binding, backendRawId, expires: now + ANSWER_WINDOW_MS });
    return JSON.stringify(id);
  }

  /** Takes the request a client response answers; only the session it was sent to may answer it. */
  take(session: string, id: unknown): PendingRequest | undefined {
    if (typeof id !== "string") return undefined;
    const pending = this.#pending.get(id);
    if (!pending || pending.session !== session || pending.expires < Date.now()) return undefined;
    this.#pending.delete(id);
    return pending;
  }

  dropSession(session: string): void {
    for (const [id, p] of this.#pending) if (p.session === session) this.#pending.delete(id);
  }
}
