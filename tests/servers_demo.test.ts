/**
 * `deno task demo` end to end: the example servers and the gateway start, the demo prints a working MCP
 * URL, the gateway serves both servers' prefixed tools, and SIGTERM stops every process it started.
 * Ports are free ones (the shipped config's 9001/9002/8080 may be busy), passed by a temp config and env.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { freePort } from "./helpers/ports.ts";
import { drain, readUntil } from "./helpers/streams.ts";
import { connectClient } from "./helpers/mcp_client.ts";
import { brokerUrlFromLog, clientUrl, gatewayArgs } from "../scripts/demo.ts";

const DEMO = new URL("../scripts/demo.ts", import.meta.url).pathname;

function portIsFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("demo: reads the broker URL from text and JSON log lines", () => {
  assertEquals(
    brokerUrlFromLog("2026-01-01T00:00:00Z INFO  broker listening url=http://0.0.0.0:8080/mcp"),
    "http://0.0.0.0:8080/mcp",
  );
  assertEquals(
    brokerUrlFromLog('{"level":"info","msg":"broker listening","url":"http://[::]:1/mcp"}'),
    "http://[::]:1/mcp",
  );
  assertEquals(brokerUrlFromLog("router listening address=0.0.0.0:50051"), undefined);
  assertEquals(clientUrl("http://0.0.0.0:8080/mcp"), "http://127.0.0.1:8080/mcp");
});

Deno.test("demo: the broker listens on loopback unless an address is given", () => {
  assertEquals(gatewayArgs(["--log-level", "debug"]), [
    "--mcp-broker-address",
    "127.0.0.1:8080",
    "--log-level",
    "debug",
  ]);
  assertEquals(gatewayArgs(["--mcp-broker-address=0.0.0.0:9"]), ["--mcp-broker-address=0.0.0.0:9"]);
  assertEquals(gatewayArgs(["--mcp-broker-public-address", ":9"]), ["--mcp-broker-public-address", ":9"]);
});

Deno.test("demo: starts servers and gateway, prints a working MCP URL, stops everything on SIGTERM", async () => {
  // The demo starts everything on the ports its flags and config name (as a user runs it), so those are free
  // ports picked here; `--log-level warn` hides the broker's own line, so the demo finds it by its address.
  const [weatherPort, calendarPort, brokerPort] = [freePort(), freePort(), freePort()];
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.yaml`;
  await Deno.writeTextFile(
    config,
    `servers:
  - name: weather-service
    url: http://127.0.0.1:${weatherPort}/mcp
    hostname: weather.mcp.local
    enabled: true
    toolPrefix: "weather_"
  - name: calendar-service
    url: http://127.0.0.1:${calendarPort}/mcp
    hostname: calendar.mcp.local
    enabled: true
    toolPrefix: "cal_"
`,
  );
  const demo = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      DEMO,
      "--mcp-gateway-config",
      config,
      "--mcp-broker-address",
      `127.0.0.1:${brokerPort}`,
      "--mcp-router-address",
      "off",
      "--log-level",
      "warn",
    ],
    env: { DEMO_WEATHER_PORT: String(weatherPort), DEMO_CALENDAR_PORT: String(calendarPort) },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = demo.stdout.pipeThrough(new TextDecoderStream()).getReader();
    // The whole banner, up to its last line; the demo's servers start first, so allow them time.
    const out = await readUntil(reader, (t) => t.includes("Ctrl-C stops everything"), "the demo's banner", {
      timeoutMs: 30_000,
    });
    drain(reader);
    const url = /MCP endpoint: (\S+)/.exec(out)?.[1];
    assert(url, out);
    assertEquals(url, `http://127.0.0.1:${brokerPort}/mcp`);
    assert(out.includes("MCP Gateway demo ready"), out);
    assert(
      out.includes(`npx @modelcontextprotocol/inspector --cli ${url} --transport http --method tools/list`),
    );

    await using mcp = await connectClient(url);
    const names = (await mcp.client.listTools()).tools.map((t) => t.name);
    assert(names.includes("weather_get_forecast") && names.includes("cal_list_events"), names.join(","));
    const events = await mcp.client.callTool({ name: "cal_list_events", arguments: { date: "2026-01-15" } });
    assert(JSON.stringify(events.content).includes("Team standup"));
    await mcp.close();
  } finally {
    try {
      demo.kill("SIGTERM");
    } catch { /* already gone */ }
    // Wait even when an assertion failed: the demo must reap its children before the test ends. A demo
    // that ignores SIGTERM is killed, so the test cannot outlive its own timeout either.
    const timer = setTimeout(() => {
      try {
        demo.kill("SIGKILL");
      } catch { /* gone */ }
    }, 15_000);
    await demo.status;
    clearTimeout(timer);
  }
  assertEquals((await demo.status).code, 0);
  assert(portIsFree(weatherPort) && portIsFree(calendarPort) && portIsFree(brokerPort), "a child survived");
  await Deno.remove(dir, { recursive: true });
});
