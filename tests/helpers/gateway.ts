/**
 * Runs the gateway as a real process (`deno run src/main.ts`) on loopback port 0, with a config file the
 * test can rewrite to exercise hot reload.
 */
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { waitFor } from "./ports.ts";

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
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface GatewayProcessOptions {
  config: unknown;
  args?: string[];
  env?: Record<string, string>;
  /** Pass TEST_SIGNING_KEY with --session-signing-key (default true; false leaves the key to `env`). */
  signingKeyFlag?: boolean;
}

export const TEST_SIGNING_KEY = "test-signing-key-0123456789abcdef0123456789";

function render(config: unknown): string {
  return typeof config === "string" ? config : stringify(config);
}

export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-gw-test-" });
  const configPath = `${dir}/config.yaml`;
  await Deno.writeTextFile(configPath, render(options.config));
  const child = new Deno.Command(Deno.execPath(), {
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
    stdout: "piped",
    stderr: "piped",
  }).spawn();
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
        if (exited) throw new Error(`gateway exited:\n${output}`);
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
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
