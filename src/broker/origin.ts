/**
 * DNS-rebinding protection (spec 2025-11-25, Streamable HTTP "Security Warning"): a browser tricked into
 * calling the gateway carries the attacker's Origin and Host. Origins must be loopback, the public host, or
 * explicitly allowed; Host must be one the gateway is known by.
 */
import { GatewayError } from "../mcp/errors.ts";
import type { BrokerOptions } from "./context.ts";

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

function hostname(hostAndPort: string): string {
  const v6 = /^\[[^\]]+\]/.exec(hostAndPort);
  return (v6 ? v6[0] : hostAndPort.split(":")[0]).toLowerCase();
}

/** Throws a 403 {@link GatewayError} for a request a browser was tricked into sending. */
export function checkOrigin(req: Request, options: BrokerOptions): void {
  const host = req.headers.get("host");
  if (options.allowedHosts !== "*" && host !== null) {
    const name = hostname(host);
    if (
      !LOOPBACK.has(name) &&
      !options.allowedHosts.some((h) => h.toLowerCase() === host.toLowerCase() || h.toLowerCase() === name)
    ) {
      throw new GatewayError("forbidden", `Forbidden: Host ${JSON.stringify(host)} is not allowed`);
    }
  }
  const origin = req.headers.get("origin");
  if (origin === null || options.allowedOrigins === "*") return;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    throw new GatewayError("forbidden", `Forbidden: Origin ${JSON.stringify(origin)} is not a valid origin`);
  }
  if (LOOPBACK.has(hostname(originHost))) return;
  if (options.allowedOrigins.some((o) => o === origin || o === originHost)) return;
  throw new GatewayError("forbidden", `Forbidden: Origin ${JSON.stringify(origin)} is not allowed`);
}
