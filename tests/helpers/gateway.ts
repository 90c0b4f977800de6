/**
 * Runs the gateway as a real process (`deno run src/main.ts`) on loopback port 0, with a config file the
 * test can rewrite to exercise hot reload.
 */
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { GiveUp, waitFor } from "./ports.ts";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));

export interface GatewayProcess {
  /** The process id (for signals and /proc figures). */
  pid: number;
  /** Resolves with the exit status once the process has ended. */
  exited: Promise<Deno.CommandStatus>;
  /** `http://127.0.0.1:PORT` */
  baseUrl: string;
  /** `http://127.0.0.1:PORT/mcp` */
  mcpUrl: string;
  /** The router's gRPC address, when it runs. */
  routerAddress?: string;
  configPath: string;
  /** Replaces the config file (atomically, as editors and Kubernetes do). */
  writeConfig(config: unknown): Promise<void>;
  /** Everything the process logged so far. */
  logs(): string;
  status(): Promise<any>;
  /** The events `/debug/events` still holds, oldest first, optionally of one type. */
  events(type?: string): Promise<any[]>;
  stop(): Promise<void>;
  /** Kills the process at once (SIGKILL: a crash, nothing drained). */
  kill(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface GatewayProcessOptions {
  config: unknown;
  args?: string[];
  env?: Record<string, string>;
  /** Pass TEST_SIGNING_KEY with --session-signing-key (default true; false leaves the key to `env`). */
  signingKeyFlag?: boolean;
}

/** A server entry of the gateway's config. */
export interface ServerEntry {
  name: string;
  url: string;
  toolPrefix: string;
  [key: string]: unknown;
}

/**
 * The gateway in front of `servers`, returned once every enabled one is fully discovered (stopped again when
 * they never are). `options.config` adds top-level config keys (e.g. `virtualServers`).
 */
export async function startGatewayFor(
  servers: ServerEntry[],
  options: Omit<GatewayProcessOptions, "config"> & { config?: Record<string, unknown> } = {},
): Promise<GatewayProcess> {
  const gw = await startGatewayProcess({ ...options, config: { ...options.config, servers } });
  const enabled = servers.filter((s) => s.enabled !== false).map((s) => s.name);
  try {
    await waitFor(async () => {
      const events = await gw.events();
      return enabled.every((name) => discovered(events, name));
    }, `${enabled.join(", ")} discovered`);
    return gw;
  } catch (e) {
    await gw.stop();
    throw e;
  }
}

/** The event that follows a connection for each list a server declares (its capability). */
const DISCOVERY_EVENT = {
  tools: "ToolsDiscovered",
  prompts: "PromptsDiscovered",
  resources: "ResourcesDiscovered",
} as const;

/**
 * Whether `server`'s latest connection has been followed by the discovery of every list it offers, judged
 * from the gateway's events. A server counts as ready (on `/status`) once its tools are in, a moment before
 * its prompts and resources are.
 */
export function discovered(events: readonly any[], server: string): boolean {
  const connected = events.findLast((e) => e.type === "UpstreamConnected" && e.server === server);
  if (!connected) return false;
  const after = events.filter((e) => e.seq > connected.seq && e.upstreamKey === connected.upstreamKey);
  return Object.entries(DISCOVERY_EVENT).every(([capability, type]) =>
    !connected.capabilities?.[capability] || after.some((e) => e.type === type)
  );
}

export const TEST_SIGNING_KEY = "test-signing-key-0123456789abcdef0123456789";

function render(config: unknown): string {
  return typeof config === "string" ? config : stringify(config);
}

/** `deno run src/main.ts` with the test defaults (loopback port 0, 1 s checks, a fixed key) and `options`. */
function gatewayCommand(configPath: string, options: Omit<GatewayProcessOptions, "config">): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      MAIN,
      "--mcp-gateway-config",
      configPath,
      "--mcp-broker-address",
      "127.0.0.1:0",
      "--mcp-router-address",
      "127.0.0.1:0",
      "--mcp-check-interval",
      "1",
      ...(options.signingKeyFlag === false ? [] : ["--session-signing-key", TEST_SIGNING_KEY]),
      ...(options.args ?? []),
    ],
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * Runs the gateway on `config` until it exits by itself, for startups that must fail; a process still
 * running after `timeoutMs` is killed and reported as such.
 */
export async function runGatewayToExit(
  options: GatewayProcessOptions,
  timeoutMs = 20_000,
): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-gw-test-" });
  try {
    const configPath = `${dir}/config.yaml`;
    await Deno.writeTextFile(configPath, render(options.config));
    const child = gatewayCommand(configPath, options).spawn();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, timeoutMs);
    try {
      const { code, signal, stdout, stderr } = await child.output();
      const dec = new TextDecoder();
      const output = dec.decode(stdout) + dec.decode(stderr);
      if (signal) throw new Error(`the gateway was still running after ${timeoutMs} ms:\n${output}`);
      return { code, output };
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-gw-test-" });
  const configPath = `${dir}/config.yaml`;
  await Deno.writeTextFile(configPath, render(options.config));
  const child = gatewayCommand(configPath, options).spawn();
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
  };
  const pumping = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
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
    }, 5_000);
    await status;
    clearTimeout(timer);
    await pumping;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const baseUrl = await waitFor(
      () => {
        if (exited) throw new GiveUp(`gateway exited:\n${output}`);
        return /broker listening url=(http:\/\/\S+)\/mcp/.exec(output)?.[1];
      },
      "the gateway to listen",
      20_000,
    );
    const routerOff = (options.args ?? []).some((a, i, all) =>
      a === "--mcp-router-address" && all[i + 1] === "off"
    );
    // The router starts after the broker: wait for its line too.
    const routerAddress = routerOff ? undefined : await waitFor(
      () => /router listening .*address=(\S+)/.exec(output)?.[1],
      "the router to listen",
      20_000,
    );
    let n = 0;
    return {
      pid: child.pid,
      exited: status,
      baseUrl,
      mcpUrl: `${baseUrl}/mcp`,
      routerAddress,
      configPath,
      async writeConfig(config) {
        const tmp = `${dir}/.config.yaml.${n++}`;
        await Deno.writeTextFile(tmp, render(config));
        await Deno.rename(tmp, configPath);
      },
      logs: () => output,
      status: async () => (await fetch(`${baseUrl}/status`)).json(),
      events: async (type) => {
        const query = type ? `?type=${encodeURIComponent(type)}` : "";
        return (await (await fetch(`${baseUrl}/debug/events${query}`)).json()).events;
      },
      stop,
      async kill() {
        if (!exited) {
          try {
            child.kill("SIGKILL");
          } catch { /* gone */ }
        }
        await stop();
      },
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
