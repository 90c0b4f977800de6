/**
 * The seed README's `weather-service`: an SDK `McpServer` with forecast tools over deterministic fake data
 * (the same city always gives the same numbers, so tests can assert exact values).
 *
 * `toggle_extra {enabled?}` adds or removes the extra tool `get_air_quality` in every live session
 * of this process; the SDK then sends `notifications/tools/list_changed` on each session, which is what a
 * gateway must notice. Start with the extra tool present with `--extra`.
 *
 * Run: `deno run -A tests/servers/weather.ts --port 9001` → `listening on http://127.0.0.1:9001/mcp`.
 */
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer, type RegisteredTool } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { runServerMain, type ServedMcp, serveMcp, type ServeOptions } from "./serve.ts";

/** Tools every weather session lists (the extra tool comes and goes). */
export const WEATHER_TOOLS = ["get_alerts", "get_current", "get_forecast", "toggle_extra"] as const;
export const WEATHER_EXTRA_TOOL = "get_air_quality";

const CONDITIONS = ["sunny", "partly cloudy", "cloudy", "light rain", "thunderstorms", "snow", "fog"];

/** A stable small number from a string (FNV-1a), the seed of all fake weather. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (const ch of text.toLowerCase()) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A plausible condition: no snow above 2 °C. */
function conditionAt(h: number, temperatureC: number): string {
  const condition = CONDITIONS[h % CONDITIONS.length];
  return condition === "snow" && temperatureC > 2 ? "light rain" : condition;
}

/** Current conditions for `city`: the same city always reports the same weather. */
export function currentWeather(city: string) {
  const h = hash(city);
  return {
    city,
    temperatureC: (h % 35) - 5,
    condition: conditionAt(h, (h % 35) - 5),
    humidityPct: 30 + (h % 60),
    windKph: h % 40,
  };
}

/** `days` daily forecasts starting tomorrow (day 1). */
export function forecast(city: string, days: number) {
  return Array.from({ length: days }, (_, i) => {
    const h = hash(`${city}#${i + 1}`);
    const low = (h % 25) - 5;
    return { day: i + 1, lowC: low, highC: low + 3 + (h % 10), condition: conditionAt(h, low) };
  });
}

/** Active alerts for a region; regions whose hash is even have one. */
export function alerts(region: string) {
  const h = hash(region);
  return h % 2 === 0
    ? [{ region, severity: h % 4 === 0 ? "severe" : "moderate", event: "High wind warning" }]
    : [];
}

/** Process-wide switch for the extra tool, shared by every session's server. */
export class ExtraToolSwitch {
  enabled: boolean;
  #servers = new Map<McpServer, RegisteredTool | undefined>();
  constructor(enabled = false) {
    this.enabled = enabled;
  }
  /** Registers a session's server so toggles reach it. */
  attach(server: McpServer) {
    this.#servers.set(server, this.enabled ? registerExtraTool(server) : undefined);
  }
  detach(server: McpServer) {
    this.#servers.delete(server);
  }
  /** Sets the state; each live session whose tool set changes sends `tools/list_changed`. */
  set(enabled: boolean) {
    this.enabled = enabled;
    for (const [server, tool] of this.#servers) {
      if (enabled && !tool) this.#servers.set(server, registerExtraTool(server));
      if (!enabled && tool) {
        tool.remove();
        this.#servers.set(server, undefined);
      }
    }
  }
}

function registerExtraTool(server: McpServer): RegisteredTool {
  return server.registerTool(
    WEATHER_EXTRA_TOOL,
    {
      title: "Air quality",
      description: "Air quality index for a city (extra tool, toggled at runtime)",
      inputSchema: { city: z.string().describe("City name") },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ city }) => ({ content: [{ type: "text", text: `Air quality in ${city}: AQI ${hash(city) % 150}` }] }),
  );
}

/** A new weather server for one session; `extra` is shared across sessions of one process. */
export function createWeatherServer(extra = new ExtraToolSwitch()): McpServer {
  const server = new McpServer(
    { name: "weather-service", version: "1.0.0" },
    { capabilities: { tools: { listChanged: true }, prompts: {}, resources: {} } },
  );
  const readOnly = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

  server.registerTool("get_forecast", {
    title: "Weather forecast",
    description: "Daily forecast for a city for the next 1-7 days",
    inputSchema: {
      city: z.string().min(1).describe("City name, e.g. Lisbon"),
      days: z.number().int().min(1).max(7).default(3).describe("Number of days"),
    },
    annotations: readOnly,
  }, ({ city, days }) => {
    const days_ = forecast(city, days);
    const lines = days_.map((d) => `Day ${d.day}: ${d.condition}, ${d.lowC}..${d.highC} °C`);
    return { content: [{ type: "text", text: `Forecast for ${city}:\n${lines.join("\n")}` }] };
  });

  server.registerTool("get_current", {
    title: "Current weather",
    description: "Current conditions for a city",
    inputSchema: { city: z.string().min(1).describe("City name") },
    outputSchema: {
      city: z.string(),
      temperatureC: z.number(),
      condition: z.string(),
      humidityPct: z.number(),
      windKph: z.number(),
    },
    annotations: readOnly,
  }, ({ city }) => {
    const now = currentWeather(city);
    return {
      content: [{ type: "text", text: `${city}: ${now.condition}, ${now.temperatureC} °C` }],
      structuredContent: now,
    };
  });

  server.registerTool("get_alerts", {
    title: "Weather alerts",
    description: "Active weather alerts for a region",
    inputSchema: { region: z.string().min(1).describe("Region or state code, e.g. CA") },
    annotations: readOnly,
  }, ({ region }) => {
    const list = alerts(region);
    const text = list.length === 0
      ? `No active alerts for ${region}`
      : list.map((a) => `${a.severity.toUpperCase()}: ${a.event} (${a.region})`).join("\n");
    return { content: [{ type: "text", text }] };
  });

  server.registerTool("toggle_extra", {
    title: "Toggle extra tool",
    description:
      `Adds or removes the '${WEATHER_EXTRA_TOOL}' tool in every session (test hook for list_changed)`,
    inputSchema: { enabled: z.boolean().optional().describe("Set explicitly instead of toggling") },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  }, ({ enabled }) => {
    extra.set(enabled ?? !extra.enabled);
    return {
      content: [{ type: "text", text: `${WEATHER_EXTRA_TOOL} ${extra.enabled ? "enabled" : "disabled"}` }],
    };
  });

  server.registerPrompt("forecast_summary", {
    title: "Forecast summary",
    description: "Ask for a short summary of a city's forecast",
    argsSchema: { city: z.string().describe("City name") },
  }, ({ city }) => ({
    messages: [{
      role: "user",
      content: {
        type: "text",
        text: `Summarise the weather for ${city} in one sentence: ${
          forecast(city, 3).map((d) => `day ${d.day} ${d.condition} ${d.lowC}..${d.highC} °C`).join("; ")
        }`,
      },
    }],
  }));

  server.registerResource("cities", "weather://cities", {
    title: "Known cities",
    description: "Cities with good fake coverage",
    mimeType: "application/json",
  }, (uri) => ({
    contents: [{
      uri: uri.href,
      mimeType: "application/json",
      text: JSON.stringify(["Lisbon", "Oslo", "Tokyo"]),
    }],
  }));

  extra.attach(server);
  server.server.onclose = () => extra.detach(server);
  return server;
}

/** Serves weather in-process; all sessions share one extra-tool switch. */
export function startWeather(opts: ServeOptions & { extra?: boolean } = {}): Promise<ServedMcp> {
  const extra = new ExtraToolSwitch(opts.extra ?? false);
  return serveMcp(() => createWeatherServer(extra), opts);
}

if (import.meta.main) {
  const extra = new ExtraToolSwitch(Deno.args.includes("--extra"));
  await runServerMain(() => createWeatherServer(extra));
}
