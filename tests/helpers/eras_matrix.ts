/**
 * The cross-era matrix's fixtures, shared by the broker path (eras_matrix.test.ts) and the Envoy path
 * (eras_envoy.test.ts): three backends of tests/servers/modern.ts (2025-only, 2026-only, dual-era), each
 * with its own prefix, and what the `inspect` tool reports of the request that reached one.
 */
import type { ConnectedClientV2 } from "./mcp_client_v2.ts";
import { COUNTER_URI, startModern } from "../servers/modern.ts";

export const BACKENDS = { legacy: "l_", modern: "m_", dual: "d_" } as const;
export type Backend = keyof typeof BACKENDS;
export const BACKEND_KINDS = Object.keys(BACKENDS) as Backend[];

export const textOf = (result: { content?: unknown }) => (result.content as { text: string }[])[0].text;

/** The counter resource as a client of the gateway knows it (`modern://<prefix>counter`). */
export const servedCounter = (backend: Backend) => COUNTER_URI.replace("://", `://${BACKENDS[backend]}`);

/** Whether a client of `era` calling `backend` crosses eras on the wire (the broker carries those). */
export function crossesEras(era: "2025" | "2026", backend: Backend): boolean {
  return (era === "2025" && backend === "modern") || (era === "2026" && backend === "legacy");
}

/** The three backends, started; `entries` are their config entries (with a hostname for Envoy's routes). */
export async function startMatrixBackends() {
  const legacy = await startModern({ mode: "legacy" });
  const modern = await startModern({ mode: "modern" });
  const dual = await startModern({ mode: "dual" });
  const backends = { legacy, modern, dual };
  return {
    backends,
    entries: BACKEND_KINDS.map((b) => ({
      name: b,
      url: backends[b].url,
      toolPrefix: BACKENDS[b],
      hostname: `${b}.mcp.local`,
    })),
    async [Symbol.asyncDispose]() {
      for (const b of Object.values(backends)) await b[Symbol.asyncDispose]();
    },
  };
}

/** What the `inspect` tool reports of the request that reached the backend. */
export async function inspect(mcp: ConnectedClientV2, backend: Backend) {
  const result = await mcp.client.callTool({ name: `${BACKENDS[backend]}inspect`, arguments: {} });
  return result.structuredContent as {
    era: string;
    headers: Record<string, string>;
    meta: Record<string, unknown>;
    envelope: Record<string, unknown>;
    sessionId: string | null;
  };
}
