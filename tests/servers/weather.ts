/**
 * The seed README's `weather-service`: an SDK `McpServer` with forecast tools over deterministic fake data
 * (the same city always gives the same numbers, so tests can assert exact values).
 *
 * Test hooks, acting on every live session of the process (what a gateway must notice):
 * - `toggle_extra {enabled?, kind?}` adds or removes the extra tool `get_air_quality` (or, with `kind`, the
 *   extra prompt `air_quality_advice` or the extra resource `weather://air-quality`); the SDK then sends
 *   the list's `list_changed` on each session. Start with the extra tool present with `--extra`.
 * - `resend_lists` sends `list_changed` for tools, prompts and resources while changing none of those sets:
 *   it only moves `get_alerts` or `get_current` to the end of the tool list (same tools, new order), so a
 *   gateway re-lists and gets a different answer that serves clients the same list.
 *
 * Run: `deno run -A tests/servers/weather.ts --port 9001` → `listening on http://127.0.0.1:9001/mcp`.
 */
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import {
  McpServer,
  type RegisteredPrompt,
  type RegisteredResource,
  type RegisteredTool,
} from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { runServerMain, type ServedMcp, serveMcp, type ServeOptions } from "./serve.ts";

/** Tools every weather session lists (the extra tool comes and goes). */
export const WEATHER_TOOLS = [
  "get_alerts",
  "get_current",
  "get_forecast",
  "resend_lists",
  "toggle_extra",
] as const;
export const WEATHER_EXTRA_TOOL = "get_air_quality";
export const WEATHER_EXTRA_PROMPT = "air_quality_advice";
export const WEATHER_EXTRA_RESOURCE = "weather://air-quality";

/** What `toggle_extra` adds or removes. */
export type ExtraKind = "tool" | "prompt" | "resource";

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

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

type Extra = RegisteredTool | RegisteredPrompt | RegisteredResource;

/**
 * What the switch holds of one session's server: its extras, and the two tools `resendLists` moves in turn
 * (`get_alerts`, `get_current`).
 */
interface Session {
  extras: Partial<Record<ExtraKind, Extra>>;
  movable: [RegisteredTool, RegisteredTool];
}

const REREGISTER = [registerAlerts, registerCurrent];

/** Process-wide switches for the extras, shared by every session's server. */
export class ExtraToolSwitch {
  readonly enabled: Record<ExtraKind, boolean>;
  #servers = new Map<McpServer, Session>();
  #resends = 0;
  constructor(toolEnabled = false) {
    this.enabled = { tool: toolEnabled, prompt: false, resource: false };
  }
  /** Registers a session's server (and its `get_alerts` and `get_current` tools) so toggles reach it. */
  attach(server: McpServer, movable: Session["movable"]) {
    const extras: Session["extras"] = {};
    for (const kind of KINDS) if (this.enabled[kind]) extras[kind] = REGISTER[kind](server);
    this.#servers.set(server, { extras, movable });
  }
  detach(server: McpServer) {
    this.#servers.delete(server);
  }
  /** Sets one extra's state; each live session whose list changes sends that list's `list_changed`. */
  set(enabled: boolean, kind: ExtraKind = "tool") {
    this.enabled[kind] = enabled;
    for (const [server, { extras }] of this.#servers) {
      const present = extras[kind];
      if (enabled && !present) extras[kind] = REGISTER[kind](server);
      if (!enabled && present) {
        present.remove();
        delete extras[kind];
      }
    }
  }
  /**
   * Every session sends `list_changed` for tools, prompts and resources with the same sets as before; only
   * the tool order changes (`get_alerts`, then `get_current` next time, is registered anew and so moves to
   * the end: each call gives a new order), in one synchronous step, so whoever re-lists sees the final state.
   */
  resendLists() {
    const which = this.#resends++ % 2;
    for (const [server, session] of this.#servers) {
      session.movable[which].remove();
      session.movable[which] = REREGISTER[which](server);
      server.sendPromptListChanged();
      server.sendResourceListChanged();
    }
  }
}

const KINDS: ExtraKind[] = ["tool", "prompt", "resource"];

const REGISTER: Record<ExtraKind, (server: McpServer) => Extra> = {
  tool: (server) =>
    server.registerTool(
      WEATHER_EXTRA_TOOL,
      {
        title: "Air quality",
        description: "Air quality index for a city (extra tool, toggled at runtime)",
        inputSchema: { city: z.string().describe("City name") },
        annotations: { readOnlyHint: true, openWorldHint: false },
      },
      ({ city }) => ({
        content: [{ type: "text", text: `Air quality in ${city}: AQI ${hash(city) % 150}` }],
      }),
    ),
  prompt: (server) =>
    server.registerPrompt(WEATHER_EXTRA_PROMPT, {
      title: "Air quality advice",
      description: "Ask whether to go outside, given a city's air (extra prompt, toggled at runtime)",
      argsSchema: { city: z.string().describe("City name") },
    }, ({ city }) => ({
      messages: [{
        role: "user",
        content: { type: "text", text: `Should I go for a run in ${city}? AQI ${hash(city) % 150}.` },
      }],
    })),
  resource: (server) =>
    server.registerResource("air-quality", WEATHER_EXTRA_RESOURCE, {
      title: "Air quality",
      description: "Air quality index of the known cities (extra resource, toggled at runtime)",
      mimeType: "application/json",
    }, (uri) => ({
      contents: [{
        uri: uri.href,
        mimeType: "application/json",
        text: JSON.stringify(Object.fromEntries(["Lisbon", "Oslo", "Tokyo"].map((c) => [c, hash(c) % 150]))),
      }],
    })),
};

function registerCurrent(server: McpServer): RegisteredTool {
  return server.registerTool("get_current", {
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
    annotations: READ_ONLY,
  }, ({ city }) => {
    const now = currentWeather(city);
    return {
      content: [{ type: "text", text: `${city}: ${now.condition}, ${now.temperatureC} °C` }],
      structuredContent: now,
    };
  });
}

function registerAlerts(server: McpServer): RegisteredTool {
  return server.registerTool("get_alerts", {
    title: "Weather alerts",
    description: "Active weather alerts for a region",
    inputSchema: { region: z.string().min(1).describe("Region or state code, e.g. CA") },
    annotations: READ_ONLY,
  }, ({ region }) => {
    const list = alerts(region);
    const text = list.length === 0
      ? `No active alerts for ${region}`
      : list.map((a) => `${a.severity.toUpperCase()}: ${a.event} (${a.region})`).join("\n");
    return { content: [{ type: "text", text }] };
  });
}

/** A new weather server for one session; `extra` is shared across sessions of one process. */
export function createWeatherServer(extra = new ExtraToolSwitch()): McpServer {
  const server = new McpServer(
    { name: "weather-service", version: "1.0.0" },
    { capabilities: { tools: { listChanged: true }, prompts: {}, resources: {} } },
  );

  server.registerTool("get_forecast", {
    title: "Weather forecast",
    description: "Daily forecast for a city for the next 1-7 days",
    inputSchema: {
      city: z.string().min(1).describe("City name, e.g. Lisbon"),
      days: z.number().int().min(1).max(7).default(3).describe("Number of days"),
    },
    annotations: READ_ONLY,
  }, ({ city, days }) => {
    const days_ = forecast(city, days);
    const lines = days_.map((d) => `Day ${d.day}: ${d.condition}, ${d.lowC}..${d.highC} °C`);
    return { content: [{ type: "text", text: `Forecast for ${city}:\n${lines.join("\n")}` }] };
  });

  const currentTool = registerCurrent(server);
  const alertsTool = registerAlerts(server);

  server.registerTool("toggle_extra", {
    title: "Toggle an extra",
    description:
      `Adds or removes the extra tool '${WEATHER_EXTRA_TOOL}' (or prompt, or resource) in every session (test hook for list_changed)`,
    inputSchema: {
      enabled: z.boolean().optional().describe("Set explicitly instead of toggling"),
      kind: z.enum(["tool", "prompt", "resource"]).optional().describe("Which extra (default tool)"),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  }, ({ enabled, kind = "tool" }) => {
    extra.set(enabled ?? !extra.enabled[kind], kind);
    const name =
      { tool: WEATHER_EXTRA_TOOL, prompt: WEATHER_EXTRA_PROMPT, resource: WEATHER_EXTRA_RESOURCE }[kind];
    return { content: [{ type: "text", text: `${name} ${extra.enabled[kind] ? "enabled" : "disabled"}` }] };
  });

  server.registerTool("resend_lists", {
    title: "Resend list_changed",
    description:
      "Sends tools, prompts and resources list_changed in every session without changing the lists " +
      "(test hook: only the tool order changes)",
    inputSchema: {},
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  }, () => {
    extra.resendLists();
    return { content: [{ type: "text", text: "list_changed sent; lists unchanged" }] };
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

  extra.attach(server, [alertsTool, currentTool]);
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
