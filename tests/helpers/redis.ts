/**
 * A real `redis-server` (Debian's) for a test: its own port, no persistence, killed at the end. It cannot
 * listen on port 0 and say which port it got, so the helper picks a free port and takes another when the
 * server loses the race for it (it exits saying the address is in use).
 *
 * @example
 * ```ts
 * await using redis = await startRedis();
 * // --session-store redis.url
 * await redis.kill(); await redis.restart(); // an outage, and the store back empty
 * ```
 */
import { Redis } from "ioredis";
import { freePort, GiveUp, waitFor } from "./ports.ts";

const PORT_ATTEMPTS = 4;

export interface RedisServer {
  port: number;
  /** `redis://127.0.0.1:PORT/0` */
  url: string;
  /** A client for assertions on what the gateway stored (closed with the server). */
  client(): Redis;
  /** Kills the server (SIGKILL): an outage; everything it held is gone. */
  kill(): Promise<void>;
  /** Starts it again, empty, on the same port. */
  restart(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

class PortTaken extends GiveUp {}

async function spawnOn(port: number): Promise<Deno.ChildProcess> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("redis-server", {
      args: [
        "--bind",
        "127.0.0.1",
        "--port",
        String(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new GiveUp(
      "redis-server is not installed: apt-get install redis-server (.ci/run installs .ci/apt-packages)",
    );
  }
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      output = (output + chunk).slice(-4096);
    }
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]).catch(() => {});
  let exited = false;
  child.status.then(() => exited = true);
  try {
    await waitFor(
      async () => {
        if (exited) {
          await pumped;
          throw /in use/i.test(output)
            ? new PortTaken(`port ${port} taken`)
            : new GiveUp(`redis-server exited:\n${output}`);
        }
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        try {
          await conn.write(new TextEncoder().encode("PING\r\n"));
          const buf = new Uint8Array(64);
          const n = await conn.read(buf);
          return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
        } finally {
          conn.close();
        }
      },
      `redis-server on port ${port}`,
      10_000,
      20,
    );
    return child;
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    throw e;
  }
}

/** Starts `redis-server` on a free loopback port. */
export async function startRedis(): Promise<RedisServer> {
  let port = 0;
  let child: Deno.ChildProcess | undefined;
  for (let attempt = 1; !child; attempt++) {
    port = freePort();
    try {
      child = await spawnOn(port);
    } catch (e) {
      if (!(e instanceof PortTaken) || attempt >= PORT_ATTEMPTS) throw e;
    }
  }
  const clients: Redis[] = [];
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running) return;
    try {
      running.kill("SIGKILL");
    } catch { /* gone */ }
    await running.status;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    client() {
      const client = new Redis({ host: "127.0.0.1", port, lazyConnect: false, maxRetriesPerRequest: 1 });
      client.on("error", () => {});
      clients.push(client);
      return client;
    },
    kill,
    async restart() {
      await kill();
      child = await spawnOn(port);
    },
    async [Symbol.asyncDispose]() {
      for (const client of clients) client.disconnect();
      await kill();
    },
  };
}
