/**
 * Scenario 4: the aggregated view at scale. A fleet of fake backends in one process (default 100 × 50
 * tools) behind the gateway: time until every tool is discovered, `tools/list` latency over the whole
 * view, the gateway's memory, and the time from a config change (one more server) to its tool answering;
 * and the catalog fold alone, in process, for catalogs of several sizes (bench/catalog_fold.ts).
 */
import { type FoldRun, foldRun } from "./catalog_fold.ts";
import { ROOT, spawnChild, startGatewayProcess } from "./processes.ts";
import { readProc } from "./proc_stats.ts";
import { StreamableClient } from "./rpc_client.ts";
import { type LatencySummary, summarize } from "./stats.ts";

export interface ScaleResult {
  servers: number;
  toolsPerServer: number;
  totalTools: number;
  /** Gateway process spawn → its HTTP endpoint answering (Deno start-up and config load), ms. */
  startMs: number;
  /** Endpoint answering → every tool discovered, ms. */
  discoverMs: number;
  /**
   * The fleet's last `tools/list` answer → every tool served (the gateway's `/status` counts them all),
   * ms: what the gateway itself takes to take the listings in, once the last has arrived.
   */
  servedAfterLastListMs?: number;
  /** Client-observed: request sent → answer parsed (the client's JSON.parse of the whole list included). */
  toolsList: LatencySummary;
  /** Request sent → last byte received, unparsed: the gateway's share plus loopback transfer. */
  toolsListBytes: LatencySummary;
  /** The same number of bytes from a plain Deno.serve handler answering a prebuilt string: the floor. */
  transferFloor: LatencySummary;
  /** Bytes of one `tools/list` answer. */
  listBytes: number;
  rssMiB: number;
  /** RSS with an empty config, for the view's own share. */
  baselineRssMiB?: number;
  /** Config file rewritten (one server added) → first successful call of its tool, ms. */
  configToRoutableMs: number;
  /** The catalog fold alone, in process (bench/catalog_fold.ts): discovery, and a change to one server. */
  fold?: FoldRun[];
  errors: number;
  firstError?: string;
}

const prefix = (i: number) => `s${i}_`;

export async function scaleScenario(
  servers: number,
  toolsPerServer: number,
  listCalls: number,
): Promise<ScaleResult> {
  const fleet = await spawnChild({
    cmd: Deno.execPath(),
    args: [
      "run",
      "-A",
      `${ROOT}bench/fleet.ts`,
      "--servers",
      String(servers + 1),
      "--tools",
      String(toolsPerServer),
    ],
    ready: /fleet (\[.*\])\n/,
  });
  const urls: string[] = JSON.parse(fleet.ready[1]);
  const config = (n: number) => ({
    servers: urls.slice(0, n).map((url, i) => ({ name: `fake-${i}`, url, toolPrefix: prefix(i) })),
  });
  let errors = 0;
  let firstError: string | undefined;
  try {
    const t0 = performance.now();
    // A long health-check period: a re-list of 100 servers every second would be load of its own.
    const gw = await startGatewayProcess(config(servers), { checkIntervalSeconds: 60 });
    try {
      const tReady = performance.now();
      const total = servers * toolsPerServer;
      const deadline = Date.now() + 60_000;
      while ((await gw.status()).totalTools < total) {
        if (Date.now() > deadline) throw new Error(`not every tool discovered in 60 s`);
        await new Promise((r) => setTimeout(r, 5));
      }
      const tAll = performance.now();
      const servedAt = Date.now();
      const lastList = await (await fetch(new URL("/last-list", urls[0]))).json();
      const servedAfterLastListMs = servedAt - lastList.at;

      const client = new StreamableClient(gw.mcpUrl);
      await client.initialize();
      const samples: number[] = [];
      let listBytes = 0;
      try {
        for (let i = 0; i < listCalls + 5; i++) {
          const t = performance.now();
          const result = await client.request("tools/list");
          const ms = performance.now() - t;
          if (result?.tools?.length !== total) {
            errors++;
            firstError ??= `tools/list returned ${result?.tools?.length} tools, expected ${total}`;
          } else if (i >= 5) samples.push(ms);
          if (i === 0) listBytes = JSON.stringify(result).length;
        }
        const raw: number[] = [];
        for (let i = 0; i < listCalls + 5; i++) {
          const t = performance.now();
          const res = await fetch(gw.mcpUrl, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              "mcp-session-id": client.sessionId!,
              "mcp-protocol-version": "2025-11-25",
            },
            body: `{"jsonrpc":"2.0","id":${i},"method":"tools/list"}`,
          });
          const bytes = (await res.arrayBuffer()).byteLength;
          if (i >= 5) raw.push(performance.now() - t);
          if (i === 0) listBytes = bytes;
          if (!res.ok || bytes < listBytes) {
            errors++;
            firstError ??= `raw tools/list: HTTP ${res.status}, ${bytes} bytes`;
          }
        }
        const floor: number[] = [];
        const blobUrl = new URL(`/blob?bytes=${listBytes}`, urls[0]).href;
        for (let i = 0; i < listCalls + 5; i++) {
          const t = performance.now();
          const res = await fetch(blobUrl);
          await res.arrayBuffer();
          if (i >= 5) floor.push(performance.now() - t);
        }
        const rssMiB = (readProc(gw.pid)?.rssKiB ?? NaN) / 1024;

        // Config change: add server N (already running in the fleet), time until its tool answers.
        const newTool = `${prefix(servers)}t0`;
        const tChange = performance.now();
        await gw.writeConfig(config(servers + 1));
        let configToRoutableMs = NaN;
        while (performance.now() - tChange < 30_000) {
          try {
            const r = await client.request("tools/call", { name: newTool, arguments: { message: "new" } });
            if (r?.content?.[0]?.text === "Echo: new") {
              configToRoutableMs = performance.now() - tChange;
              break;
            }
          } catch { /* unknown tool until the config is applied and the server discovered */ }
          await new Promise((r) => setTimeout(r, 2));
        }
        if (Number.isNaN(configToRoutableMs)) {
          errors++;
          firstError ??= `${newTool} never became routable`;
        }
        return {
          servers,
          toolsPerServer,
          totalTools: total,
          startMs: tReady - t0,
          discoverMs: tAll - tReady,
          servedAfterLastListMs,
          toolsList: summarize(samples),
          toolsListBytes: summarize(raw),
          transferFloor: summarize(floor),
          listBytes,
          rssMiB,
          configToRoutableMs,
          fold: [20, 100, 200].map((n) => foldRun(n, toolsPerServer, [5, 50, 500])),
          errors,
          firstError,
        };
      } finally {
        await client.close();
      }
    } finally {
      await gw.stop();
    }
  } finally {
    await fleet.stop();
  }
}

/** RSS of a gateway with nothing configured, the baseline the per-scenario figures are read against. */
export async function baselineRss(): Promise<number> {
  const gw = await startGatewayProcess({ servers: [] }, { checkIntervalSeconds: 60 });
  try {
    await new Promise((r) => setTimeout(r, 500));
    return (readProc(gw.pid)?.rssKiB ?? NaN) / 1024;
  } finally {
    await gw.stop();
  }
}
