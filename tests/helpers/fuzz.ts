/**
 * Deterministic hostile requests for the fuzz test: a seeded PRNG and generators that mutate valid MCP
 * requests at every layer (bytes, JSON, JSON-RPC, headers, method and path, chunking, sizes at and over the
 * body limit). The same seed gives the same requests, so a failure can be replayed.
 */

/** mulberry32: small, fast, and the same sequence on every machine for a seed. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)];
  const chance = (p: number) => next() < p;
  return { next, int, pick, chance };
}
export type Rng = ReturnType<typeof rng>;

/** One request to send: over fetch, or as raw bytes on a socket (for framing fetch cannot produce). */
export interface FuzzRequest {
  /** What was mutated, for the failure message. */
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array<ArrayBuffer>;
  /** Send the body in chunks of these sizes (chunked transfer encoding) over a raw socket. */
  chunks?: number[];
  /** Send these raw bytes as the whole request (framing errors). */
  raw?: Uint8Array;
  /** Statuses this request must get, when its shape decides it (sizes at and over the limit). */
  expect?: number[];
}

const encoder = new TextEncoder();
const PIECES = [
  "a",
  "Z",
  "0",
  " ",
  '"',
  "\\",
  "/",
  "{",
  "}",
  "[",
  "]",
  ":",
  ",",
  "\u0000",
  "\u001f",
  "é",
  "€",
  "😀",
  "\u202e",
  "\ud800",
  "\n",
  "\t",
  "null",
  "true",
  "-1e309",
  "1e308",
  "0.0000001",
  "__proto__",
  "constructor",
];

export function randomString(r: Rng, max = 40): string {
  let s = "";
  for (let i = r.int(0, max); i > 0; i--) s += r.pick(PIECES);
  return s;
}

export function randomValue(r: Rng, depth = 0): unknown {
  const kinds = depth > 3 ? 5 : 7;
  switch (r.int(0, kinds)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1.5, 2 ** 53 + 1, -(2 ** 63), 1e308, Number.MIN_VALUE, r.int(-1e6, 1e6)]);
    case 3:
    case 4:
      return randomString(r);
    case 5:
      return r.chance(0.5) ? [] : {};
    case 6:
      return Array.from({ length: r.int(0, 4) }, () => randomValue(r, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: r.int(0, 4) }, () => [randomString(r, 8), randomValue(r, depth + 1)]),
      );
  }
}

/** Valid client messages the mutations start from. */
export function templates(tool: string): Record<string, unknown>[] {
  return [
    {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "fuzz", version: "1" } },
    },
    { jsonrpc: "2.0", id: 2, method: "ping" },
    { jsonrpc: "2.0", id: "t", method: "tools/list", params: {} },
    { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: tool, arguments: { message: "hi" } } },
    {
      jsonrpc: "2.0",
      id: 4,
      method: "tools/call",
      params: { name: tool, arguments: { message: "hi" }, _meta: { progressToken: 1 } },
    },
    { jsonrpc: "2.0", method: "notifications/initialized" },
    { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 3, reason: "fuzz" } },
    { jsonrpc: "2.0", id: "gw-x", result: {} },
    { jsonrpc: "2.0", id: 5, method: "logging/setLevel", params: { level: "info" } },
    { jsonrpc: "2.0", id: 6, method: "resources/read", params: { uri: "test://x" } },
    { jsonrpc: "2.0", id: 7, method: "prompts/get", params: { name: "p" } },
    {
      jsonrpc: "2.0",
      id: 8,
      method: "completion/complete",
      params: { ref: { type: "ref/prompt", name: "p" } },
    },
  ];
}

/** A JSON-RPC message with one to three structural changes. */
export function mutateMessage(r: Rng, message: Record<string, unknown>): unknown {
  let m: unknown = structuredClone(message);
  for (let n = r.int(1, 3); n > 0; n--) {
    if (!m || typeof m !== "object" || Array.isArray(m)) break;
    const o = m as Record<string, unknown>;
    const keys = Object.keys(o);
    switch (r.int(0, 9)) {
      case 0:
        if (keys.length) delete o[r.pick(keys)];
        break;
      case 1:
        o[r.pick([...keys, "extra", "__proto__"])] = randomValue(r);
        break;
      case 2:
        o.jsonrpc = r.pick(["1.0", "2", 2, null, "2.0 ", ""]);
        break;
      case 3:
        o.id = r.pick([null, true, 1.5, -0, [], {}, "", "x".repeat(r.int(1, 2000)), 2 ** 64, randomValue(r)]);
        break;
      case 4:
        o.method = r.pick([
          randomString(r),
          "tools/CALL",
          " tools/call",
          "tools/call\u0000",
          "x".repeat(r.int(100, 5000)),
          "rpc.discover",
          "notifications/" + randomString(r),
          42,
        ]);
        break;
      case 5:
        o.params = r.pick([null, [], "params", 7, randomValue(r)]);
        break;
      case 6: {
        const params = (o.params && typeof o.params === "object" ? o.params : (o.params = {})) as Record<
          string,
          unknown
        >;
        params[
          r.pick(["name", "arguments", "_meta", "uri", "level", "protocolVersion", "capabilities", "ref"])
        ] = randomValue(r);
        break;
      }
      case 7:
        m = r.chance(0.5) ? [o] : [o, structuredClone(o), {}];
        break;
      case 8:
        m = r.pick([[], {}, null, 0, "text", randomValue(r)]);
        break;
      default:
        o._meta = { progressToken: randomValue(r), [randomString(r, 6)]: randomValue(r) };
    }
  }
  return m;
}

/** Text-level damage: truncation, inserted bytes, deep nesting, a BOM, trailing garbage. */
export function damageText(r: Rng, text: string): string {
  switch (r.int(0, 7)) {
    case 0:
      return text.slice(0, r.int(0, text.length));
    case 1: {
      const at = r.int(0, text.length);
      return text.slice(0, at) + randomString(r, 5) + text.slice(at);
    }
    case 2: {
      const depth = r.int(100, 20_000);
      return "[".repeat(depth) + "]".repeat(r.chance(0.5) ? depth : r.int(0, depth));
    }
    case 3:
      return "\ufeff" + text;
    case 4:
      return text + r.pick(["}", "]]", "\u0000", "garbage", ",{}", "\n\n{}"]);
    case 5:
      return text.replace(/"/g, r.pick(["'", "", '""', '\\"']));
    case 6:
      return `{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","id":${
        r.pick(["2", '"x"', "null"])
      }}`;
    default:
      return text.replace(/\d/g, () => String(r.int(0, 9)).repeat(r.int(1, 400)));
  }
}

const CONTENT_TYPES = [
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/json;charset=latin1",
  "application/json; charset=utf-16",
  "text/plain",
  "",
  "application/json-seq",
  "multipart/form-data; boundary=x",
  "application/x-www-form-urlencoded",
];
const ACCEPTS = [
  "application/json, text/event-stream",
  "application/json, text/event-stream",
  "*/*",
  "",
  "text/html",
  "application/json",
  "text/event-stream",
];
const PROTOCOL_VERSIONS = [
  "2025-11-25",
  "2025-06-18",
  "2024-11-05",
  "1999-01-01",
  "",
  "2025-11-25\u0000",
  "latest",
];

/** Headers a client might send, hostile ones included. `session` is a valid session id for this path. */
export function randomHeaders(r: Rng, session: string): Record<string, string> {
  const h: Record<string, string> = {};
  const type = r.pick(CONTENT_TYPES);
  if (type) h["content-type"] = type;
  const accept = r.pick(ACCEPTS);
  if (accept) h.accept = accept;
  switch (r.int(0, 7)) {
    case 0:
      break;
    case 1:
      h["mcp-session-id"] = randomString(r, 20).replace(/[^\x21-\x7e]/g, "x");
      break;
    case 2:
      h["mcp-session-id"] = session.slice(0, -2) + (session.endsWith("A") ? "BB" : "AA");
      break;
    case 3:
      h["mcp-session-id"] = "e".repeat(r.int(1000, 8000));
      break;
    case 4:
      // A JWT with alg "none" and no signature.
      h["mcp-session-id"] = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
      break;
    default:
      h["mcp-session-id"] = session;
  }
  if (r.chance(0.5)) h["mcp-protocol-version"] = r.pick(PROTOCOL_VERSIONS);
  if (r.chance(0.15)) h.origin = r.pick(["http://evil.example", "null", "http://127.0.0.1:1", "file://"]);
  if (r.chance(0.1)) h["x-mcp-toolname"] = randomString(r, 10).replace(/[^\x21-\x7e]/g, "y");
  if (r.chance(0.1)) h["last-event-id"] = randomString(r, 10).replace(/[^\x21-\x7e]/g, "z");
  if (r.chance(0.05)) h["x-filler"] = "f".repeat(r.int(1000, 16_000));
  if (r.chance(0.05)) { for (let i = 0; i < 100; i++) h[`x-many-${i}`] = String(i); }
  return h;
}

const PATHS = [
  "/status/%",
  "/status/%ZZ",
  "/status/%E0%A4%A",
  "/status/..%2f..%2fetc",
  "/debug/events?limit=-1",
  "/debug/events?limit=99999999999&type=%",
  "/debug/projections?name=%00",
  "/.well-known/oauth-protected-resource/%",
  "/metrics",
  "/readyz",
  "/mcp/",
  "/mcp?x=%",
  "//mcp",
  "/%2e%2e/mcp",
];

/**
 * The next hostile request. `limit` is the body limit the gateway runs with; `tool` a served tool name;
 * `raw` whether socket-level framing may be used (not for paths whose proxy waits for a promised body).
 */
export function nextRequest(
  r: Rng,
  opts: { session: string; tool: string; limit: number; shortBodies: boolean },
): FuzzRequest {
  const roll = r.next();
  const headers = randomHeaders(r, opts.session);
  if (roll < 0.06) {
    // Sizes at and over the limit: a valid ping padded with whitespace to exactly `size` bytes.
    const size = r.pick([opts.limit, opts.limit + 1, opts.limit * 2 + r.int(0, 100)]);
    const ping = '{"jsonrpc":"2.0","id":9,"method":"ping"}';
    const body = encoder.encode(" ".repeat(size - ping.length) + ping);
    const chunked = r.chance(0.3);
    return {
      label: `size ${size}${chunked ? " chunked" : ""}`,
      method: "POST",
      path: "/mcp",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": opts.session,
      },
      body,
      chunks: chunked ? [Math.floor(size / 3), Math.floor(size / 3), size] : undefined,
      expect: size > opts.limit ? [413] : [200],
    };
  }
  if (roll < 0.1) {
    return {
      label: "path",
      method: r.pick(["GET", "POST", "OPTIONS", "HEAD"]),
      path: r.pick(PATHS),
      headers,
    };
  }
  if (roll < 0.16) {
    const method = r.pick(["GET", "DELETE", "PUT", "PATCH", "OPTIONS"]);
    // DELETE never gets the shared session: that would end it for every later request.
    if (method === "DELETE" && headers["mcp-session-id"] === opts.session) delete headers["mcp-session-id"];
    return { label: `method ${method}`, method, path: "/mcp", headers };
  }
  if (roll < 0.2 && opts.shortBodies) {
    // Framing only a socket can send: a broken chunk size, or a body shorter than its Content-Length.
    const head =
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n`;
    const raw = r.pick([
      `${head}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      `${head}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
      `${head}Content-Length: -1\r\n\r\n{}`,
      `${head}Content-Length: 20\r\n\r\n{"jsonrpc":"2.0"}`,
      `GET /mcp HTTP/1.1\r\nHost: ${"h".repeat(r.int(1, 9000))}\r\nConnection: close\r\n\r\n`,
      `POST /mcp HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}`,
      `POST /mcp HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
      `BREW /mcp HTCPCP/1.0\r\n\r\n`,
    ]);
    return { label: "framing", method: "RAW", path: "/mcp", headers: {}, raw: encoder.encode(raw) };
  }
  const base = r.pick(templates(opts.tool));
  const message = r.chance(0.75) ? mutateMessage(r, base) : base;
  let text = JSON.stringify(message) ?? "null";
  if (r.chance(0.3)) text = damageText(r, text);
  let body = encoder.encode(text);
  if (r.chance(0.05)) body = Uint8Array.from({ length: r.int(0, 300) }, () => r.int(0, 255));
  const chunks = r.chance(0.15) ? Array.from({ length: r.int(1, 60) }, () => r.int(1, 40)) : undefined;
  return { label: chunks ? "json chunked" : "json", method: "POST", path: "/mcp", headers, body, chunks };
}
