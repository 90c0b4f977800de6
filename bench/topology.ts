/**
 * The processes the call scenarios share: two backends (the fast echo server, serving both protocol eras,
 * and the real server-everything, 2025 only), the gateway (broker + router) over both, and, when the router
 * exists, the Envoy emulator in front of it. Every path reaches the same backend processes, so differences
 * are the path's. The fast backend is also reached at 2026-07-28 (stateless, enveloped) on each path.
 */
import { startEverything } from "../tests/helpers/everything.ts";
import {
  type Child,
  freePort,
  type GatewayChild,
  ROOT,
  spawnChild,
  startEnvoyProcess,
  startFastEchoProcess,
  startGatewayProcess,
  waitUntil,
} from "./processes.ts";

/** One way to reach a backend's echo tool. */
export interface Path {
  name:
    | "direct"
    | "proxy-floor"
    | "proxy-floor-js"
    | "broker"
    | "envoy"
    | "direct-2026"
    | "broker-2026"
    | "envoy-2026"
    | "direct-sdk"
    | "broker-sdk";
  /** The protocol era the client speaks on this path (2026: `bench/rpc_client.ts` `ModernClient`). */
  era: "2025" | "2026";
  /** `sdk`: the MCP SDK's own client (`SdkClient`) instead of the raw one. */
  client?: "sdk";
  url: string;
  tool: string;
  /** Process whose RSS/CPU the scenario reports (the gateway for broker and envoy paths). */
  pids: Record<string, number>;
}

export interface Backend {
  name: "fast-echo" | "server-everything";
  paths: Path[];
}

export interface Topology {
  backends: Backend[];
  gateway: GatewayChild;
  envoy?: Child & { url: string };
  urls: { fast: string; everything: string };
  /** Why the envoy path is missing, when it is. */
  envoyNote?: string;
  close(): Promise<void>;
}

const PUBLIC_HOST = "mcp.bench.local:8888";

/**
 * bench/null_proxy.ts in front of one backend: what any Deno fetch proxy costs (`readInJs`: one whose
 * answers pass through JavaScript, as a relay's must).
 */
async function startNullProxy(upstream: string, readInJs = false): Promise<Child & { url: string }> {
  const c = await spawnChild({
    cmd: Deno.execPath(),
    args: [
      "run",
      "-A",
      `${ROOT}bench/null_proxy.ts`,
      "--upstream",
      upstream,
      ...(readInJs ? ["--read-in-js"] : []),
    ],
    ready: /listening on (http:\/\/\S+)/,
  });
  return { ...c, url: c.ready[1] };
}

export async function startTopology(): Promise<Topology> {
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const fast = await startFastEchoProcess({ dual: true });
    cleanups.push(fast.stop);
    const everything = await startEverything();
    cleanups.push(everything.kill);
    const hasRouter = await Deno.stat(new URL("../src/router/mod.ts", import.meta.url)).then(
      () => true,
      () => false,
    );
    const envoyPort = freePort();
    const gateway = await startGatewayProcess({
      servers: [
        { name: "fast", url: fast.url, toolPrefix: "f_" },
        { name: "everything", url: everything.url, toolPrefix: "e_" },
      ],
    }, { router: hasRouter, privateHost: `127.0.0.1:${envoyPort}`, publicHost: PUBLIC_HOST });
    cleanups.push(gateway.stop);
    await waitUntil(async () => (await gateway.status()).healthyServers === 2, "both backends ready");

    let envoy: (Child & { url: string }) | undefined;
    let envoyNote: string | undefined;
    if (gateway.routerAddress) {
      envoy = await startEnvoyProcess({
        port: envoyPort,
        extProc: gateway.routerAddress,
        defaultCluster: gateway.baseUrl,
        clusters: { [new URL(fast.url).host]: fast.url, [new URL(everything.url).host]: everything.url },
      });
      cleanups.push(envoy.stop);
    } else envoyNote = "src/router/mod.ts not present: no Envoy path";

    // The load generator (this process) and the backend are sampled too: on a shared machine their CPU is
    // what the gateway competes with.
    const floors = new Map<string, Child & { url: string }>();
    for (const url of [fast.url, everything.url]) {
      const floor = await startNullProxy(url);
      cleanups.push(floor.stop);
      floors.set(url, floor);
    }
    // server-everything answers calls as SSE streams: the floor for a proxy that reads them.
    const jsFloor = await startNullProxy(everything.url, true);
    cleanups.push(jsFloor.stop);
    const paths = (directUrl: string, prefix: string, backendPid?: number, modern = false): Path[] => {
      const common: Record<string, number> = {
        client: Deno.pid,
        ...(backendPid ? { backend: backendPid } : {}),
      };
      const floor = floors.get(directUrl)!;
      const era = (e: "2025" | "2026"): Path[] => [
        { name: e === "2025" ? "direct" : "direct-2026", era: e, url: directUrl, tool: "echo", pids: common },
        ...(e === "2025"
          ? [{
            name: "proxy-floor" as const,
            era: e,
            url: floor.url,
            tool: "echo",
            pids: { proxy: floor.pid, ...common },
          }]
          : []),
        {
          name: e === "2025" ? "broker" : "broker-2026",
          era: e,
          url: gateway.mcpUrl,
          tool: `${prefix}echo`,
          pids: { gateway: gateway.pid, ...common },
        },
        ...(envoy
          ? [{
            name: e === "2025" ? "envoy" as const : "envoy-2026" as const,
            era: e,
            url: `${envoy.url}/mcp`,
            tool: `${prefix}echo`,
            pids: { gateway: gateway.pid, envoy: envoy.pid, ...common },
          }]
          : []),
      ];
      return modern ? [...era("2025"), ...era("2026")] : era("2025");
    };
    return {
      backends: [
        { name: "fast-echo", paths: paths(fast.url, "f_", fast.pid, true) },
        {
          name: "server-everything",
          paths: [
            ...paths(everything.url, "e_"),
            {
              name: "proxy-floor-js",
              era: "2025",
              url: jsFloor.url,
              tool: "echo",
              pids: { proxy: jsFloor.pid, client: Deno.pid },
            },
            // What an application sees: the MCP SDK's own client, direct and through the broker.
            {
              name: "direct-sdk",
              era: "2025",
              client: "sdk",
              url: everything.url,
              tool: "echo",
              pids: { client: Deno.pid },
            },
            {
              name: "broker-sdk",
              era: "2025",
              client: "sdk",
              url: gateway.mcpUrl,
              tool: "e_echo",
              pids: { gateway: gateway.pid, client: Deno.pid },
            },
          ],
        },
      ],
      gateway,
      envoy,
      envoyNote,
      urls: { fast: fast.url, everything: everything.url },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
