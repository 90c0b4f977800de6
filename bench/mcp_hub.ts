/**
 * mcp-hub (npm, a peer MCP aggregator) for the side-by-side comparison: installed on demand into a temp
 * directory outside the project (it is not a dependency of the gateway), run under Node with its state
 * directories in a temp dir. Its downstream is the legacy HTTP+SSE transport; tools are `<server>__<tool>`.
 */
import { type Child, freePort, spawnChild, waitUntil } from "./processes.ts";

export const MCP_HUB_VERSION = "4.2.1";

/** Installs mcp-hub (reused when present); resolves to its CLI path, or a reason it is not available. */
export async function installMcpHub(): Promise<{ cli: string } | { skipped: string }> {
  const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/mcp-gateway-bench-mcp-hub-${MCP_HUB_VERSION}`;
  const cli = `${dir}/node_modules/mcp-hub/dist/cli.js`;
  if (await Deno.stat(cli).then(() => true, () => false)) return { cli };
  try {
    await Deno.mkdir(dir, { recursive: true });
    const out = await new Deno.Command("npm", {
      args: ["install", "--no-audit", "--no-fund", "--silent", "--prefix", dir, `mcp-hub@${MCP_HUB_VERSION}`],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    if (!out.success) {
      return {
        skipped: `npm install mcp-hub@${MCP_HUB_VERSION} failed: ${
          new TextDecoder().decode(out.stderr).slice(0, 300)
        }`,
      };
    }
    return { cli };
  } catch (e) {
    return { skipped: `npm install mcp-hub@${MCP_HUB_VERSION} failed: ${(e as Error).message}` };
  }
}

/** Starts mcp-hub over `servers` (name → Streamable HTTP URL) and waits until every server is connected. */
export async function startMcpHub(
  cli: string,
  servers: Record<string, string>,
): Promise<Child & { sseUrl: string }> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-hub-bench-" });
  const config = `${dir}/mcp-hub.json`;
  const mcpServers = Object.fromEntries(Object.entries(servers).map(([k, url]) => [k, { url }]));
  await Deno.writeTextFile(config, JSON.stringify({ mcpServers }));
  const port = freePort();
  const c = await spawnChild({
    cmd: "node",
    args: [cli, "--port", String(port), "--config", config],
    env: {
      XDG_STATE_HOME: dir,
      XDG_DATA_HOME: dir,
      XDG_CONFIG_HOME: dir,
      HOME: dir,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    },
    clearEnv: true,
    ready: /servers started/,
    timeoutMs: 60_000,
  });
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await c.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await waitUntil(async () => {
      const health = await (await fetch(`${base}/api/health`)).json();
      const list = health.servers ?? [];
      return list.length === Object.keys(servers).length &&
        list.every((s: { status: string }) => s.status === "connected");
    }, "mcp-hub to connect its servers");
  } catch (e) {
    await stop();
    throw e;
  }
  return { ...c, stop, sseUrl: `${base}/mcp` };
}
