/**
 * `deno task run` with nothing listening behind its config says once how to start the example servers,
 * instead of only logging "connection refused" for ever; `deno task example-servers` starts them.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";
import { freePort, waitFor } from "./helpers/ports.ts";
import { serveMcp } from "./servers/serve.ts";
import { createWeatherServer } from "./servers/weather.ts";

const HINT = /WARN {2}nothing listens at .*deno task example-servers/g;

Deno.test("nothing listening: the hint comes once, the retries go on; example-servers fixes it", async () => {
  const [weatherPort, calendarPort] = [freePort(), freePort()];
  await using gw = await startGatewayProcess({
    config: {
      servers: [
        { name: "weather-service", url: `http://127.0.0.1:${weatherPort}/mcp`, toolPrefix: "weather_" },
        { name: "calendar-service", url: `http://127.0.0.1:${calendarPort}/mcp`, toolPrefix: "cal_" },
      ],
    },
  });
  await waitFor(() => (gw.logs().match(/upstream failed/g) ?? []).length >= 6, "several retries", 20_000);
  assertEquals(gw.logs().match(HINT)?.length, 1, gw.logs());
  assert(gw.logs().includes(`127.0.0.1:${weatherPort}`) && gw.logs().includes(`127.0.0.1:${calendarPort}`));

  const servers = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      fileURLToPath(new URL("../scripts/demo.ts", import.meta.url)),
      "--servers-only",
    ],
    env: { DEMO_WEATHER_PORT: String(weatherPort), DEMO_CALENDAR_PORT: String(calendarPort), NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let err = "";
  const reading = (async () => {
    for await (const chunk of servers.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
  })();
  try {
    await waitFor(() => err.includes("example servers running"), "example servers", 20_000);
    await waitFor(async () => (await gw.status()).healthyServers === 2, "both servers ready", 20_000);
  } finally {
    servers.kill("SIGTERM");
    assertEquals((await servers.status).code, 0, err);
    await reading;
  }
});

Deno.test("no hint while one of the servers answers", async () => {
  await using backend = await serveMcp(() => createWeatherServer());
  await using gw = await startGatewayProcess({
    config: {
      servers: [
        { name: "up", url: backend.url, toolPrefix: "u_" },
        { name: "down", url: `http://127.0.0.1:${freePort()}/mcp`, toolPrefix: "d_" },
      ],
    },
  });
  await waitFor(
    () => (gw.logs().match(/upstream failed/g) ?? []).length >= 3,
    "retries of the down one",
    20_000,
  );
  assertEquals(gw.logs().match(HINT), null);
});
