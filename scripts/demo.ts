/**
 * `deno task demo`: the README's "run the gateway" command. Starts the two example MCP servers the shipped
 * config points at (weather on 127.0.0.1:9001, calendar on 127.0.0.1:9002), then the gateway
 * (`src/main.ts` with the default config and any extra arguments given to the demo), waits until the
 * broker's `/status` shows every enabled server ready, and prints the MCP URL with example client
 * commands. Ctrl-C or SIGTERM stops all three processes. Unlike the gateway's own default (every
 * interface), the demo's broker listens on loopback only, unless `--mcp-broker-address` says otherwise.
 *
 * ```sh
 * deno task demo                          # gateway on http://127.0.0.1:8080/mcp
 * deno task demo --log-level debug        # extra arguments go to the gateway
 * deno task demo --mcp-broker-address 0.0.0.0:8080   # reachable from other machines
 * deno task example-servers               # only the two example servers (for `deno task run`)
 * ```
 * `DEMO_WEATHER_PORT` / `DEMO_CALENDAR_PORT` move the example servers (for a config that points elsewhere).
 */
import { fileURLToPath } from "node:url";
import { type SpawnedServer, spawnServer } from "../tests/servers/serve.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const READY_TIMEOUT_MS = 30_000;
/** A demo is for this machine: its broker listens on loopback unless told otherwise. */
const DEMO_BROKER_ADDRESS = "127.0.0.1:8080";
const BROKER_FLAGS = ["--mcp-broker-address", "--mcp-broker-public-address"];

/** The broker's MCP URL from a `broker listening url=…` log line (text or JSON log format). */
export function brokerUrlFromLog(line: string): string | undefined {
  const text = /broker listening .*?\burl=(\S+)/.exec(line)?.[1];
  if (text) return text;
  if (!line.startsWith("{")) return undefined;
  try {
    const entry = JSON.parse(line);
    return entry.msg === "broker listening" && typeof entry.url === "string" ? entry.url : undefined;
  } catch {
    return undefined;
  }
}

/** A URL a client on this machine can use: wildcard bind addresses become 127.0.0.1. */
export function clientUrl(url: string): string {
  const u = new URL(url);
  if (u.hostname === "0.0.0.0" || u.hostname === "[::]") u.hostname = "127.0.0.1";
  return u.href;
}

/** The gateway's arguments: the demo's, with the broker on loopback unless they name an address. */
export function gatewayArgs(args: string[]): string[] {
  const named = args.some((a) => BROKER_FLAGS.some((flag) => a === flag || a.startsWith(`${flag}=`)));
  return named ? args : ["--mcp-broker-address", DEMO_BROKER_ADDRESS, ...args];
}

/** Where the broker will listen, from `--mcp-broker-address` (fallback when the log line is filtered out). */
function brokerUrlFromArgs(args: string[]): string {
  let address = DEMO_BROKER_ADDRESS;
  for (let i = 0; i < args.length; i++) {
    for (const flag of BROKER_FLAGS) {
      if (args[i] === flag && args[i + 1]) address = args[i + 1];
      if (args[i].startsWith(`${flag}=`)) address = args[i].slice(flag.length + 1);
    }
  }
  return `http://${address.startsWith(":") ? `0.0.0.0${address}` : address}/mcp`;
}

function writeAllSync(out: { writeSync(p: Uint8Array): number }, bytes: Uint8Array) {
  for (let done = 0; done < bytes.length;) done += out.writeSync(bytes.subarray(done));
}

/** Copies the gateway's stderr to ours and resolves with the broker URL once it is logged. */
function watchGatewayLog(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const found = Promise.withResolvers<string>();
  (async () => {
    let buffered = "";
    for await (const chunk of stderr.pipeThrough(new TextDecoderStream())) {
      writeAllSync(Deno.stderr, new TextEncoder().encode(chunk));
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        const url = brokerUrlFromLog(line);
        if (url) found.resolve(url);
      }
    }
  })().catch(() => {});
  return found.promise;
}

/** Resolves with `mcpUrl` once its `/status` answers at all; never resolves if the gateway exits first. */
async function answersStatus(mcpUrl: string, gatewayExited: Promise<unknown>): Promise<string> {
  let exited = false;
  gatewayExited.then(() => exited = true);
  while (!exited) {
    try {
      const res = await fetch(new URL("/status", mcpUrl));
      await res.body?.cancel();
      return mcpUrl;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return new Promise(() => {});
}

type StatusServer = { name: string; enabled?: boolean; ready?: boolean; message?: string };

/** Polls `/status` until every enabled server is ready, or `giveUp` settles; returns the last status seen. */
async function waitForReady(base: string, giveUp: Promise<unknown>) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let servers: StatusServer[] = [];
  let over = false;
  giveUp.then(() => over = true);
  while (Date.now() < deadline && !over) {
    try {
      const res = await fetch(new URL("/status", base));
      if (res.ok) {
        servers = (await res.json()).servers ?? [];
        const enabled = servers.filter((s) => s.enabled !== false);
        if (enabled.length > 0 && enabled.every((s) => s.ready)) return { ready: true, servers };
      } else await res.body?.cancel();
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { ready: false, servers };
}

function banner(mcpUrl: string, servers: StatusServer[], ready: boolean): string {
  const lines = [
    "",
    `MCP Gateway demo ${ready ? "ready" : "started (not every server is ready yet)"}`,
    "",
    `  MCP endpoint: ${mcpUrl}`,
    `  Status:       ${new URL("/status", mcpUrl).href}`,
    ...servers.map((s) =>
      `    ${s.ready ? "✓" : "✗"} ${s.name}: ${s.message ?? (s.ready ? "ready" : "not ready")}`
    ),
    "",
    "Try it with the MCP Inspector CLI:",
    `  npx @modelcontextprotocol/inspector --cli ${mcpUrl} --transport http --method tools/list`,
    `  npx @modelcontextprotocol/inspector --cli ${mcpUrl} --transport http --method tools/call \\`,
    "      --tool-name weather_get_forecast --tool-arg city=Lisbon --tool-arg days=2",
    `  npx @modelcontextprotocol/inspector --cli ${mcpUrl} --transport http --method tools/call \\`,
    "      --tool-name cal_list_events --tool-arg date=2026-01-15",
    "or the Inspector UI: npx @modelcontextprotocol/inspector (transport Streamable HTTP, URL above).",
    "",
    "Edit config/mcp-system/config.yaml while this runs: the gateway reloads it. Ctrl-C stops everything.",
    "",
  ];
  return lines.join("\n");
}

async function main(args: string[]): Promise<number> {
  const children: SpawnedServer[] = [];
  let gateway: Deno.ChildProcess | undefined;
  const stopAll = async () => {
    if (gateway) {
      try {
        gateway.kill("SIGTERM");
      } catch { /* already gone */ }
      await gateway.status;
    }
    await Promise.allSettled(children.map((c) => c.close()));
  };
  const stopped = Promise.withResolvers<void>();
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      stopping = true;
      stopped.resolve();
    });
  }

  try {
    const serverScript = (name: string) => new URL(`../tests/servers/${name}.ts`, import.meta.url);
    const weatherPort = Number(Deno.env.get("DEMO_WEATHER_PORT") ?? 9001);
    const calendarPort = Number(Deno.env.get("DEMO_CALENDAR_PORT") ?? 9002);
    for (const [name, port] of [["weather", weatherPort], ["calendar", calendarPort]] as const) {
      try {
        const server = await spawnServer(serverScript(name), [], port);
        children.push(server);
        console.error(`demo: ${name} MCP server listening on ${server.url}`);
      } catch {
        // The server said why on the line above (inherited stderr); say what to do about it.
        const variable = `DEMO_${name.toUpperCase()}_PORT`;
        console.error(
          `demo: cannot start the ${name} example server on 127.0.0.1:${port}. If the port is taken, stop what ` +
            `listens there, or set ${variable} and point config/mcp-system/config.yaml at the new port.`,
        );
        return 1;
      }
    }
    if (args.includes("--servers-only")) {
      console.error(
        "demo: example servers running; start the gateway with `deno task run`. Ctrl-C stops them.",
      );
      await stopped.promise;
      return 0;
    }

    gateway = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "src/main.ts", ...gatewayArgs(args)],
      cwd: ROOT,
      stdin: "null",
      stdout: "inherit",
      stderr: "piped",
    }).spawn();
    const exited = gateway.status;
    const logged = watchGatewayLog(gateway.stderr);
    const first: { url: string } | { status: Deno.CommandStatus } | { stopped: true } = await Promise.race([
      logged.then((url) => ({ url })),
      // A raised --log-level hides the line: also probe the address the flags name.
      answersStatus(clientUrl(brokerUrlFromArgs(args)), exited).then((url) => ({ url })),
      exited.then((status) => ({ status })),
      stopped.promise.then(() => ({ stopped: true as const })),
    ]);
    if ("status" in first) return first.status.code;
    if ("stopped" in first) return 0;
    const mcpUrl = clientUrl(first.url);

    const { ready, servers } = await waitForReady(mcpUrl, Promise.race([exited, stopped.promise]));
    if (stopping) return 0;
    try {
      console.log(banner(mcpUrl, servers, ready));
    } catch { /* stdout closed (the reader went away): keep running until told to stop */ }

    const end = await Promise.race([
      exited.then((status) => status.code),
      stopped.promise.then(() => 0),
    ]);
    return end;
  } finally {
    await stopAll();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
