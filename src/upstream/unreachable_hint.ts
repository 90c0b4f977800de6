/**
 * A first run of `deno task run` with nothing listening behind the config should say, once, what to do:
 * otherwise the only output is a "connection refused" line per server per retry, for ever. Said when every
 * enabled server is on this machine and refuses connections, which is what the shipped example config
 * looks like before its example servers are started.
 */
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { Logger } from "../observe/log.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

function isLoopback(url: string): boolean {
  try {
    return LOOPBACK.has(new URL(url).hostname);
  } catch {
    return false;
  }
}

/** Watches failures and logs the hint at most once per process; returns the unsubscribe function. */
export function hintWhenNothingListens(
  log: EventLog,
  upstreams: ProjectionView<UpstreamsState>,
  logger: Logger,
): () => void {
  let hinted = false;
  const unsubscribe = log.subscribe((event) => {
    if (hinted || event.type !== "UpstreamFailed") return;
    const enabled = [...upstreams.state.servers.values()].filter((s) => s.config.enabled);
    const refused = enabled.filter((s) =>
      isLoopback(s.config.url) && s.status !== "ready" && /refused/i.test(s.lastError?.reason ?? "")
    );
    if (!enabled.length || refused.length !== enabled.length) return;
    hinted = true;
    unsubscribe();
    logger.warn(
      `nothing listens at ${refused.map((s) => s.config.url).join(", ")} (connection refused); the gateway ` +
        "keeps retrying. If these are the example servers of config/mcp-system/config.yaml, start them with " +
        "`deno task example-servers` in another terminal, or run `deno task demo` (servers and gateway together)",
    );
  });
  return unsubscribe;
}
