/**
 * DNS-rebinding protection (spec 2025-11-25, Streamable HTTP "Security Warning"): a browser tricked into
 * calling the gateway carries the attacker's Origin and Host. Origins must be loopback, the public host, or
 * explicitly allowed; Host must be one the gateway is known by.
 */
import { GatewayError } from "../mcp/errors.ts";

/** Which browser origins and Host values the gateway answers; "*" allows any. */
export interface OriginPolicy {
  /** Browser origins allowed besides loopback ones and the public host. */
  allowedOrigins: readonly string[] | "*";
  /** Host header values accepted (and the original `:authority` in the Envoy path). */
  allowedHosts: readonly string[] | "*";
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

function hostname(hostAndPort: string): string {
  const v6 = /^\[[^\]]+\]/.exec(hostAndPort);
  return (v6 ? v6[0] : hostAndPort.split(":")[0]).toLowerCase();
}

/**
 * Throws a 403 {@link GatewayError} for a request a browser was tricked into sending. `host` is the Host
 * header (or the `:authority` the client sent, in the Envoy path).
 */
export function checkOrigin(
  host: string | null | undefined,
  origin: string | null | undefined,
  options: OriginPolicy,
  rawId = "null",
): void {
  if (options.allowedHosts !== "*" && host) {
    const name = hostname(host);
    if (
      !LOOPBACK.has(name) &&
      !options.allowedHosts.some((h) => h.toLowerCase() === host.toLowerCase() || h.toLowerCase() === name)
    ) {
      throw new GatewayError("forbidden", `Forbidden: Host ${JSON.stringify(host)} is not allowed`, rawId);
    }
  }
  if (!origin || options.allowedOrigins === "*") return;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    throw new GatewayError(
      "forbidden",
      `Forbidden: Origin ${JSON.stringify(origin)} is not a valid origin`,
      rawId,
    );
  }
  if (LOOPBACK.has(hostname(originHost))) return;
  if (options.allowedOrigins.some((o) => o === origin || o === originHost)) return;
  throw new GatewayError("forbidden", `Forbidden: Origin ${JSON.stringify(origin)} is not allowed`, rawId);
}
