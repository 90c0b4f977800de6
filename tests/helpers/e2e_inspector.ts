/**
 * Runs the MCP Inspector CLI (`@modelcontextprotocol/inspector`, a real client written by other people) under
 * Node, installed through `npx`, one MCP method per process, and parses the JSON it prints.
 *
 * The Inspector writes `~/.mcp-inspector`, so HOME is a temp dir; npm keeps using the real cache (and prefers
 * it to a registry round trip), so only the very first run downloads anything.
 *
 * @example
 * ```ts
 * await using inspector = await inspectorCli();
 * const { tools } = await inspector.run(url, ["--method", "tools/list"]);
 * ```
 */

export const INSPECTOR_PACKAGE = "@modelcontextprotocol/inspector@2.12.0";

export interface InspectorResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (undefined when it is not). */
  json: any;
}

export interface InspectorCli {
  /** `mcp-inspector --cli URL --transport http ...args` (the entry point `npx -y INSPECTOR` runs). */
  run(url: string, args: string[]): Promise<InspectorResult>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Prepares a throwaway HOME and resolves the Inspector's installed entry point with `npx` (installing it on
 * first use). Each run then starts that entry point directly: npx's own start-up costs more than the call.
 */
export async function inspectorCli(): Promise<InspectorCli> {
  const home = await Deno.makeTempDir({ prefix: "inspector-home-" });
  const realHome = Deno.env.get("HOME") ?? "/root";
  const env = {
    HOME: home,
    npm_config_cache: Deno.env.get("npm_config_cache") ?? `${realHome}/.npm`,
    npm_config_prefer_offline: "true",
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
    npm_config_loglevel: "error",
    NO_COLOR: "1",
  };
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  // The first run installs the package from npm: allow it time, but not forever.
  const resolved = await outputWithin(
    new Deno.Command("npx", {
      args: ["-y", `--package=${INSPECTOR_PACKAGE}`, "-c", "command -v mcp-inspector"],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }),
    120_000,
  );
  const bin = decode(resolved.stdout).trim();
  if (resolved.code !== 0 || !bin) {
    await Deno.remove(home, { recursive: true }).catch(() => {});
    throw new Error(`cannot install ${INSPECTOR_PACKAGE} with npx: ${decode(resolved.stderr)}`);
  }
  return {
    async run(url, args) {
      const { code, stdout, stderr } = await outputWithin(
        new Deno.Command(bin, {
          args: ["--cli", url, "--transport", "http", ...args],
          env,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }),
        60_000,
      );
      const out = decode(stdout);
      let json: unknown;
      try {
        json = JSON.parse(out);
      } catch { /* not JSON */ }
      return { code, stdout: out, stderr: decode(stderr), json };
    },
    [Symbol.asyncDispose]: () => Deno.remove(home, { recursive: true }).catch(() => {}),
  };
}

/** Runs `command` to its end; a process still running after `ms` is killed (its output then ends too). */
async function outputWithin(command: Deno.Command, ms: number): Promise<Deno.CommandOutput> {
  const child = command.spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, ms);
  try {
    return await child.output();
  } finally {
    clearTimeout(timer);
  }
}
