/**
 * Runs `@modelcontextprotocol/server-everything` (the real reference MCP server from npm) under Node on a
 * loopback port, as a test backend written by other people.
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { freePort, waitFor } from "./ports.ts";

const ROOT = fromFileUrl(new URL("../../", import.meta.url));
const ENTRY = `${ROOT}node_modules/@modelcontextprotocol/server-everything/dist/index.js`;
const PRELOAD = fromFileUrl(new URL("./preload_loopback.cjs", import.meta.url));

export interface EverythingServer {
  port: number;
  /** `http://127.0.0.1:PORT/mcp` */
  url: string;
  /** Kills the process (SIGKILL: a crash, not a graceful shutdown). */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function ready(url: string) {
  await waitFor(async () => {
    const res = await fetch(url, { method: "GET", headers: { accept: "text/event-stream" } });
    await res.body?.cancel();
    return res.status > 0;
  }, `server-everything at ${url}`);
}

function denoEnv(): Record<string, string> {
  const env: Record<string, string> = { HOME: Deno.env.get("HOME") ?? "/tmp" };
  const dir = Deno.env.get("DENO_DIR");
  if (dir) env.DENO_DIR = dir;
  return env;
}

let nodePresent: boolean | undefined;
function hasNode(): boolean {
  if (Deno.env.get("MCP_GATEWAY_TEST_NO_NODE")) return false;
  if (nodePresent === undefined) {
    try {
      nodePresent =
        new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
          .success;
    } catch {
      nodePresent = false;
    }
  }
  return nodePresent;
}

export async function startEverything(port = freePort()): Promise<EverythingServer> {
  const url = `http://127.0.0.1:${port}/mcp`;
  let child: Deno.ChildProcess | undefined;
  const spawn = async () => {
    // Node when the machine has it (fastest start); otherwise Deno's own npm support runs the same package.
    const [command, args] = hasNode()
      ? ["node", ["--require", PRELOAD, ENTRY, "streamableHttp"]]
      : [Deno.execPath(), [
        "run",
        "-A",
        "npm:@modelcontextprotocol/server-everything@2026.8.31",
        "streamableHttp",
      ]];
    child = new Deno.Command(command, {
      args,
      // A minimal environment: its get-env tool returns whatever it was started with.
      clearEnv: true,
      env: {
        PORT: String(port),
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        // Deno needs its cache to find the package; Node needs nothing more.
        ...(command === "node" ? {} : denoEnv()),
      },
      stdout: "null",
      stderr: "null",
    }).spawn();
    await ready(url);
  };
  const kill = async () => {
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    child = undefined;
  };
  await spawn();
  return { port, url, kill, restart: spawn, [Symbol.asyncDispose]: kill };
}
