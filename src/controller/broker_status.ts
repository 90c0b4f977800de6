/**
 * Asks the broker what it made of the config (`GET /status`), so MCPServer status can say whether the
 * upstream actually connected and how many tools it has, not only whether the route resolved.
 */
import { type BrokerReport, BrokerStatusSchema } from "./status.ts";

/** Fetches and validates the broker's status; failures become a report, never an exception. */
export async function fetchBrokerReport(url: string, timeoutMs = 5_000): Promise<BrokerReport> {
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: "application/json" },
    });
    if (!res.ok) {
      await res.body?.cancel();
      return { ok: false, error: `broker status ${url} answered HTTP ${res.status}` };
    }
    const parsed = BrokerStatusSchema.safeParse(await res.json());
    if (!parsed.success) {
      return { ok: false, error: `broker status ${url} is not {servers:[...]}: ${parsed.error.message}` };
    }
    return { ok: true, servers: new Map(parsed.data.servers.map((s) => [s.name, s])) };
  } catch (error) {
    return { ok: false, error: `broker status ${url} unreachable: ${(error as Error).message}` };
  }
}
