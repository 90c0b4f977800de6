/**
 * In-memory SSE event store for one session, so a fixture server can close a POST stream mid-call and
 * replay what followed when the client reconnects with `Last-Event-ID` (SEP-1699 polling). Event ids are
 * `<streamId>/<seq>`, so the stream an id belongs to is known without a lookup table.
 */
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import type { EventStore } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

const MAX_EVENTS_PER_STREAM = 1000;

export class MemoryEventStore implements EventStore {
  #streams = new Map<string, { seq: number; message: JSONRPCMessage }[]>();
  #seq = 0;

  storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const seq = ++this.#seq;
    const events = this.#streams.get(streamId) ?? [];
    events.push({ seq, message });
    if (events.length > MAX_EVENTS_PER_STREAM) events.shift();
    this.#streams.set(streamId, events);
    return Promise.resolve(`${streamId}/${seq}`);
  }

  getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    const cut = eventId.lastIndexOf("/");
    const streamId = cut > 0 ? eventId.slice(0, cut) : undefined;
    return Promise.resolve(streamId && this.#streams.has(streamId) ? streamId : undefined);
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const streamId = await this.getStreamIdForEventId(lastEventId);
    if (!streamId) return "";
    const after = Number(lastEventId.slice(streamId.length + 1));
    for (const { seq, message } of this.#streams.get(streamId) ?? []) {
      // Priming events are stored as `{}`: they carry an id but nothing to replay.
      if (seq > after && Object.keys(message).length > 0) await send(`${streamId}/${seq}`, message);
    }
    return streamId;
  }
}
