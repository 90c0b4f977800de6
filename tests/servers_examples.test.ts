/** The example MCP servers (weather, calendar, fast echo) work with the real SDK client. */
import { deepStrictEqual as assertEquals, ok as assert, rejects as assertRejects } from "node:assert/strict";
// @ts-types="@modelcontextprotocol/sdk/types"
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { connectClient, type ListKind } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { spawnServer } from "./servers/serve.ts";
import {
  currentWeather,
  forecast,
  startWeather,
  WEATHER_EXTRA_PROMPT,
  WEATHER_EXTRA_RESOURCE,
  WEATHER_EXTRA_TOOL,
  WEATHER_TOOLS,
} from "./servers/weather.ts";
import { CALENDAR_TOOLS, startCalendar } from "./servers/calendar.ts";
import { startFastEcho } from "./servers/fast_echo.ts";

const textOf = (result: any): string => result.content.map((c: any) => c.text ?? "").join("\n");
const resourceText = (result: { contents: unknown[] }): string => String((result.contents[0] as any).text);
const names = (tools: { name: string }[]) => tools.map((t) => t.name).sort();

/** Resolves on the next `tools/list_changed` the client receives; rejects if none comes (no hung test). */
function nextListChanged(client: any, timeoutMs = 10_000): Promise<void> {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const timer = setTimeout(() => reject(new Error("no tools/list_changed received")), timeoutMs);
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    clearTimeout(timer);
    resolve();
  });
  return promise;
}

const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
};
const ACCEPT = { "content-type": "application/json", accept: "application/json, text/event-stream" };

Deno.test("weather: lists its tools with schemas and annotations, returns deterministic data", async () => {
  await using weather = await startWeather();
  await using mcp = await connectClient(weather.url);
  const { tools } = await mcp.client.listTools();
  assertEquals(names(tools), [...WEATHER_TOOLS]);
  const getForecast = tools.find((t) => t.name === "get_forecast")!;
  assertEquals(getForecast.annotations?.readOnlyHint, true);
  assertEquals(Object.keys(getForecast.inputSchema.properties ?? {}).sort(), ["city", "days"]);
  assertEquals(getForecast.inputSchema.required, ["city"]);

  const result = await mcp.client.callTool({ name: "get_forecast", arguments: { city: "Lisbon", days: 2 } });
  const expected = forecast("Lisbon", 2);
  assert(
    textOf(result).includes(`Day 2: ${expected[1].condition}, ${expected[1].lowC}..${expected[1].highC} °C`),
  );

  const current = await mcp.client.callTool({ name: "get_current", arguments: { city: "Oslo" } });
  assertEquals(current.structuredContent, currentWeather("Oslo"));

  const bad = await mcp.client.callTool({ name: "get_forecast", arguments: { city: "Oslo", days: 99 } });
  assertEquals(bad.isError, true);

  const { prompts } = await mcp.client.listPrompts();
  assertEquals(prompts.map((p) => p.name), ["forecast_summary"]);
  const cities = await mcp.client.readResource({ uri: "weather://cities" });
  assertEquals(JSON.parse(resourceText(cities)), ["Lisbon", "Oslo", "Tokyo"]);
});

Deno.test("weather: toggling the extra tool sends tools/list_changed to every session", async () => {
  await using weather = await startWeather();
  await using a = await connectClient(weather.url);
  await using b = await connectClient(weather.url);
  const changedA = nextListChanged(a.client);
  const changedB = nextListChanged(b.client);

  const on = await a.client.callTool({ name: "toggle_extra", arguments: { enabled: true } });
  assertEquals(textOf(on), `${WEATHER_EXTRA_TOOL} enabled`);
  await Promise.all([changedA, changedB]);
  assert(names((await b.client.listTools()).tools).includes(WEATHER_EXTRA_TOOL));
  const aqi = await b.client.callTool({ name: WEATHER_EXTRA_TOOL, arguments: { city: "Tokyo" } });
  assert(textOf(aqi).startsWith("Air quality in Tokyo: AQI "));

  // A session opened while the tool is on sees it from the start.
  await using c = await connectClient(weather.url);
  assert(names((await c.client.listTools()).tools).includes(WEATHER_EXTRA_TOOL));

  const changedAgain = nextListChanged(b.client);
  await a.client.callTool({ name: "toggle_extra", arguments: {} });
  await changedAgain;
  assertEquals(names((await b.client.listTools()).tools), [...WEATHER_TOOLS]);
});

Deno.test("weather: resend_lists announces every list again, changing only the tool order", async () => {
  await using weather = await startWeather();
  await using mcp = await connectClient(weather.url);
  await mcp.notificationStream();
  const listed = async () => (await mcp.client.listTools()).tools.map((t) => t.name);
  const before = await listed();
  const prompts = await mcp.client.listPrompts();
  const resources = await mcp.client.listResources();
  for (const round of [1, 2]) {
    const order = await listed();
    await mcp.client.callTool({ name: "resend_lists", arguments: {} });
    await waitFor(
      () => ["tools", "prompts", "resources"].every((k) => mcp.listChanged(k as ListKind) >= round),
      `list_changed for every list (round ${round})`,
    );
    const after = await listed();
    assertEquals([...after].sort(), [...before].sort());
    assert(after.join() !== order.join(), `the tool order moved: ${after.join()}`);
  }
  assertEquals(await mcp.client.listPrompts(), prompts);
  assertEquals(await mcp.client.listResources(), resources);
});

Deno.test("weather: toggle_extra adds and removes the extra prompt and resource", async () => {
  await using weather = await startWeather();
  await using mcp = await connectClient(weather.url);
  await mcp.client.callTool({ name: "toggle_extra", arguments: { kind: "prompt" } });
  await mcp.client.callTool({ name: "toggle_extra", arguments: { kind: "resource", enabled: true } });
  const prompts = (await mcp.client.listPrompts()).prompts.map((p) => p.name);
  assertEquals(prompts.sort(), [WEATHER_EXTRA_PROMPT, "forecast_summary"]);
  const read = await mcp.client.readResource({ uri: WEATHER_EXTRA_RESOURCE });
  assert(JSON.parse(resourceText(read)).Oslo >= 0, resourceText(read));
  await mcp.client.callTool({ name: "toggle_extra", arguments: { kind: "resource", enabled: false } });
  const uris = (await mcp.client.listResources()).resources.map((r) => r.uri);
  assertEquals(uris, ["weather://cities"]);
});

Deno.test("weather: runs as a process that prints its URL and stops on SIGTERM", async () => {
  const server = await spawnServer(new URL("./servers/weather.ts", import.meta.url), ["--extra"]);
  try {
    assert(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/.test(server.url), server.url);
    await using mcp = await connectClient(server.url);
    assert(names((await mcp.client.listTools()).tools).includes(WEATHER_EXTRA_TOOL));
  } finally {
    await server.close();
  }
  assertEquals((await server.child.status).code, 0);
});

Deno.test("weather: --stateless serves without session ids", async () => {
  await using weather = await startWeather({ stateless: true });
  const res = await fetch(weather.url, { method: "POST", headers: ACCEPT, body: JSON.stringify(INIT) });
  assertEquals(res.headers.get("mcp-session-id"), null);
  assert((await res.text()).includes('"weather-service"'));
  await using mcp = await connectClient(weather.url);
  const result = await mcp.client.callTool({ name: "get_alerts", arguments: { region: "CA" } });
  assert(textOf(result).length > 0);
  const get = await fetch(weather.url, { headers: { accept: "text/event-stream" } });
  await get.body?.cancel();
  assertEquals(get.status, 405);
});

Deno.test("serve: sessions are required, unknown ones are 404, DELETE ends them", async () => {
  await using weather = await startWeather();
  const noSession = await fetch(weather.url, {
    method: "POST",
    headers: ACCEPT,
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
  });
  await noSession.body?.cancel();
  assertEquals(noSession.status, 400);
  const unknown = await fetch(weather.url, {
    method: "POST",
    headers: { ...ACCEPT, "mcp-session-id": "no-such-session" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
  });
  await unknown.body?.cancel();
  assertEquals(unknown.status, 404);

  const mcp = await connectClient(weather.url);
  assertEquals(weather.sessionCount(), 1);
  const id = mcp.transport.sessionId!;
  await mcp.close();
  assertEquals(weather.sessionCount(), 0);
  const after = await fetch(weather.url, {
    method: "POST",
    headers: { ...ACCEPT, "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "ping" }),
  });
  await after.body?.cancel();
  assertEquals(after.status, 404);
});

Deno.test("calendar: events created in one session are listed and deleted from another", async () => {
  await using calendar = await startCalendar();
  await using a = await connectClient(calendar.url);
  await using b = await connectClient(calendar.url);
  const { tools } = await a.client.listTools();
  assertEquals(names(tools), [...CALENDAR_TOOLS]);
  assertEquals(tools.find((t) => t.name === "delete_event")?.annotations?.destructiveHint, true);

  const seeded = await a.client.callTool({ name: "list_events", arguments: { date: "2026-01-15" } });
  assertEquals((seeded.structuredContent as any).events.map((e: any) => e.id), ["evt-1", "evt-2"]);

  const created = await a.client.callTool({
    name: "create_event",
    arguments: { title: "Lunch", start: "2026-01-16T12:00:00Z", end: "2026-01-16T13:00:00Z" },
  });
  assert(textOf(created).startsWith("Created evt-3: Lunch"), textOf(created));
  const listed = await b.client.callTool({ name: "list_events", arguments: { date: "2026-01-16" } });
  assertEquals((listed.structuredContent as any).events.map((e: any) => e.title), ["Lunch"]);

  assertEquals(
    (await b.client.callTool({ name: "delete_event", arguments: { id: "evt-3" } })).isError,
    undefined,
  );
  assertEquals((await a.client.callTool({ name: "delete_event", arguments: { id: "evt-3" } })).isError, true);

  const event = await a.client.readResource({ uri: "calendar://events/evt-1" });
  assertEquals(JSON.parse(resourceText(event)).title, "Team standup");
  const prompt = await a.client.getPrompt({ name: "plan_day", arguments: { date: "2026-01-15" } });
  assert(JSON.stringify(prompt.messages).includes("Design review"));
});

Deno.test("fast echo: a hand-written server the SDK client accepts", async () => {
  await using echo = await startFastEcho();
  await using mcp = await connectClient(echo.url);
  assertEquals(mcp.client.getServerVersion()?.name, "fast-echo");
  assertEquals(names((await mcp.client.listTools()).tools), ["echo"]);
  const result = await mcp.client.callTool({ name: "echo", arguments: { message: "hi" } });
  assertEquals(result.content, [{ type: "text", text: "Echo: hi" }]);
  assertEquals(await mcp.client.ping(), {});
  await assertRejects(() => mcp.client.callTool({ name: "nope", arguments: {} }), /Unknown tool/);
});

Deno.test("fast echo: speaks Streamable HTTP (session ids, 202, 404, DELETE, GET stream)", async () => {
  await using echo = await startFastEcho();
  const init = await fetch(echo.url, { method: "POST", headers: ACCEPT, body: JSON.stringify(INIT) });
  const session = init.headers.get("mcp-session-id");
  assert(session);
  assertEquals((await init.json()).result.protocolVersion, "2025-06-18");
  const headers = { ...ACCEPT, "mcp-session-id": session };

  const note = await fetch(echo.url, {
    method: "POST",
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  await note.body?.cancel();
  assertEquals(note.status, 202);

  const stream = await fetch(echo.url, {
    headers: { accept: "text/event-stream", "mcp-session-id": session },
  });
  assertEquals(stream.status, 200);
  assertEquals(stream.headers.get("content-type"), "text/event-stream");

  const del = await fetch(echo.url, { method: "DELETE", headers });
  await del.body?.cancel();
  assertEquals(del.status, 200);
  // Ending the session closes its GET stream.
  assertEquals((await stream.body!.getReader().read()).done, true);
  assertEquals(echo.sessionCount(), 0);

  const gone = await fetch(echo.url, {
    method: "POST",
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }),
  });
  await gone.body?.cancel();
  assertEquals(gone.status, 404);
});
