/**
 * One client must not be able to exhaust the gateway before it even has a session: a body in tiny chunks
 * costs memory in proportion to its bytes, and connections that trickle (or never send) their request head
 * or body, or sit idle, are closed after the header, body and idle timeouts.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/ports.ts";

const encoder = new TextEncoder();

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]) / 1024;
}

/** A raw connection: what it was sent, when it was closed, and everything it received. */
async function rawConnection(port: number, first?: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const started = Date.now();
  let received = "";
  const closed = (async () => {
    const buf = new Uint8Array(16 * 1024);
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        received += new TextDecoder().decode(buf.subarray(0, n));
      }
    } catch { /* reset counts as closed */ }
    return Date.now() - started;
  })();
  if (first) await conn.write(encoder.encode(first));
  const result = {
    done: false,
    conn,
    closed,
    received: () => received,
    write: (text: string) => conn.write(encoder.encode(text)).catch(() => 0),
    close: () => {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    },
  };
  closed.then(() => result.done = true);
  return result;
}

const HEAD = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
  "Accept: application/json, text/event-stream\r\n";

Deno.test("a body sent in 20,000 one-byte chunks costs memory by its bytes, not by its chunks", async () => {
  await using gw = await startGatewayProcess({ config: { servers: [] } });
  const port = Number(new URL(gw.baseUrl).port);
  const before = rssMiB(gw.pid);
  const client = await rawConnection(port, `${HEAD}Transfer-Encoding: chunked\r\n\r\n`);
  try {
    for (let i = 0; i < 20_000; i++) await client.write("1\r\n \r\n");
    const body = '{"jsonrpc":"2.0","id":1,"method":"ping"}';
    await client.write(`${body.length.toString(16)}\r\n${body}\r\n`);
    // Everything sent is read by the gateway before the body ends: measure while it is still open.
    await new Promise((r) => setTimeout(r, 300));
    const grown = rssMiB(gw.pid) - before;
    console.log(
      `gateway RSS +${grown.toFixed(0)} MiB after a 20,000-chunk body (${before.toFixed(0)} MiB before)`,
    );
    assert(grown < 128, `RSS grew ${grown.toFixed(0)} MiB for a 20 KB body`);
    await client.write("0\r\n\r\n");
    await waitFor(() => client.received().includes("\r\n\r\n{"), "the answer");
    // The whole body was read and parsed: a ping without a session is refused as the spec says.
    assertMatch(client.received(), /^HTTP\/1\.1 400 /);
  } finally {
    client.close();
  }
});

Deno.test("slow and idle connections are closed by the header, body and idle timeouts", async () => {
  await using gw = await startGatewayProcess({
    config: { servers: [] },
    args: ["--http-header-timeout", "1", "--http-body-timeout", "1", "--http-idle-timeout", "1"],
  });
  const port = Number(new URL(gw.baseUrl).port);
  const clients: Awaited<ReturnType<typeof rawConnection>>[] = [];
  try {
    // 200 connections that never send a request head, 200 that trickle one.
    for (let i = 0; i < 200; i++) clients.push(await rawConnection(port));
    const trickling: typeof clients = [];
    for (let i = 0; i < 200; i++) trickling.push(await rawConnection(port, "POST /mcp HTTP/1.1\r\nHo"));
    clients.push(...trickling);
    const dripping = setInterval(() => trickling.forEach((c) => c.write("x")), 200);
    // A body that never completes gets 408 and its connection closed.
    const slowBody = await rawConnection(port, `${HEAD}Content-Length: 100\r\n\r\n{"jsonrpc"`);
    // A keep-alive connection left idle after its answer.
    const idle = await rawConnection(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    clients.push(slowBody, idle);

    // Meanwhile everyone else is served.
    const health = await fetch(`${gw.baseUrl}/healthz`);
    assertEquals([health.status, await health.text()], [200, "ok\n"]);

    const times = await Promise.race([
      Promise.all(clients.map((c) => c.closed)),
      new Promise<never>((_, reject) =>
        setTimeout(() => {
          const open = clients.map((c, i) => c.done ? -1 : i).filter((i) => i >= 0);
          reject(new Error(`${open.length} connections left open (indexes ${open.slice(0, 10)})`));
        }, 15_000)
      ),
    ]);
    clearInterval(dripping);
    assert(Math.max(...times) < 10_000, `all closed, slowest after ${Math.max(...times)} ms`);
    assert(Math.min(...times) >= 900, `none closed before its timeout (fastest ${Math.min(...times)} ms)`);
    assertMatch(slowBody.received(), /^HTTP\/1\.1 408 /);
    assertMatch(slowBody.received(), /did not arrive within 1 s/);
    assertMatch(idle.received(), /^HTTP\/1\.1 200 /);

    const after = await fetch(`${gw.baseUrl}/healthz`);
    assertEquals(after.status, 200, "still serving");
    await after.body?.cancel();
  } finally {
    for (const c of clients) c.close();
  }
});
