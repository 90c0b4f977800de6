/**
 * The cross-era matrix's fixtures, shared by the broker path (eras_matrix.test.ts) and the Envoy path
 * (eras_envoy.test.ts): three backends of tests/servers/modern.ts (2025-only, 2026-only, dual-era), each
 * with its own prefix, and what the `inspect` tool reports of the request that reached one.
 */
import { assert, assertEquals } from "./assert.ts";
import type { ConnectedClientV2 } from "./mcp_client_v2.ts";
import { COUNTER_URI, EXTRA_TOOL, startModern } from "../servers/modern.ts";

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

/**
 * A 2025 client (`old`) and a 2026 one (`neu`, listening) both hear every backend kind's resource update and
 * list change, each once: the scenario both data paths must pass. `caller` picks who makes each backend change.
 */
export async function assertChangesReachBothEras(
  old: ConnectedClientV2,
  neu: ConnectedClientV2,
  caller: (backend: Backend) => ConnectedClientV2,
): Promise<void> {
  const served = BACKEND_KINDS.map(servedCounter);
  const listen = await neu.client.listen({ toolsListChanged: true, resourceSubscriptions: served });
  assertEquals(listen.honoredFilter, { toolsListChanged: true, resourceSubscriptions: served });
  for (const uri of served) await old.client.subscribeResource({ uri });
  for (const backend of BACKEND_KINDS) {
    const p = BACKENDS[backend];
    const since = [old.notifications.length, neu.notifications.length];
    await caller(backend).client.callTool({ name: `${p}bump_counter`, arguments: {} });
    for (const [i, mcp] of [old, neu].entries()) {
      const note = await mcp.nextNotification("notifications/resources/updated", since[i]);
      assertEquals(note.params?.uri, servedCounter(backend), `${backend} backend, client ${i}`);
    }
    await caller(backend).client.callTool({ name: `${p}toggle_extra`, arguments: {} });
    for (const [i, mcp] of [old, neu].entries()) {
      await mcp.nextNotification("notifications/tools/list_changed", since[i]);
    }
    const tools = (await neu.client.listTools({}, { cacheMode: "bypass" })).tools.map((t) => t.name);
    assert(tools.includes(`${p}${EXTRA_TOOL}`), `${backend}: ${tools}`);
  }
  // Every frame of the listen stream named its subscription.
  for (const note of neu.notifications) {
    assert(
      note.params?._meta?.["io.modelcontextprotocol/subscriptionId"] !== undefined,
      JSON.stringify(note),
    );
  }
  await listen.close();
}
