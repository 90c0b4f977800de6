/**
 * Child processes the bench drives: each started on loopback, ready when a line matching `ready` appears
 * in its output, stopped with SIGTERM (SIGKILL after 3 s). Keeps each child's pid for /proc sampling.
 */
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

export const ROOT = fileURLToPath(new URL("../", import.meta.url));

export interface Child {
  pid: number;
  /** The capture groups of the ready line. */
  ready: RegExpExecArray;
  output(): string;
  /** How many complete output lines matched `countLines` so far. */
  counted(): number;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  cmd: string;
  args: string[];
  ready: RegExp;
  env?: Record<string, string>;
  clearEnv?: boolean;
  cwd?: string;
  timeoutMs?: number;
  /** Output lines to count (e.g. a child's error lines), whatever the output buffer keeps. */
  countLines?: RegExp;
}

/** Spawns a process and waits for its ready line; throws with its output when it exits or times out. */
export async function spawnChild(o: SpawnOptions): Promise<Child> {
  const child = new Deno.Command(o.cmd, {
    args: o.args,
    env: { NO_COLOR: "1", ...o.env },
    clearEnv: o.clearEnv,
    cwd: o.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  let exited = false;
  const status = child.status.finally(() => exited = true);
  const ready = Promise.withResolvers<RegExpExecArray>();
  let counted = 0;
  let isReady = false;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let partial = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      if (o.countLines) {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) if (o.countLines.test(line)) counted++;
      }
      // Keep the output bounded: a chatty child must not grow the load generator's heap.
      output = (output + chunk).slice(-64_000);
      // Once ready, a child's output (a gateway's audit lines) costs the load generator no more matching.
      if (isReady) continue;
      const m = o.ready.exec(output);
      if (m) {
        isReady = true;
        ready.resolve(m);
      }
    }
  };
  const pumping = Promise.all([pump(child.stdout), pump(child.stderr)]).catch(() => {});
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 3_000);
    await status;
    clearTimeout(timer);
    await pumping;
  };
  const timeoutMs = o.timeoutMs ?? 30_000;
  const timer = setTimeout(() => ready.reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  status.then((s) => ready.reject(new Error(`exited with code ${s.code}`)));
  try {
    const m = await ready.promise;
    return { pid: child.pid, ready: m, output: () => output, counted: () => counted, stop };
  } catch (e) {
    await stop();
    throw new Error(`${o.cmd} ${o.args.join(" ")}: ${(e as Error).message}\n${output.slice(-3000)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** A fresh free port on 127.0.0.1 (for processes that must know each other's address before starting). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const deno = Deno.execPath();

/**
 * The fast echo backend (tests/servers/fast_echo.ts; bench/fast_echo.ts is never needed while it exists);
 * `dual` serves 2026-07-28 next to 2025.
 */
export async function startFastEchoProcess(o: { dual?: boolean } = {}): Promise<Child & { url: string }> {
  const c = await spawnChild({
    cmd: deno,
    args: ["run", "-A", `${ROOT}tests/servers/fast_echo.ts`, "--port", "0", ...(o.dual ? ["--dual"] : [])],
    ready: /listening on (http:\/\/\S+)/,
  });
  return { ...c, url: c.ready[1] };
}

export const SIGNING_KEY = "bench-signing-key-0123456789abcdef0123456789";

export interface GatewayChild extends Child {
  mcpUrl: string;
  baseUrl: string;
  routerAddress?: string;
  writeConfig(config: unknown): Promise<void>;
  status(): Promise<any>;
}

/** The gateway itself (`deno run src/main.ts`, broker and, unless `router` is false, router) with a config file it watches. */
export async function startGatewayProcess(
  config: unknown,
  o: {
    /** Environment variables of the gateway process (e.g. `OTEL_*`), on top of the bench's own. */
    env?: Record<string, string>;
    brokerPort?: number;
    privateHost?: string;
    publicHost?: string;
    router?: boolean;
    checkIntervalSeconds?: number;
    /** More flags (e.g. `--session-store`, `--workers`). */
    args?: string[];
    /** Flags for `deno run` itself (e.g. `--inspect=…`), after those of `BENCH_GATEWAY_DENO_FLAGS`. */
    denoFlags?: string[];
  } = {},
): Promise<GatewayChild> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-gw-bench-" });
  const configPath = `${dir}/config.yaml`;
  await Deno.writeTextFile(configPath, stringify(config));
  const port = o.brokerPort ?? freePort();
  // BENCH_GATEWAY_DENO_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the gateway under bench load.
  const denoFlags = [
    ...(Deno.env.get("BENCH_GATEWAY_DENO_FLAGS") ?? "").split(" ").filter(Boolean),
    ...o.denoFlags ?? [],
  ];
  const args = [
    "run",
    "-A",
    ...denoFlags,
    `${ROOT}src/main.ts`,
    "--mcp-gateway-config",
    configPath,
    "--mcp-broker-address",
    `127.0.0.1:${port}`,
    "--mcp-router-address",
    o.router ? "127.0.0.1:0" : "off",
    "--session-signing-key",
    SIGNING_KEY,
    "--mcp-check-interval",
    String(o.checkIntervalSeconds ?? 1),
  ];
  if (o.privateHost) args.push("--mcp-gateway-private-host", o.privateHost);
  if (o.publicHost) args.push("--mcp-gateway-public-host", o.publicHost);
  args.push(...o.args ?? []);
  const c = await spawnChild({
    cmd: deno,
    args,
    env: o.env,
    ready: o.router ? /router listening .*address=(\S+)/ : /broker listening url=(\S+)/,
  }).catch(async (e) => {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  let n = 0;
  const stop = async () => {
    await c.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const gw: GatewayChild = {
    ...c,
    stop,
    mcpUrl: `${baseUrl}/mcp`,
    baseUrl,
    routerAddress: o.router ? c.ready[1] : undefined,
    async writeConfig(next) {
      const tmp = `${dir}/.config.${n++}.yaml`;
      await Deno.writeTextFile(tmp, stringify(next));
      await Deno.rename(tmp, configPath);
    },
    status: async () => await (await fetch(`${baseUrl}/status`)).json(),
  };
  await waitUntil(async () => {
    const res = await fetch(`${baseUrl}/healthz`).catch(() => undefined);
    await res?.body?.cancel();
    return res?.ok ?? false;
  }, "the gateway to listen").catch(async (e) => {
    await stop();
    throw new Error(`${e.message}\n${c.output()}`);
  });
  return gw;
}

/** The Envoy emulator in its own process (bench/envoy_proc.ts). */
export async function startEnvoyProcess(
  o: { port: number; extProc: string; defaultCluster: string; clusters: Record<string, string> },
): Promise<Child & { url: string }> {
  const args = ["run", "-A", `${ROOT}bench/envoy_proc.ts`, "--port", String(o.port), "--ext-proc", o.extProc];
  args.push("--default", o.defaultCluster);
  for (const [k, v] of Object.entries(o.clusters)) args.push("--cluster", `${k}=${v}`);
  const c = await spawnChild({
    cmd: deno,
    args,
    ready: /listening on (http:\/\/\S+)/,
    countLines: EMULATOR_TRANSPORT_ERROR,
  });
  return { ...c, url: c.ready[1] };
}

/**
 * A 5xx the Envoy emulator made because its own gRPC stream to the processor failed (cancelled, reset),
 * as bench/envoy_proc.ts logs it. These also happen with a no-op processor (see bench/README.md).
 */
export const EMULATOR_TRANSPORT_ERROR = /^error 5\d\d .* details=ext_proc_error_gRPC_error_/;

/** Polls `check` every 50 ms until it is true or `timeoutMs` passes. */
export async function waitUntil(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}
