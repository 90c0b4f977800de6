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
  if (event.retry !== undefined) out += `retry: ${event.retry}\n`;
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

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits an SSE byte stream into whole events, as the bytes that carried them (each up to and including
 * the blank line that ends it), so a relay can pass an event on byte for byte and parse only the ones it
 * must change. Line ends may be CRLF, LF or CR (WHATWG HTML §9.2.5). A line end never splits a UTF-8
 * sequence, so each event's bytes decode on their own. Work is linear in the bytes, however they are cut.
 */
export class SseSplitter {
  /** Bytes of the event under way, from earlier chunks. */
  #parts: Uint8Array[] = [];
  /** Whether the next byte starts a line. */
  #lineStart = true;
  /** The last byte was a CR: an LF right after it belongs to the same line end. */
  #afterCr = false;
  /** That CR ended a blank line: the event ends with it, or with the LF after it. */
  #endsAfterCr = false;

  /**
   * Takes the next chunk; returns the events it completes. `whole` is true when they are exactly `chunk`
   * (nothing carried in from before, nothing left over), so a relay can pass `chunk` itself on.
   */
  push(chunk: Uint8Array): { events: Uint8Array[]; whole: boolean } {
    const carried = this.#parts.length > 0;
    const events: Uint8Array[] = [];
    const n = chunk.byteLength;
    let start = 0;
    const emit = (end: number) => {
      const tail = chunk.subarray(start, end);
      events.push(this.#parts.length ? concatBytes([...this.#parts, tail]) : tail);
      this.#parts = [];
      start = end;
    };
    let i = 0;
    if (this.#afterCr && n > 0) {
      this.#afterCr = false;
      if (chunk[0] === LF) i = 1; // the LF of a CRLF
      if (this.#endsAfterCr) emit(i);
      this.#endsAfterCr = false;
    }
    if (chunk.indexOf(CR, i) < 0) {
      // LF line ends only: jump from LF to LF.
      while (i < n) {
        const nl = chunk.indexOf(LF, i);
        if (nl < 0) {
          this.#lineStart = false;
          break;
        }
        const blank = nl === i && this.#lineStart;
        this.#lineStart = true;
        i = nl + 1;
        if (blank) emit(i);
      }
    } else {
      for (; i < n; i++) {
        const c = chunk[i];
        if (c !== LF && c !== CR) {
          this.#lineStart = false;
          continue;
        }
        const blank = this.#lineStart;
        this.#lineStart = true;
        if (c === CR) {
          if (i + 1 === n) {
            // CR or CRLF: the next chunk tells.
            this.#afterCr = true;
            this.#endsAfterCr = blank;
            break;
          }
          if (chunk[i + 1] === LF) i++;
        }
        if (blank) emit(i + 1);
      }
    }
    if (start < n) this.#parts.push(chunk.subarray(start));
    return { events, whole: !carried && start === n };
  }

  /**
   * What is left at the end of the stream, if anything: an event the stream ended before its blank line
   * (or right after a blank line's CR).
   */
  rest(): Uint8Array | undefined {
    const parts = this.#parts;
    this.#parts = [];
    this.#lineStart = true;
    this.#afterCr = this.#endsAfterCr = false;
    return parts.length ? concatBytes(parts) : undefined;
  }
}

/** The parts as one array (the part itself when there is only one). */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * The fields of one event's text (as {@link SseSplitter} cut it); `undefined` data when it has no `data`
 * field (a comment, a bare `id` or `retry`).
 */
export function readSseEvent(text: string): { data?: string; event?: string; id?: string; retry?: number } {
  const out: { data?: string; event?: string; id?: string; retry?: number } = {};
  const lines = text.includes("\r") ? text.split(/\r\n|\r|\n/) : text.split("\n");
  for (const line of lines) {
    if (line === "" || line.charCodeAt(0) === 0x3a) continue; // ':' comment
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    if (field === "data") out.data = out.data === undefined ? value : `${out.data}\n${value}`;
    else if (field === "event") out.event = value;
    else if (field === "id") out.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) out.retry = Number(value);
  }
  return out;
}
