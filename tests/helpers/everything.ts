/**
 * Runs `@modelcontextprotocol/server-everything` (the real reference MCP server from npm) under Node on a
 * loopback port, as a test backend written by other people.
 *
 * It takes only `PORT` and cannot listen on port 0 and say which port it got, so the helper picks a free
 * port, and takes another when the child loses the race for it (it exits with EADDRINUSE). It is ready when
 * an MCP `initialize` on that port is answered by server-everything itself, not by whatever else listens.
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { freePort, GiveUp, waitFor } from "./ports.ts";
import { initializeBody, rawPost } from "./mcp_client.ts";

const ROOT = fromFileUrl(new URL("../../", import.meta.url));
const ENTRY = `${ROOT}node_modules/@modelcontextprotocol/server-everything/dist/index.js`;
const PRELOAD = fromFileUrl(new URL("./preload_loopback.cjs", import.meta.url));
/** `serverInfo.name` server-everything answers `initialize` with. */
const SERVER_NAME = "mcp-servers/everything";
const PORT_ATTEMPTS = 3;

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

/** The port was taken by someone else between picking it and the child listening on it. */
class PortTaken extends GiveUp {}

/** One child process on `port`; resolves once server-everything answers MCP there. */
async function spawnOn(port: number): Promise<Deno.ChildProcess> {
  // Node when the machine has it (fastest start); otherwise Deno's own npm support runs the same package.
  const [command, args] = hasNode()
    ? ["node", ["--require", PRELOAD, ENTRY, "streamableHttp"]]
    : [Deno.execPath(), [
      "run",
      "-A",
      "npm:@modelcontextprotocol/server-everything@2026.8.31",
      "streamableHttp",
    ]];
  const child = new Deno.Command(command, {
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
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const pumped = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr = (stderr + chunk).slice(-4096);
    }
  })().catch(() => {});
  let exited = false;
  child.status.then(() => exited = true);
  const url = `http://127.0.0.1:${port}/mcp`;
  try {
    await waitFor(
      async () => {
        if (exited) {
          await pumped;
          throw stderr.includes("EADDRINUSE") || /already in use/.test(stderr)
            ? new PortTaken(`port ${port} taken`)
            : new GiveUp(`server-everything exited:\n${stderr}`);
        }
        const res = await rawPost(url, initializeBody());
        if (res.json?.result?.serverInfo?.name !== SERVER_NAME) return false;
        // Readiness must not leave a session (and its timers) behind.
        const session = res.headers.get("mcp-session-id");
        if (session) {
          const del = await fetch(url, { method: "DELETE", headers: { "mcp-session-id": session } });
          await del.body?.cancel();
        }
        return true;
      },
      `server-everything at ${url}`,
      20_000,
    );
    return child;
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    throw e;
  }
}

/** Starts server-everything on a free loopback port; the child is killed if it never becomes ready. */
export async function startEverything(): Promise<EverythingServer> {
  let port = 0;
  let child: Deno.ChildProcess | undefined;
  for (let attempt = 1; !child; attempt++) {
    port = freePort();
    try {
      child = await spawnOn(port);
    } catch (e) {
      if (!(e instanceof PortTaken) || attempt >= PORT_ATTEMPTS) throw e;
    }
  }
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running) return;
    try {
      running.kill("SIGKILL");
    } catch { /* already gone */ }
    await running.status;
  };
  const restart = async () => {
    await kill();
    child = await spawnOn(port);
  };
  return { port, url: `http://127.0.0.1:${port}/mcp`, kill, restart, [Symbol.asyncDispose]: kill };
}
