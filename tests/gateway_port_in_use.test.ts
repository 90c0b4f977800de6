/** A busy port is an everyday mistake: the gateway and the demo name the address, in one line, no stack. */
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const DEMO = fileURLToPath(new URL("../scripts/demo.ts", import.meta.url));

async function run(script: string, args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const { code, stderr, stdout } = await child.output();
  clearTimeout(timer);
  return { code, text: new TextDecoder().decode(stderr) + new TextDecoder().decode(stdout) };
}

function assertNoStack(text: string) {
  assert(!/^\s+at /m.test(text), `a stack trace:\n${text}`);
}

Deno.test("a busy broker or router port is named in one error line", async () => {
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.yaml`;
  await Deno.writeTextFile(config, "servers: []\n");
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = busy.addr.port;
  try {
    const broker = await run(MAIN, [
      "--mcp-gateway-config",
      config,
      "--mcp-broker-address",
      `127.0.0.1:${port}`,
      "--mcp-router-address",
      "off",
    ]);
    assertEquals(broker.code, 1);
    assertMatch(
      broker.text,
      new RegExp(
        `ERROR cannot start error="cannot listen on 127\\.0\\.0\\.1:${port} for the broker \\(--mcp-broker-address\\): the address is already in use`,
      ),
    );
    assertNoStack(broker.text);

    const router = await run(MAIN, [
      "--mcp-gateway-config",
      config,
      "--mcp-broker-address",
      "127.0.0.1:0",
      "--mcp-router-address",
      `127.0.0.1:${port}`,
    ]);
    assertEquals(router.code, 1);
    assertMatch(
      router.text,
      new RegExp(
        `cannot listen on 127\\.0\\.0\\.1:${port} for the router \\(--mcp-router-address\\): the address is already in use`,
      ),
    );
    assertNoStack(router.text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task demo with an example server's port taken says which, without a stack trace", async () => {
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = busy.addr.port;
  const demo = await run(DEMO, ["--mcp-router-address", "off", "--mcp-broker-address", "127.0.0.1:0"], {
    DEMO_WEATHER_PORT: String(port),
  });
  assertEquals(demo.code, 1, demo.text);
  assertMatch(demo.text, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use`));
  assertMatch(demo.text, /DEMO_WEATHER_PORT/);
  assertNoStack(demo.text);
});
