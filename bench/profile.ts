/**
 * `deno task bench:profile [--path=broker,broker-sse,...] [--calls=N] [--out=DIR]`: profiles the gateway
 * process under one path's bench load and prints a flame summary per path (bench/cpu_profile.ts). Each
 * path gets a gateway of its own, run with `deno run --cpu-prof`; the load generator warms up, pauses, runs
 * the measured load and pauses again, and only the samples between the pauses are summarized (startup,
 * discovery, warm-up and shutdown left out). `deno task bench --cpu-prof=DIR` instead profiles every
 * gateway process of a whole bench run.
 *
 * Paths:
 * - `broker`: sequential 2025 `tools/call` of echo through the broker, fast backend (JSON answers)
 * - `broker-2026`: the same at 2026-07-28 (stateless, enveloped)
 * - `broker-sse`: the same through the broker to server-everything (SSE answers)
 * - `floor`, `floor-sse`: bench/null_proxy.ts (the bare Deno fetch proxy) on the same backends
 * - `router`: ext_proc decisions of a 2025 `tools/call` (3 messages), bench/router_load.ts, 16 streams
 * - `router-2026-call`: a 2026 `tools/call` routed to a 2026 backend
 * - `router-2026-list`: a 2026 `tools/list`, decided from the headers alone (1 message)
 */
import { join } from "node:path";
import { type CpuProfile, measuredWindow, renderSummary, summarize } from "./cpu_profile.ts";
import { echoCall, runSequential } from "./load.ts";
import {
  type Child,
  freePort,
  ROOT,
  spawnChild,
  startEnvoyProcess,
  startFastEchoProcess,
  startGatewayProcess,
  waitUntil,
} from "./processes.ts";
import { ModernClient, type RpcClient, StreamableClient } from "./rpc_client.ts";
import { startEverything } from "../tests/helpers/everything.ts";

const PATHS = [
  "broker",
  "broker-2026",
  "broker-sse",
  "floor",
  "floor-sse",
  "router",
  "router-2026-call",
  "router-2026-list",
] as const;
type ProfiledPath = typeof PATHS[number];

const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const wanted = (arg("path") ?? "broker,broker-2026,broker-sse,router").split(",") as ProfiledPath[];
for (const p of wanted) {
  if (!PATHS.includes(p)) throw new Error(`unknown path ${p}; one of ${PATHS.join(", ")}`);
}
const calls = Number(arg("calls") ?? 3000);
const routerMs = Number(arg("router-ms") ?? 4000);
const out = arg("out") ?? await Deno.makeTempDir({ prefix: "mcp-gateway-profile-" });
await Deno.mkdir(out, { recursive: true });
/** The pause around the measured load that marks it in the profile (see `measuredWindow`). */
const PAUSE_MS = 2_500;
const pause = () => new Promise((r) => setTimeout(r, PAUSE_MS));

/** The profile a process wrote into `dir` on exit, cut to the measured window, as a summary. */
async function summaryOf(name: string, dir: string, per: { count: number; unit: string }): Promise<string> {
  const files = [...Deno.readDirSync(dir)].filter((f) => f.name.endsWith(".cpuprofile"));
  if (files.length !== 1) throw new Error(`${name}: expected one profile in ${dir}, found ${files.length}`);
  const file = join(dir, files[0].name);
  const profile = measuredWindow(JSON.parse(await Deno.readTextFile(file)) as CpuProfile);
  return `### ${name}\n\n${renderSummary(summarize(profile, 20), per)}\n\nProfile: ${file}\n`;
}

/** Warm-up, pause, `n` measured calls, pause. */
async function sequential(client: RpcClient, tool: string) {
  await client.initialize();
  try {
    await runSequential(client, echoCall(tool), 300, 50);
    await pause();
    const res = await runSequential(client, echoCall(tool), calls, 0);
    if (res.errors) throw new Error(`${res.errors} errors: ${res.firstError}`);
    await pause();
    return { count: calls, unit: "call" };
  } finally {
    await client.close();
  }
}

const cleanups: (() => Promise<void>)[] = [];
const summaries: string[] = [];
try {
  const fast = await startFastEchoProcess({ dual: true });
  cleanups.push(fast.stop);
  const everything = wanted.some((p) => p.endsWith("-sse")) ? await startEverything() : undefined;
  if (everything) cleanups.push(everything.kill);
  for (const path of wanted) {
    console.error(`--- profiling ${path}`);
    const dir = join(out, path);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.mkdir(dir, { recursive: true });
    const cpuProf = ["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=100"];
    if (path === "floor" || path === "floor-sse") {
      const upstream = path === "floor" ? fast.url : everything!.url;
      const floor = await spawnChild({
        cmd: Deno.execPath(),
        args: ["run", "-A", ...cpuProf, `${ROOT}bench/null_proxy.ts`, "--upstream", upstream],
        ready: /listening on (http:\/\/\S+)/,
      });
      let per;
      try {
        per = await sequential(new StreamableClient(floor.ready[1]), "echo");
      } finally {
        await floor.stop();
      }
      summaries.push(await summaryOf(path, dir, per));
      continue;
    }
    const router = path.startsWith("router");
    const envoyPort = freePort();
    const gateway = await startGatewayProcess({
      servers: [
        { name: "fast", url: fast.url, toolPrefix: "f_" },
        ...(path === "broker-sse" ? [{ name: "everything", url: everything!.url, toolPrefix: "e_" }] : []),
      ],
    }, {
      router,
      privateHost: `127.0.0.1:${envoyPort}`,
      publicHost: "mcp.bench.local:8888",
      denoFlags: cpuProf,
    });
    let envoy: (Child & { url: string }) | undefined;
    let per;
    try {
      await waitUntil(
        async () => (await gateway.status()).healthyServers === (path === "broker-sse" ? 2 : 1),
        "backends",
      );
      if (!router) {
        const client = path === "broker-2026"
          ? new ModernClient(gateway.mcpUrl)
          : new StreamableClient(gateway.mcpUrl);
        per = await sequential(client, path === "broker-sse" ? "e_echo" : "f_echo");
      } else {
        envoy = await startEnvoyProcess({
          port: envoyPort,
          extProc: gateway.routerAddress!,
          defaultCluster: gateway.baseUrl,
          clusters: { [new URL(fast.url).host]: fast.url },
        });
        const kind = path === "router" ? "2025-call" : path.slice("router-".length);
        const client = new StreamableClient(`${envoy.url}/mcp`);
        await client.initialize();
        await client.request("tools/call", { name: "f_echo", arguments: { message: "bind" } });
        const load = async (ms: number) => {
          const child = await spawnChild({
            cmd: Deno.execPath(),
            args: [
              "run",
              "-A",
              `${ROOT}bench/router_load.ts`,
              `--router=${gateway.routerAddress}`,
              `--kind=${kind}`,
              `--token=${client.sessionId}`,
              "--tool=f_echo",
              `--expect-authority=${kind === "2026-list" ? "-" : new URL(fast.url).host}`,
              "--concurrency=16",
              `--duration-ms=${ms}`,
              "--warmup=0",
            ],
            ready: /^(\{.*\})$/m,
            timeoutMs: ms + 60_000,
          });
          await child.stop();
          const result = JSON.parse(child.ready[1]);
          if (result.errors) throw new Error(`${result.errors} errors: ${result.firstError}`);
          return result.decisions as number;
        };
        await load(500);
        await pause();
        per = { count: await load(routerMs), unit: "decision" };
        await pause();
        await client.close();
      }
    } finally {
      await envoy?.stop();
      await gateway.stop();
    }
    summaries.push(await summaryOf(path, dir, per));
  }
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
}
const text = summaries.join("\n");
await Deno.writeTextFile(join(out, "summary.md"), text);
console.log(text);
console.error(`--- profiles and summary.md in ${out}`);
Deno.exit(0);
