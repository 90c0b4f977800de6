/**
 * Reading a streamed response (SSE, a child's stdout) in tests without hanging: the stream's end is an
 * answer, not something to read past. A loop calling `read()` after `done` resolves at once, forever, so no
 * timer (not even Deno's test sanitizers) ever gets to run.
 */
import { within } from "./ports.ts";

/**
 * Reads text from `reader` into `seen` until `until(seen)` holds; fails when the stream ends first or after
 * `timeoutMs`, cancelling the reader then. Returns everything read so far (including `seen`).
 *
 * @example
 * ```ts
 * const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
 * const text = await readUntil(reader, (t) => t.includes("data: one"), "the first event");
 * ```
 */
export async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  until: (seen: string) => boolean,
  what: string,
  { seen = "", timeoutMs = 15_000 }: { seen?: string; timeoutMs?: number } = {},
): Promise<string> {
  const reading = (async () => {
    while (!until(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended before ${what}:\n${seen}`);
      seen += value;
    }
    return seen;
  })();
  try {
    return await within(reading, timeoutMs, what);
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
}

/** Reads (and drops) the rest of `reader` in the background, so a child never blocks on a full pipe. */
export function drain(reader: ReadableStreamDefaultReader<unknown>): void {
  (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })().catch(() => {});
}
