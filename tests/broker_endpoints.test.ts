/**
 * What the README promises of the broker's other endpoints and options, each checked on a real process:
 * `/healthz`, `/readyz`, `/metrics`, OAuth protected-resource metadata from the `OAUTH_*` variables at both
 * paths, `toolConflicts` on `/status`, virtual servers (`X-Mcp-Virtualserver`), `--allowed-origins` and
 * `--allowed-hosts`, an invalid config at startup, and the session-expiry sweep.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { runGatewayToExit, startGatewayFor } from "./helpers/gateway.ts";
import { startRecordingProxy } from "./helpers/e2e_recording_proxy.ts";
import {
  connectClient,
  initializeBody,
  postWithHost,
  rawInitialize,
  rawPost,
  toolCallBody,
  toolNames,
} from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { startCalendar } from "./servers/calendar.ts";
import { startWeather, WEATHER_TOOLS } from "./servers/weather.ts";
import { parseCli } from "../src/cli.ts";
import { startGateway } from "../src/gateway.ts";
import { createBroker } from "../src/broker/server.ts";
import { silentLogger } from "../src/observe/log.ts";

const OAUTH_ENV = {
  OAUTH_RESOURCE_NAME: "Test Gateway",
  OAUTH_RESOURCE: "https://gw.example.com/mcp",
  OAUTH_AUTHORIZATION_SERVERS: "https://idp.example.com/realms/a, https://idp.example.com/realms/b",
  OAUTH_BEARER_METHODS_SUPPORTED: "header,query",
  OAUTH_SCOPES_SUPPORTED: "basic,read,write",
};

Deno.test("broker endpoints and options on one gateway process", async (t) => {
  // Two weather servers under one prefix: every weather tool is offered twice, and the first server keeps it.
  await using weather1 = await startWeather();
  await using weather2 = await startWeather();
  await using calendar = await startCalendar();
  await using gw = await startGatewayFor([
    { name: "weather-1", url: weather1.url, toolPrefix: "w_" },
    { name: "weather-2", url: weather2.url, toolPrefix: "w_" },
    { name: "calendar", url: calendar.url, toolPrefix: "cal_" },
  ], {
    config: {
      virtualServers: [
        { name: "team-a/weather-only", tools: ["w_get_forecast", "w_get_current"], prompts: [] },
      ],
    },
    env: OAUTH_ENV,
    args: ["--allowed-origins", "https://app.example.com", "--allowed-hosts", "gw.example.com"],
  });

  await t.step("/healthz and /readyz answer 200 once a server is ready", async () => {
    for (const [path, body] of [["/healthz", "ok"], ["/readyz", "ready"]]) {
      const res = await fetch(`${gw.baseUrl}${path}`);
      assertEquals([res.status, (await res.text()).trim()], [200, body]);
    }
  });

  await t.step(
    "OAuth protected-resource metadata comes from the OAUTH_* variables, at both paths",
    async () => {
      for (
        const path of ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]
      ) {
        const res = await fetch(`${gw.baseUrl}${path}`);
        assertEquals(res.status, 200, path);
        assertEquals(await res.json(), {
          resource_name: "Test Gateway",
          resource: "https://gw.example.com/mcp",
          authorization_servers: ["https://idp.example.com/realms/a", "https://idp.example.com/realms/b"],
          bearer_methods_supported: ["header", "query"],
          scopes_supported: ["basic", "read", "write"],
        }, path);
      }
    },
  );

  await t.step("/status reports the tool conflicts: config order decides, both servers say so", async () => {
    const status = await gw.status();
    const conflicts = status.conflicts as { name: string; winner: string; shadowed: string[] }[];
    assertEquals(
      conflicts.map((c) => c.name).sort(),
      WEATHER_TOOLS.map((name) => `w_${name}`).sort(),
    );
    for (const conflict of conflicts) {
      assertEquals([conflict.winner, conflict.shadowed], ["weather-1", ["weather-2"]], conflict.name);
    }
    assertEquals(status.toolConflicts, WEATHER_TOOLS.length);
    assertEquals(status.overallValid, false);
    const byName = Object.fromEntries(status.servers.map((s: { name: string }) => [s.name, s]));
    assertEquals(byName["weather-1"].toolConflicts.length, WEATHER_TOOLS.length);
    assertEquals(byName["weather-2"].toolConflicts.length, WEATHER_TOOLS.length);
    assertEquals(byName.calendar.toolConflicts, []);
    const one = await (await fetch(`${gw.baseUrl}/status/weather-2`)).json();
    assertEquals(one.toolConflicts.length, WEATHER_TOOLS.length);
  });

  await t.step(
    "X-Mcp-Virtualserver narrows the lists to the virtual server's tools and prompts",
    async () => {
      await using everything = await connectClient(gw.mcpUrl);
      await using narrowed = await connectClient(gw.mcpUrl, {
        headers: { "x-mcp-virtualserver": "team-a/weather-only" },
      });
      const all = await toolNames(everything.client);
      assert(all.includes("cal_list_events") && all.includes("w_get_alerts"), all.join());
      assertEquals(await toolNames(narrowed.client), ["w_get_current", "w_get_forecast"]);
      assertEquals((await narrowed.client.listPrompts()).prompts, []);
      assert((await everything.client.listPrompts()).prompts.length > 0);
      // Listing is narrowed, not calling: what the virtual server names still answers.
      const forecast = await narrowed.client.callTool({
        name: "w_get_forecast",
        arguments: { city: "Oslo" },
      });
      assert(JSON.stringify(forecast.content).includes("Forecast for Oslo"), JSON.stringify(forecast));
    },
  );

  await t.step("/metrics counts calls by server and tool, and upstream health", async () => {
    const session = await rawInitialize(gw.mcpUrl);
    const call = await rawPost(gw.mcpUrl, toolCallBody(1, "cal_list_events", { date: "2026-01-15" }), {
      "mcp-session-id": session,
    });
    assert(call.text.includes("Team standup"), call.text);
    const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
    assertMatch(
      metrics,
      /mcp_gateway_tool_calls_total\{server="calendar",tool="cal_list_events",outcome="ok"\} [1-9]/,
    );
    assertMatch(metrics, /mcp_gateway_upstream_up\{server="weather-2"\} 1/);
    assertMatch(metrics, /mcp_gateway_upstream_tools\{server="calendar"\} 3/);
    assertMatch(metrics, /mcp_gateway_requests_total\{method="tools\/call",status="200"\} [1-9]/);
    assertMatch(metrics, /mcp_gateway_events_total\{type="SessionOpened"\} [1-9]/);
  });

  await t.step("--allowed-origins and --allowed-hosts admit what they name, and only that", async () => {
    const init = initializeBody();
    const withOrigin = async (origin: string) => (await rawPost(gw.mcpUrl, init, { origin })).status;
    const withHost = async (host: string) => (await postWithHost(gw.mcpUrl, host, init)).status;
    assertEquals(await withOrigin("https://app.example.com"), 200);
    assertEquals(await withOrigin("https://evil.example.com"), 403);
    assertEquals(await withHost("gw.example.com"), 200);
    assertEquals(await withHost("evil.example.com"), 403);
    // Loopback names stay allowed beside the listed ones.
    assertEquals(await withHost(`localhost:${new URL(gw.mcpUrl).port}`), 200);
  });
});

Deno.test("an invalid config at startup stops the process, naming the field and the problem", async () => {
  const { code, output } = await runGatewayToExit({
    config: "servers:\n  - name: broken\n    url: not-a-url\n",
  });
  assertEquals(code, 1, output);
  assertMatch(output, /invalid configuration/);
  assertMatch(output, /servers\[broken\]\.url/);
  assert(!/broker listening/.test(output), output);
});

/** The gateway in-process (as `main.ts` runs it), for what needs its parts: the broker's sweep. */
async function inProcessGateway(config: string) {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/config.yaml`, config);
  const cli = parseCli([
    "--mcp-gateway-config",
    `${dir}/config.yaml`,
    "--mcp-broker-address",
    "127.0.0.1:0",
    "--mcp-router-address",
    "off",
    "--mcp-check-interval",
    "1",
  ], () => undefined);
  assert(cli.ok);
  const gateway = await startGateway(cli.options, silentLogger);
  return {
    gateway,
    dir,
    writeConfig: async (text: string) => {
      await Deno.writeTextFile(`${dir}/.next.yaml`, text);
      await Deno.rename(`${dir}/.next.yaml`, `${dir}/config.yaml`);
    },
    async [Symbol.asyncDispose]() {
      await gateway.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("/readyz is 503 until a configured server is ready", async () => {
  await using weather = await startWeather();
  await using gw = await inProcessGateway("servers:\n  - name: down\n    url: http://127.0.0.1:1/mcp\n");
  const get = async (path: string) => {
    const res = await fetch(`${gw.gateway.brokerUrl}${path}`);
    return [res.status, (await res.text()).trim()];
  };
  assertEquals(await get("/readyz"), [503, "no upstream MCP server is ready"]);
  assertEquals(await get("/healthz"), [200, "ok"]);
  await gw.writeConfig(`servers:\n  - name: weather\n    url: ${weather.url}\n`);
  await waitFor(async () => (await get("/readyz"))[0] === 200, "ready once weather serves");
});

Deno.test("the expiry sweep ends expired sessions and the backend sessions opened for them", async () => {
  await using weather = await startWeather();
  await using proxy = startRecordingProxy(weather.url);
  await using gw = await inProcessGateway(
    `servers:\n  - name: weather\n    url: ${proxy.url}\n    toolPrefix: w_\n`,
  );
  const { gateway } = gw;
  const mcpUrl = `${gateway.brokerUrl}/mcp`;
  await waitFor(() => gateway.context.upstreams.state.servers.get("weather")?.status === "ready", "weather");
  const session = await rawInitialize(mcpUrl);
  const called = await rawPost(mcpUrl, toolCallBody(1, "w_get_alerts", { region: "CA" }), {
    "mcp-session-id": session,
  });
  assertEquals(called.status, 200, called.text);
  const backendSession = proxy.requests().find((r) => r.messages.some((m) => m.method === "tools/call"))
    ?.session;
  assert(backendSession, "the call ran on a backend session");
  const open = () => [...gateway.context.sessions.state.open.keys()];
  assertEquals(open().length, 1);
  const [closedId] = open();

  // The sweep the gateway runs every 30 s, run now with a clock past every session's expiry.
  const broker = createBroker(gateway.context);
  try {
    const expiresAt = gateway.context.sessions.state.open.get(closedId)!.expiresAt;
    broker.sweepExpired(expiresAt + 1);
  } finally {
    broker.close();
  }
  assertEquals(open(), []);
  const closed = gateway.context.log.recent().filter((e) => e.type === "SessionClosed");
  assertEquals(closed.map((e) => e.type === "SessionClosed" && e.reason), ["expired"]);
  await waitFor(
    () => proxy.requests().some((r) => r.method === "DELETE" && r.session === backendSession),
    "DELETE of the expired session's backend session",
  );
});
