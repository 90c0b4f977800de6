/**
 * Deterministic fuzzing of both data paths: thousands of mutated requests (bytes, JSON, JSON-RPC, headers,
 * methods and paths, chunking, socket-level framing, sizes at and over the body limit) through the broker
 * and through the Envoy harness + router, all against one real gateway process. No answer may be a 5xx
 * other than the documented 502 (backend unavailable), none may hang, the process must stay alive and
 * serving, and its memory must stay bounded. `FUZZ_SEED=n` replays another sequence.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { type FuzzRequest, nextRequest, rng } from "./helpers/fuzz.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";
import { rawInitialize, rawPost } from "./helpers/mcp_client.ts";
import { freePort, waitFor } from "./helpers/ports.ts";
import { startEnvoyHarness } from "./harness/envoy.ts";
import { startFastEcho } from "./servers/fast_echo.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261201);
const LIMIT = 64 * 1024;
/** 5xx the README documents: an unreachable backend. */
const DOCUMENTED_5XX = new Set([502]);
const TIMEOUT_MS = 10_000;
const encoder = new TextEncoder();

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]) / 1024;
}

/** Header values fetch refuses to send (control characters, non-Latin-1) go over a raw socket instead. */
const sendable = (headers: Record<string, string>) =>
  Object.values(headers).every((v) => /^[\x20-\x7e]*$/.test(v)) && Object.keys(headers).length < 100;

function rawBytes(req: FuzzRequest, host: string): Uint8Array {
  if (req.raw) return req.raw;
  const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: ${host}`, "Connection: close"];
  for (const [k, v] of Object.entries(req.headers)) lines.push(`${k}: ${v}`);
  const body = req.body ?? new Uint8Array();
  const parts: Uint8Array[] = [];
  if (req.chunks) {
    lines.push("Transfer-Encoding: chunked");
    let at = 0;
    for (const size of [...req.chunks, body.length]) {
      if (at >= body.length) break;
      const piece = body.subarray(at, Math.min(body.length, at + size));
      at += piece.length;
      parts.push(encoder.encode(`${piece.length.toString(16)}\r\n`), piece, encoder.encode("\r\n"));
    }
    parts.push(encoder.encode("0\r\n\r\n"));
  } else if (req.body) {
    lines.push(`Content-Length: ${body.length}`);
    parts.push(body);
  }
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  const all = new Uint8Array(head.length + parts.reduce((n, p) => n + p.length, 0));
  all.set(head);
  let offset = head.length;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  return all;
}

/**
 * Sends over a socket of its own and returns the status of the first response line, 0 when none came. The
 * answer is read while the request is still being written: a server may answer (and close) early.
 */
async function sendRaw(port: number, bytes: Uint8Array): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reading = (async () => {
    const buf = new Uint8Array(1024);
    let text = "";
    while (!text.includes("\r\n")) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
  })();
  try {
    // Written in pieces so chunk boundaries reach the server as separate reads now and then.
    for (let at = 0; at < bytes.length; at += 4096) await conn.write(bytes.subarray(at, at + 4096));
  } catch { /* answered and closed before the request was all sent */ }
  try {
    return await reading;
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

async function send(base: URL, req: FuzzRequest): Promise<number> {
  if (req.raw || req.chunks || !sendable(req.headers)) {
    return await sendRaw(Number(base.port), rawBytes(req, base.host));
  }
  const res = await fetch(`${base.origin}${req.path}`, {
    method: req.method,
    headers: req.headers,
    body: req.method === "GET" || req.method === "HEAD" ? undefined : req.body,
  });
  // A GET stream stays open: its status is all that matters here.
  await res.body?.cancel();
  return res.status;
}

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    work,
    new Promise<never>((_, reject) =>
      timer = setTimeout(() => reject(new Error(`hung: ${what}`)), TIMEOUT_MS)
    ),
  ]).finally(() => clearTimeout(timer));
}

interface PathUnderTest {
  name: string;
  base: URL;
  count: number;
  concurrency: number;
  /** Raw framing with a body shorter than promised: only where the body timeout answers it. */
  shortBodies: boolean;
}

Deno.test(`fuzz (seed ${SEED}): hostile requests through the broker and the Envoy path`, async () => {
  await using backend = await startFastEcho();
  const envoyPort = freePort();
  const hostname = "echo.mcp.local";
  await using gw = await startGatewayProcess({
    config: { servers: [{ name: "echo", url: backend.url, hostname, toolPrefix: "e_" }] },
    args: [
      "--max-request-body-size",
      String(LIMIT),
      "--http-body-timeout",
      "2",
      "--mcp-gateway-private-host",
      `127.0.0.1:${envoyPort}`,
    ],
  });
  await using envoy = await startEnvoyHarness({
    extProc: gw.routerAddress!,
    port: envoyPort,
    clusters: { [hostname]: backend.url },
    defaultCluster: gw.baseUrl,
  });
  await waitFor(async () => (await gw.status()).healthyServers === 1, "backend ready");
  let exited = false;
  gw.exited.then(() => exited = true);

  const paths: PathUnderTest[] = [
    { name: "broker", base: new URL(gw.baseUrl), count: 1_200, concurrency: 8, shortBodies: true },
    { name: "envoy", base: new URL(envoy.url), count: 900, concurrency: 4, shortBodies: false },
  ];
  const rssBefore = rssMiB(gw.pid);
  const failures: string[] = [];
  let sent = 0;
  for (const [p, path] of paths.entries()) {
    const session = await rawInitialize(new URL("/mcp", path.base).href);
    const r = rng(SEED + p);
    const requests = Array.from(
      { length: path.count },
      () => nextRequest(r, { session, tool: "e_echo", limit: LIMIT, shortBodies: path.shortBodies }),
    );
    let next = 0;
    await Promise.all(Array.from({ length: path.concurrency }, async () => {
      while (next < requests.length) {
        const i = next++;
        const req = requests[i];
        const what = `${path.name} #${i} (${req.label} ${req.method} ${req.path})`;
        try {
          const status = await withTimeout(send(path.base, req), what);
          sent++;
          if (status >= 500 && !DOCUMENTED_5XX.has(status)) failures.push(`${what}: HTTP ${status}`);
          if (req.expect && !req.expect.includes(status)) {
            failures.push(`${what}: HTTP ${status}, expected ${req.expect.join(" or ")}`);
          }
          // A request HTTP itself forbids (a control character in a header) may be refused by a reset.
          if (status === 0 && !req.raw && sendable(req.headers)) failures.push(`${what}: no answer`);
        } catch (e) {
          failures.push(`${what}: ${(e as Error).message} ${(e as Error).cause ?? ""}`);
        }
        if (exited) throw new Error(`the gateway exited during ${what}:\n${gw.logs()}`);
      }
    }));
  }
  const grown = rssMiB(gw.pid) - rssBefore;
  console.log(`fuzz: ${sent} requests, gateway RSS +${grown.toFixed(0)} MiB`);

  assertEquals(failures.slice(0, 20), [], `${failures.length} failures`);
  assert(sent >= 2_000, `${sent} requests sent`);
  assert(!exited, "the gateway is alive");
  assert(grown < 150, `RSS grew ${grown.toFixed(0)} MiB`);
  // Still serving both paths, correctly.
  for (const base of [gw.baseUrl, envoy.url]) {
    const session = await rawInitialize(`${base}/mcp`);
    const call = await rawPost(
      `${base}/mcp`,
      JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "e_echo", arguments: { message: "ok" } },
      }),
      { "mcp-session-id": session },
    );
    assertEquals(call.json?.result?.content?.[0]?.text, "Echo: ok", call.text);
  }
  assert(
    !/\bERROR\b/.test(gw.logs()),
    `errors logged:\n${gw.logs().split("\n").filter((l) => / ERROR /.test(l)).slice(0, 5).join("\n")}`,
  );
});
