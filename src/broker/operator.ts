/**
 * `--console-address`: a listener of its own for the operator's pages (`/console`, `/debug/*`), served to
 * any client that reaches it. The broker address serves them to loopback clients only, since Envoy routes
 * every other path there from the public; exposing them is a deliberate, separate choice (a port of its
 * own, behind whatever access control the operator puts in front of it).
 */
import type { Logger } from "../observe/log.ts";

export async function serveOperator(
  address: { hostname: string; port: number },
  handler: (req: Request) => Promise<Response>,
  signal: AbortSignal,
  logger: Logger,
): Promise<{ url: string; finished: Promise<void> }> {
  const { hostname, port } = address;
  const listening = Promise.withResolvers<string>();
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname,
      port,
      signal,
      onListen: (addr) => {
        const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
        const url = `http://${host}:${addr.port}`;
        logger.info("console listening", { url: `${url}/console` });
        listening.resolve(url);
      },
      onError: (e) => {
        logger.error("console handler failed", { error: e });
        return new Response("Internal error\n", { status: 500 });
      },
    }, handler);
  } catch (e) {
    throw new Error(`cannot serve the console on ${hostname}:${port}: ${(e as Error).message}`);
  }
  return { url: await listening.promise, finished: server.finished };
}
