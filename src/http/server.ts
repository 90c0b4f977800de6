/**
 * The HTTP listener the broker serves on: Deno's own HTTP server (hyper), one connection at a time, so
 * each connection can be timed out and drained.
 *
 * Why not plain `Deno.serve`: in Deno 2.9 it has no header-read or idle timeout (hyper's header timeout
 * needs a timer Deno does not give it), so a client that opens a connection and trickles its request head,
 * or sends nothing, holds it for ever; and its shutdown cannot be bounded. Here the listener is ours
 * (`Deno.listen`) and each accepted connection is handed to Deno's server for that one connection
 * (`serveHttpOnConnection`, the internal `Deno.serve` itself is built on; the Deno version is pinned in
 * `.deno-version`). A connection that has not delivered a request head within the header timeout, or has had
 * nothing in flight (no request, no response still streaming) for the idle timeout, is closed (checked once
 * a second, so up to a second late). The body deadline is the reader's job (`src/broker/body.ts`), since
 * only the handler reads bodies.
 *
 * If a future Deno drops that internal, this falls back to `Deno.serve` without the two timeouts and says
 * so in the log.
 */
import type { Logger } from "../observe/log.ts";

export interface HttpTimeouts {
  /** A new connection must deliver its first request head within this many ms; 0 disables. */
  headerMs: number;
  /** A connection with no request for this many ms (between keep-alive requests) is closed; 0 disables. */
  idleMs: number;
}

export interface HttpServerOptions {
  hostname: string;
  port: number;
  /** What the listener is, for messages ("broker"). */
  name: string;
  /** Share the port with other processes (`--workers`): the kernel spreads connections over them. */
  reusePort?: boolean;
  timeouts: HttpTimeouts;
  logger: Logger;
  /** Answers a request whose handler threw. */
  onError: (error: unknown) => Response | Promise<Response>;
}

export type HttpHandler = (
  req: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

export interface HttpServer {
  /** The bound address (port 0 resolved). */
  addr: Deno.NetAddr;
  /** Open connections right now. */
  readonly connections: number;
  /**
   * Stops accepting connections, closes idle ones, and lets requests in flight (streams included) finish.
   * Resolves once every connection is closed, or after `graceMs` with `remaining` saying how many were still
   * open (they end with the process).
   */
  drain(graceMs: number): Promise<{ remaining: number }>;
}

interface ConnectionServer {
  finished: Promise<void>;
  /** Graceful: closes at once when idle, else after the response in flight. */
  shutdown(): Promise<void>;
}

/** A served connection as the sweep and the drain see it. */
interface Connection {
  finished: Promise<void>;
  /** Cuts the connection if it has been idle (or without a first request) past its timeout. */
  expire(now: number): void;
  drain(): void;
}

/** How often timeouts are checked: a connection is cut up to this much after its timeout. */
const SWEEP_MS = 1_000;

type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: HttpHandler,
  onError: (error: unknown) => Response | Promise<Response>,
  onListen: () => void,
) => ConnectionServer;

function serveOnConnection(): ServeOnConnection | undefined {
  const internal = (Deno as unknown as Record<symbol | string, unknown>)[
    (Deno as unknown as { internal: symbol }).internal
  ] as { serveHttpOnConnection?: ServeOnConnection } | undefined;
  return typeof internal?.serveHttpOnConnection === "function" ? internal.serveHttpOnConnection : undefined;
}

/** A bind failure that names the address (and what wanted it), instead of a bare "Address already in use". */
export class ListenError extends Error {
  constructor(what: string, hostname: string, port: number, cause: unknown) {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    const reason = cause instanceof Deno.errors.AddrInUse
      ? "the address is already in use (another process listens there; pick another with its flag)"
      : cause instanceof Deno.errors.PermissionDenied || cause instanceof Deno.errors.NotCapable
      ? `permission denied (${(cause as Error).message})`
      : (cause as Error)?.message ?? String(cause);
    super(`cannot listen on ${host}:${port} for the ${what}: ${reason}`);
  }
}

let raceAbsorbed = false;

/**
 * Cutting a connection (its abort signal) makes Deno close its resource from an event listener, which throws
 * "Bad resource ID" when the connection closed itself in the same instant; thrown there, it would end the
 * process. That race is harmless (the connection is gone either way), so exactly that error is absorbed.
 */
function absorbCloseRace() {
  if (raceAbsorbed) return;
  raceAbsorbed = true;
  globalThis.addEventListener("error", (event) => {
    const error = (event as ErrorEvent).error;
    if (error instanceof Deno.errors.BadResource && /CallbackContext/.test(error.stack ?? "")) {
      event.preventDefault();
    }
  });
}

/** Listens on `hostname:port` and serves `handler`; throws {@link ListenError} when it cannot bind. */
export function serveHttp(options: HttpServerOptions, handler: HttpHandler): HttpServer {
  const serveOn = serveOnConnection();
  if (!serveOn) return serveWithDenoServe(options, handler);
  absorbCloseRace();
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: options.hostname, port: options.port, reusePort: options.reusePort });
  } catch (e) {
    throw new ListenError(options.name, options.hostname, options.port, e);
  }
  const open = new Set<Connection>();
  let draining = false;
  const { headerMs, idleMs } = options.timeouts;

  const serveConnection = (conn: Deno.Conn) => {
    /** Requests whose response has not been fully sent yet. */
    let active = 0;
    /** When the connection last had nothing in flight, and whether it has had a request at all. */
    let idleSince = Date.now();
    let hadRequest = false;
    let state: "open" | "draining" | "cut" | "closed" = "open";
    const cut = new AbortController();
    const settle = () => {
      if (--active === 0) idleSince = Date.now();
    };
    const guarded: HttpHandler = async (req, info) => {
      active++;
      hadRequest = true;
      let res: Response;
      try {
        res = await handler(req, info);
      } catch (e) {
        settle();
        throw e;
      }
      // `completed` settles once the response (a stream included) has been sent, or failed to be.
      info.completed.then(settle, settle);
      return res;
    };
    const served = serveOn(conn, cut.signal, guarded, options.onError, () => {});
    const connection: Connection = {
      finished: served.finished,
      // A timeout applies only with nothing in flight, so the connection is cut outright: a graceful
      // shutdown would wait for the rest of a body the handler gave up on. (Never cut after a graceful
      // shutdown began: Deno throws on closing a connection twice.)
      expire: (now) => {
        const limit = hadRequest ? idleMs : headerMs;
        if (state !== "open" || active > 0 || limit <= 0 || now - idleSince < limit) return;
        state = "cut";
        cut.abort();
      },
      drain: () => {
        if (state !== "open") return;
        state = "draining";
        // Graceful: hyper closes an idle connection now, a busy one after its response (keep-alive off).
        served.shutdown().catch(() => {});
      },
    };
    open.add(connection);
    served.finished.catch(() => {}).finally(() => {
      state = "closed";
      open.delete(connection);
    });
  };

  // One sweep a second instead of a timer per request: timeouts are seconds long, requests microseconds.
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const c of open) c.expire(now);
  }, SWEEP_MS);

  const accepting = (async () => {
    while (!draining) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (draining || e instanceof Deno.errors.BadResource) return;
        // Out of file descriptors and the like: the listener is fine, the moment is not. Keep serving.
        options.logger.warn("accept failed", { listener: options.name, error: e });
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      try {
        serveConnection(conn);
      } catch (e) {
        options.logger.warn("cannot serve a connection", { listener: options.name, error: e });
        try {
          conn.close();
        } catch { /* gone */ }
      }
    }
  })();

  return {
    addr: listener.addr,
    get connections() {
      return open.size;
    },
    async drain(graceMs) {
      draining = true;
      clearInterval(sweeper);
      try {
        listener.close();
      } catch { /* already closed */ }
      await accepting;
      const all = [...open];
      for (const c of all) c.drain();
      const done = Promise.all(all.map((c) => c.finished.catch(() => {})));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([done, new Promise((r) => timer = setTimeout(r, graceMs))]);
      clearTimeout(timer);
      // What is still open (a response still streaming, a client still sending a body) ends with the process.
      const remaining = open.size;
      return { remaining };
    },
  };
}

/** The fallback: `Deno.serve`, without header or idle timeouts. */
function serveWithDenoServe(options: HttpServerOptions, handler: HttpHandler): HttpServer {
  options.logger.warn(
    "this Deno has no per-connection serving: HTTP header and idle timeouts are off (the body timeout still applies)",
  );
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      reusePort: options.reusePort,
      onListen: () => {},
      onError: options.onError,
    }, handler);
  } catch (e) {
    throw new ListenError(options.name, options.hostname, options.port, e);
  }
  return {
    addr: server.addr,
    connections: 0,
    async drain(graceMs) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = await Promise.race([
        server.shutdown().then(() => true),
        new Promise<boolean>((r) => timer = setTimeout(() => r(false), graceMs)),
      ]);
      clearTimeout(timer);
      return { remaining: done ? 0 : 1 };
    },
  };
}
