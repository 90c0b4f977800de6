/**
 * Scenario 3: ext_proc decisions per second and per-decision latency over real gRPC, load generated in its
 * own process, no backend in the loop, for three kinds of request: a 2025 `tools/call` (request headers,
 * request body, response headers; the gateway session's backend session is bound first through the Envoy
 * path, so every measured decision is the warm one), a 2026-07-28 `tools/call` routed to a 2026 backend,
 * and a 2026-07-28 `tools/list` the broker answers. The load generator follows the router's `mode_override`
 * as Envoy does, so the 2026 kinds cost only the messages the router asks for. The routed 2026 call is
 * measured twice: on the bench's gateway (audit log on, its default: the router also asks for the response
 * headers, to record the call's outcome) and on a second gateway with `--audit-log off`.
 */
import { type ProcUsage, sampleProc } from "./proc_stats.ts";
import { ROOT, spawnChild, startGatewayProcess, waitUntil } from "./processes.ts";
import { StreamableClient } from "./rpc_client.ts";
import type { LatencySummary } from "./stats.ts";
import type { Topology } from "./topology.ts";

/** What one decision was about (see the module comment). */
export type DecisionKind = "2025-call" | "2026-call" | "2026-list";

export interface RouterRun {
  /** "router", or "no-op" for the transport floor (bench/noop_ext_proc.ts), "no-op-node" for it on Node. */
  server: "router" | "no-op" | "no-op-node";
  /** The request decided (absent in results from before the 2026 kinds: a 2025 call). */
  kind?: DecisionKind;
  /** ext_proc messages per decision. */
  messagesPerDecision?: number;
  /** False when the gateway ran without an audit log (`--audit-log off`). */
  audit?: boolean;
  concurrency: number;
  decisions: number;
  perSecond: number;
  latency: LatencySummary;
  errors: number;
  firstError?: string;
  usage?: ProcUsage;
  loadGeneratorCores?: number;
}

export async function routerScenario(
  topo: Topology,
  levels: number[],
  durationMs: number,
): Promise<RouterRun[]> {
  if (!topo.envoy || !topo.gateway.routerAddress) throw new Error(topo.envoyNote ?? "no router");
  const client = new StreamableClient(`${topo.envoy.url}/mcp`);
  await client.initialize();
  try {
    const warm = await client.request("tools/call", { name: "f_echo", arguments: { message: "bind" } });
    if (warm?.content?.[0]?.text !== "Echo: bind") {
      throw new Error(`binding call failed: ${JSON.stringify(warm)}`);
    }
    const runs: RouterRun[] = [];
    const target = { address: topo.gateway.routerAddress, pid: topo.gateway.pid };
    const authority = new URL(topo.urls.fast).host;
    const kinds: [DecisionKind, string][] = [["2025-call", authority], ["2026-call", authority], [
      "2026-list",
      "-",
    ]];
    for (const [kind, expect] of kinds) {
      for (const concurrency of levels) {
        runs.push({
          server: "router",
          kind,
          ...await load(target, kind, client.sessionId!, expect, concurrency, durationMs),
        });
      }
    }
    // A routed 2026 call asks for the response headers only to complete its audit line: the same decision
    // by a gateway without an audit log (its own process, over the same backend).
    const quiet = await startGatewayProcess({
      servers: [{ name: "fast", url: topo.urls.fast, toolPrefix: "f_" }],
    }, {
      router: true,
      publicHost: "mcp.bench.local:8888",
      args: ["--audit-log", "off"],
    });
    try {
      await waitUntil(
        async () => (await quiet.status()).healthyServers === 1,
        "the quiet gateway's backend ready",
      );
      for (const concurrency of levels) {
        const quietTarget = { address: quiet.routerAddress!, pid: quiet.pid };
        runs.push({
          server: "router",
          kind: "2026-call",
          audit: false,
          ...await load(quietTarget, "2026-call", "unused", authority, concurrency, durationMs),
        });
      }
    } finally {
      await quiet.stop();
    }
    // The same load against a processor that decides nothing, on the same gRPC stack: the transport's share;
    // and on Node (grpc-js over Node's own HTTP/2), the other runtime the router could run on.
    const top = levels[levels.length - 1];
    const floors: [RouterRun["server"], string, string[]][] = [
      ["no-op", Deno.execPath(), ["run", "-A", `${ROOT}bench/noop_ext_proc.ts`]],
      ["no-op-node", "node", [`${ROOT}bench/noop_ext_proc.mjs`]],
    ];
    for (const [server, cmd, args] of floors) {
      let noop;
      try {
        noop = await spawnChild({ cmd, args, cwd: ROOT, ready: /listening on (\S+)/ });
      } catch (e) {
        if (server === "no-op-node") continue; // no Node on this machine: that comparison is left out
        throw e;
      }
      try {
        const floor = { address: noop.ready[1], pid: noop.pid };
        for (const concurrency of server === "no-op" ? levels : [top]) {
          runs.push({
            server,
            kind: "2025-call",
            ...await load(floor, "2025-call", "unused", "-", concurrency, durationMs),
          });
        }
        runs.push({
          server,
          kind: "2026-list",
          ...await load(floor, "2026-list", "unused", "-", top, durationMs),
        });
      } finally {
        await noop.stop();
      }
    }
    return runs;
  } finally {
    await client.close();
  }
}

/** Runs bench/router_load.ts against one ext_proc server, sampling that server's CPU. */
async function load(
  target: { address: string; pid: number },
  kind: DecisionKind,
  token: string,
  authority: string,
  concurrency: number,
  durationMs: number,
): Promise<Omit<RouterRun, "server">> {
  const sampler = sampleProc(target.pid);
  const child = await spawnChild({
    cmd: Deno.execPath(),
    args: [
      "run",
      "-A",
      `${ROOT}bench/router_load.ts`,
      "--router",
      target.address,
      "--kind",
      kind,
      "--token",
      token,
      "--tool",
      "f_echo",
      "--expect-authority",
      authority,
      "--concurrency",
      String(concurrency),
      "--duration-ms",
      String(durationMs),
    ],
    ready: /^(\{.*\})$/m,
    timeoutMs: durationMs + 60_000,
  });
  const usage = sampler.stop();
  await child.stop();
  return { ...JSON.parse(child.ready[1]), usage };
}
