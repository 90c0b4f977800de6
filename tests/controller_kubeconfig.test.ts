/**
 * Controller mode on a machine without Kubernetes says so in one line, naming what it tried, and exits 2;
 * it does not retry for ever against a made-up localhost:8080 or die with a stack trace.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

async function denoDir(): Promise<string> {
  const { stdout } = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" })
    .output();
  return JSON.parse(new TextDecoder().decode(stdout)).denoDir;
}

/** Runs the controller with only the given environment; kills it after 20 s (a hang is a failure). */
async function controller(args: string[], env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      MAIN,
      "--controller",
      "--health-probe-address",
      "127.0.0.1:0",
      "--metrics-address",
      "127.0.0.1:0",
      ...args,
    ],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "", DENO_DIR: await denoDir(), NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const { code, stderr } = await child.output();
  clearTimeout(timer);
  return { code, lines: new TextDecoder().decode(stderr).trim().split("\n") };
}

Deno.test("controller: a missing --kubeconfig file is one line and exit 2", async () => {
  const home = await Deno.makeTempDir();
  try {
    const { code, lines } = await controller(["--kubeconfig", "/nonexistent/kubeconfig"], { HOME: home });
    assertEquals(lines, ["error: --kubeconfig /nonexistent/kubeconfig: no such file"]);
    assertEquals(code, 2);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("controller: no kubeconfig and no cluster names everything it tried, exit 2", async () => {
  const home = await Deno.makeTempDir();
  try {
    const { code, lines } = await controller([], { HOME: home });
    assertEquals(lines.length, 1, lines.join("\n"));
    assertMatch(lines[0], /^error: no Kubernetes configuration found: tried --kubeconfig \(not given\)/);
    assert(lines[0].includes("$KUBECONFIG (not set)"), lines[0]);
    assert(lines[0].includes(`${home}/.kube/config (not found)`), lines[0]);
    assert(lines[0].includes("in-cluster service account (KUBERNETES_SERVICE_HOST not set)"), lines[0]);
    assertEquals(code, 2);

    const { code: envCode, lines: envLines } = await controller([], {
      HOME: home,
      KUBECONFIG: `${home}/nope`,
    });
    assertEquals(envLines, [`error: $KUBECONFIG names no existing file (${home}/nope)`]);
    assertEquals(envCode, 2);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
