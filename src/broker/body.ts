import { GatewayError } from "../mcp/errors.ts";

/**
 * Reads a request body up to `limit` bytes. The stream is cancelled as soon as the limit is passed, so a
 * 10 GB upload costs us `limit` bytes, not 10 GB.
 */
export async function readBody(req: Request, limit: number): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > limit) {
    await req.body?.cancel();
    throw new GatewayError("body-too-large", `Request body too large: the limit is ${limit} bytes`);
  }
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new GatewayError("body-too-large", `Request body too large: the limit is ${limit} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return new TextDecoder().decode(chunks[0]);
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}
