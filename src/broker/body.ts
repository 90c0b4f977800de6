import { GatewayError } from "../mcp/errors.ts";

/** The buffer each BYOB read fills, reused for the whole body. */
const SCRATCH_BYTES = 16 * 1024;
/** First capacity of the buffer a multi-chunk body accumulates in; it doubles as bytes arrive. */
const INITIAL_CAPACITY = 16 * 1024;

/**
 * Reads a request body up to `limit` bytes, within `timeoutMs` (0: no deadline).
 *
 * Memory follows the bytes received, not the chunks. Read the default way, every chunk of a streamed
 * `Deno.serve` body arrives in a fresh 64 KiB buffer however small it is, and those buffers are collected
 * long after (20,000 one-byte chunks left 620 MiB behind). The usual body is one chunk and is decoded as it
 * came; from the third read on, a streamed body is read "bring your own buffer" into one reused scratch
 * buffer, always offered whole (Deno 2.9's byte stream can stall when offered a small remainder of a view),
 * and copied into one buffer that doubles as needed, never past the limit; the declared length is not
 * trusted for the first allocation. The stream is cancelled as soon as the limit is passed or the deadline
 * hits, so a 10 GB upload costs `limit` bytes and a client trickling a body holds its connection for at most
 * `timeoutMs`.
 */
export async function readBody(req: Request, limit: number, timeoutMs = 0): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > limit) {
    await req.body?.cancel();
    throw tooLarge(limit);
  }
  const body = req.body;
  if (!body) return "";
  // One byte more than the limit is room enough to see that a body is too large.
  const cap = Number.isFinite(declared) ? Math.min(declared, limit) + 1 : limit + 1;
  let reader: ReadableStreamDefaultReader<Uint8Array> | ReadableStreamBYOBReader = body.getReader();
  const deadline = timeoutMs > 0
    ? watchDeadline(timeoutMs, () => reader.cancel().catch(() => {}))
    : undefined;
  try {
    const first = await reader.read();
    if (first.done) return deadline?.expired ? timedOut(timeoutMs) : "";
    if (first.value.byteLength > limit) return cancelTooLarge(reader, limit);
    const second = await reader.read();
    if (deadline?.expired) return timedOut(timeoutMs);
    if (second.done) return new TextDecoder().decode(first.value);
    const bytes = new Accumulator(cap);
    for (const chunk of [first.value, second.value]) {
      if (bytes.size + chunk.byteLength > limit) return cancelTooLarge(reader, limit);
      bytes.push(chunk);
    }
    // A streamed body: from here on, bring our own buffer (bodies that are not byte streams read as before).
    reader.releaseLock();
    try {
      reader = body.getReader({ mode: "byob" });
    } catch {
      reader = body.getReader();
    }
    let scratch = new ArrayBuffer(SCRATCH_BYTES);
    while (true) {
      const next = reader instanceof ReadableStreamBYOBReader
        ? await reader.read(new Uint8Array(scratch))
        : await reader.read();
      if (deadline?.expired) return timedOut(timeoutMs);
      if (next.done) return new TextDecoder().decode(bytes.bytes());
      const chunk = next.value!;
      // A BYOB read detaches the view handed in; its bytes come back in a new view of the same memory.
      if (reader instanceof ReadableStreamBYOBReader) scratch = chunk.buffer as ArrayBuffer;
      if (bytes.size + chunk.byteLength > limit) return cancelTooLarge(reader, limit);
      bytes.push(chunk);
    }
  } catch (e) {
    if (deadline?.expired && !(e instanceof GatewayError)) return timedOut(timeoutMs);
    throw e;
  } finally {
    deadline?.done();
  }
}

/** Bytes copied into one buffer that doubles as needed (at most to `cap`, never below what it holds). */
class Accumulator {
  #buffer = new Uint8Array(0);
  size = 0;
  constructor(private readonly cap: number) {}

  push(chunk: Uint8Array) {
    const needed = this.size + chunk.byteLength;
    if (needed > this.#buffer.byteLength) {
      const doubled = Math.min(Math.max(this.#buffer.byteLength * 2, INITIAL_CAPACITY), this.cap);
      const grown = new Uint8Array(Math.max(needed, doubled));
      grown.set(this.#buffer.subarray(0, this.size));
      this.#buffer = grown;
    }
    this.#buffer.set(chunk, this.size);
    this.size = needed;
  }

  bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.size);
  }
}

interface Deadline {
  at: number;
  expired: boolean;
  expire: () => void;
  done(): void;
}

/**
 * Body deadlines are checked by one sweep every half second rather than a timer per request: most bodies
 * arrive in one read, and a timer each would cost more than the read (a deadline is late by at most 0.5 s).
 */
const deadlines = new Set<Deadline>();
let sweeper: ReturnType<typeof setInterval> | undefined;

function watchDeadline(timeoutMs: number, expire: () => void): Deadline {
  const deadline: Deadline = {
    at: Date.now() + timeoutMs,
    expired: false,
    expire,
    done: () => deadlines.delete(deadline),
  };
  deadlines.add(deadline);
  if (sweeper === undefined) {
    const interval = setInterval(() => {
      const now = Date.now();
      for (const d of deadlines) {
        if (d.at > now) continue;
        d.expired = true;
        deadlines.delete(d);
        d.expire();
      }
    }, 500);
    // The sweep never keeps a process alive by itself.
    Deno.unrefTimer(interval);
    sweeper = interval;
  }
  return deadline;
}

function timedOut(timeoutMs: number): never {
  throw new GatewayError(
    "request-timeout",
    `Request Timeout: the body did not arrive within ${timeoutMs / 1000} s`,
  );
}

function cancelTooLarge(reader: { cancel(): Promise<void> }, limit: number): never {
  reader.cancel().catch(() => {});
  throw tooLarge(limit);
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError("body-too-large", `Request body too large: the limit is ${limit} bytes`);
}
