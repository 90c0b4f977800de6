import { GatewayError } from "../mcp/errors.ts";

/** The buffer each read fills, reused for the whole body. */
const SCRATCH_BYTES = 16 * 1024;
/** First capacity of the buffer a body accumulates in; it doubles as bytes arrive. */
const INITIAL_CAPACITY = 16 * 1024;

/**
 * Reads a request body up to `limit` bytes, within `timeoutMs` (0: no deadline).
 *
 * Memory follows the bytes received, not the chunks. Read the default way, every chunk of a `Deno.serve`
 * body comes in a fresh 64 KiB buffer however small it is, and those buffers are collected long after
 * (20,000 one-byte chunks left 620 MiB behind). So the body is read "bring your own buffer" into one reused
 * scratch buffer, always offered whole (Deno 2.9's byte stream can stall when offered a small remainder of
 * a view), and copied into one buffer that doubles as needed, never past the limit; the declared length is
 * not trusted for the first allocation. The stream is cancelled as soon as the limit is passed or the deadline hits, so a 10 GB upload
 * costs `limit` bytes and a client trickling a body holds its connection for at most `timeoutMs`.
 */
export async function readBody(req: Request, limit: number, timeoutMs = 0): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > limit) {
    await req.body?.cancel();
    throw tooLarge(limit);
  }
  if (!req.body) return "";
  // One byte more than the limit is room enough to see that a body is too large.
  const cap = Number.isFinite(declared) ? Math.min(declared, limit) + 1 : limit + 1;
  const reader = isByteStream(req.body) ? req.body.getReader({ mode: "byob" }) : req.body.getReader();
  // The deadline cancels the stream, which ends the pending read; no promise per read waits on a timer.
  let timedOut = false;
  const timer = timeoutMs > 0
    ? setTimeout(() => {
      timedOut = true;
      reader.cancel().catch(() => {});
    }, timeoutMs)
    : undefined;
  try {
    const bytes = reader instanceof ReadableStreamBYOBReader
      ? await readInto(reader, limit, cap)
      : await readChunks(reader, limit, cap);
    if (timedOut) {
      throw new GatewayError(
        "request-timeout",
        `Request Timeout: the body did not arrive within ${timeoutMs / 1000} s`,
      );
    }
    return new TextDecoder().decode(bytes);
  } catch (e) {
    if (timedOut && !(e instanceof GatewayError)) {
      throw new GatewayError(
        "request-timeout",
        `Request Timeout: the body did not arrive within ${timeoutMs / 1000} s`,
      );
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Bodies from the network are byte streams; a `Request` built from a string (tests, tools) is not. */
function isByteStream(body: ReadableStream<Uint8Array>): boolean {
  try {
    body.getReader({ mode: "byob" }).releaseLock();
    return true;
  } catch {
    return false;
  }
}

async function readInto(reader: ReadableStreamBYOBReader, limit: number, cap: number): Promise<Uint8Array> {
  const body = new Accumulator(cap);
  let scratch = new ArrayBuffer(SCRATCH_BYTES);
  while (true) {
    const next = await reader.read(new Uint8Array(scratch));
    if (next.done) return body.bytes();
    // The view handed in is detached; its bytes come back in a new view of the same memory.
    scratch = next.value.buffer as ArrayBuffer;
    if (body.size + next.value.byteLength > limit) {
      reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    body.push(next.value);
  }
}

/** The same for a stream that is not a byte stream (a `Request` built from a string). */
async function readChunks(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  limit: number,
  cap: number,
): Promise<Uint8Array> {
  const body = new Accumulator(cap);
  while (true) {
    const next = await reader.read();
    if (next.done) return body.bytes();
    if (body.size + next.value.byteLength > limit) {
      reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    body.push(next.value);
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

function tooLarge(limit: number): GatewayError {
  return new GatewayError("body-too-large", `Request body too large: the limit is ${limit} bytes`);
}
