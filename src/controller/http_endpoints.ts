/**
 * The controller's small HTTP surfaces: `/healthz` and `/readyz` (health address) and `/metrics` (metrics
 * address). Handlers are plain `Request → Response` functions; `serveOn` binds them.
 */
import type { Registry } from "prom-client";

/** `/healthz`: the process is alive. `/readyz`: every informer has listed once. */
export function healthHandler(isReady: () => boolean): (req: Request) => Response {
  return (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/healthz") return new Response("ok\n");
    if (path === "/readyz") {
      return isReady() ? new Response("ok\n") : new Response("informers not synced\n", { status: 503 });
    }
    return new Response("not found\n", { status: 404 });
  };
}

export function metricsHandler(registry: Registry): (req: Request) => Promise<Response> {
  return async (req) => {
    if (new URL(req.url).pathname !== "/metrics") return new Response("not found\n", { status: 404 });
    return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } });
  };
}

/** Splits `host:port` (`[::1]:8081` too); port 0 picks a free port. */
export function parseAddress(address: string): { hostname: string; port: number } {
  const m = address.match(/^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/);
  if (!m) throw new Error(`invalid address "${address}" (want host:port)`);
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port: Number(m[3]) };
}

/** Serves `handler` on `address`; resolves once listening, with the bound port. */
export async function serveOn(
  address: string,
  handler: (req: Request) => Response | Promise<Response>,
  signal: AbortSignal,
): Promise<{ port: number; finished: Promise<void> }> {
  const { hostname, port } = parseAddress(address);
  const listening = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname,
    port,
    signal,
    onListen: (addr) => listening.resolve((addr as Deno.NetAddr).port),
  }, handler);
  return { port: await listening.promise, finished: server.finished };
}
