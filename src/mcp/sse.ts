/**
 * Server-Sent Events framing (WHATWG HTML §9.2), for reading backend streams and writing client ones.
 * Parsing keeps `id` so resumability (`Last-Event-ID`) can pass through.
 */

export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
  retry?: number;
}

/** Parses a byte stream into events. Comments and empty `data` keep-alives are skipped. */
export async function* parseSse(stream: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let current: SseEvent = { data: "" };
  let hasData = false;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (hasData) yield current;
          current = { data: "" };
          hasData = false;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") {
          current.data = hasData ? `${current.data}\n${value}` : value;
          hasData = true;
        } else if (field === "event") current.event = value;
        else if (field === "id") current.id = value;
        else if (field === "retry" && /^\d+$/.test(value)) current.retry = Number(value);
      }
    }
    if (hasData) yield current;
  } finally {
    reader.releaseLock();
  }
}

/** Formats one event; multi-line data is split into several `data:` lines as the format requires. */
export function formatSse(event: SseEvent): string {
  let out = "";
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  if (event.event) out += `event: ${event.event}\n`;
  for (const line of event.data.split("\n")) out += `data: ${line}\n`;
  return out + "\n";
}

/**
 * The JSON-RPC messages of an answer to a POST, as JSON texts in order: the one message of a JSON answer,
 * or the data of each SSE event (priming events without data skipped). Returning early cancels the body.
 */
export async function* answerMessages(res: Response): AsyncGenerator<string> {
  if (!res.body) return;
  if (!(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    yield await res.text();
    return;
  }
  const events = parseSse(res.body);
  try {
    for await (const event of events) if (event.data) yield event.data;
  } finally {
    await events.return(undefined);
    await res.body.cancel().catch(() => {});
  }
}
