/**
 * `--workers N`: N gateway processes on one machine, so all its cores serve. They listen on the same broker
 * and router ports (SO_REUSEPORT: the kernel spreads new connections over them) and share sessions through
 * the shared store, as replicas do. This parent only supervises: it starts the workers, starts a crashed one
 * again (with backoff), and on SIGTERM passes the signal on, waits for every worker to drain, and exits 0.
 */
import { parseAddress } from "../cli.ts";
import type { GatewayOptions } from "../cli.ts";
import type { Logger } from "../observe/log.ts";

/** Backoff between restarts of a worker that keeps crashing; reset once it has run for a minute. */
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
const HEALTHY_AFTER_MS = 60_000;

/** `args` without `--workers` (each worker is one process). */
export function withoutWorkersFlag(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--workers") i++;
    else if (!args[i].startsWith("--workers=")) out.push(args[i]);
  }
  return out;
}

/** `host:port` with port 0 replaced by a port free now: every worker must bind the same one. */
function concrete(address: string): string {
  const { hostname, port } = parseAddress(address);
  if (port !== 0) return address;
  const listener = Deno.listen({ hostname, port: 0 });
  const chosen = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${chosen}`;
}

/** How this executable runs itself: `deno run` of the same module, or the compiled binary. */
function selfCommand(args: string[]): [string, string[]] {
  const exec = Deno.execPath();
  const isDeno = /^deno(\.exe)?$/.test(exec.split(/[\\/]/).pop() ?? "");
  return isDeno ? [exec, ["run", "--allow-all", Deno.mainModule, ...args]] : [exec, args];
}

/** Runs `options.workers` workers until `signal`; resolves with the exit code. */
export async function runWorkers(
  options: GatewayOptions,
  args: readonly string[],
  logger: Logger,
  signal: AbortSignal,
): Promise<number> {
  const log = logger.with({ component: "workers" });
  const brokerAddress = concrete(options.brokerAddress);
  const routerAddress = options.routerAddress === "off" ? "off" : concrete(options.routerAddress);
  const [command, commandArgs] = selfCommand([
    ...withoutWorkersFlag(args),
    "--mcp-broker-address",
    brokerAddress,
    "--mcp-router-address",
    routerAddress,
  ]);
  // Workers must accept each other's sessions: without a configured key they share one made here.
  const sharedKey: Record<string, string> = options.signingKey
    ? {}
    : { JWT_SESSION_SIGNING_KEY: crypto.randomUUID() + crypto.randomUUID() };
  log.info("starting workers", { workers: options.workers, broker: brokerAddress, router: routerAddress });

  const running = new Map<number, Deno.ChildProcess>();
  const supervise = async (worker: number) => {
    let backoff = RESTART_MIN_MS;
    while (!signal.aborted) {
      const started = Date.now();
      const child = new Deno.Command(command, {
        args: commandArgs,
        env: { ...sharedKey, MCP_GATEWAY_WORKER: String(worker) },
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
      running.set(worker, child);
      const status = await child.status;
      running.delete(worker);
      if (signal.aborted) return;
      if (Date.now() - started > HEALTHY_AFTER_MS) backoff = RESTART_MIN_MS;
      log.warn("worker exited; starting it again", {
        worker,
        pid: child.pid,
        code: status.code,
        signal: status.signal ?? undefined,
        inMs: backoff,
      });
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, backoff);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve(undefined);
        }, { once: true });
      });
      backoff = Math.min(backoff * 2, RESTART_MAX_MS);
    }
  };
  const supervising = Array.from({ length: options.workers }, (_, i) => supervise(i + 1));
  signal.addEventListener("abort", () => {
    log.info("stopping workers: each drains its calls in flight", { workers: running.size });
    for (const child of running.values()) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
  }, { once: true });
  await Promise.all(supervising);
  log.info("workers stopped");
  return 0;
}
