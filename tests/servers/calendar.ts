/**
 * The seed README's `calendar-service`: an SDK `McpServer` with calendar tools over an in-memory store
 * shared by every session of the process, so a gateway test can create an event through one session and
 * list it through another. It starts with two fixed events on 2026-01-15 (ids `evt-1`, `evt-2`).
 *
 * Run: `deno run -A tests/servers/calendar.ts --port 9002` → `listening on http://127.0.0.1:9002/mcp`.
 */
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { runServerMain, type ServedMcp, serveMcp, type ServeOptions } from "./serve.ts";

export const CALENDAR_TOOLS = ["create_event", "delete_event", "list_events"] as const;

export interface CalendarEvent {
  id: string;
  title: string;
  /** ISO 8601 date-time */
  start: string;
  end: string;
}

/** The process's calendar: plain data plus a counter for ids. */
export class CalendarStore {
  #events = new Map<string, CalendarEvent>();
  #next = 1;
  constructor(seed: Omit<CalendarEvent, "id">[] = SEED_EVENTS) {
    for (const event of seed) this.create(event);
  }
  create(event: Omit<CalendarEvent, "id">): CalendarEvent {
    const created = { id: `evt-${this.#next++}`, ...event };
    this.#events.set(created.id, created);
    return created;
  }
  delete(id: string): boolean {
    return this.#events.delete(id);
  }
  get(id: string): CalendarEvent | undefined {
    return this.#events.get(id);
  }
  /** Events starting on `date` (YYYY-MM-DD), by start time. */
  onDate(date: string): CalendarEvent[] {
    return [...this.#events.values()].filter((e) => e.start.startsWith(date)).sort((a, b) =>
      a.start.localeCompare(b.start)
    );
  }
  ids(): string[] {
    return [...this.#events.keys()];
  }
}

const SEED_EVENTS = [
  { title: "Team standup", start: "2026-01-15T09:00:00Z", end: "2026-01-15T09:15:00Z" },
  { title: "Design review", start: "2026-01-15T14:00:00Z", end: "2026-01-15T15:00:00Z" },
];

const DATE = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "expected YYYY-MM-DD");
const DATE_TIME = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "expected an ISO 8601 date-time");

function describe(e: CalendarEvent): string {
  return `${e.id}: ${e.title} (${e.start} – ${e.end})`;
}

/** A new calendar server for one session, backed by the shared `store`. */
export function createCalendarServer(store = new CalendarStore()): McpServer {
  const server = new McpServer(
    { name: "calendar-service", version: "1.0.0" },
    { capabilities: { tools: {}, prompts: {}, resources: {} } },
  );

  server.registerTool("list_events", {
    title: "List events",
    description: "Events on a given day",
    inputSchema: { date: DATE.describe("Day, YYYY-MM-DD") },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  }, ({ date }) => {
    const events = store.onDate(date);
    const text = events.length === 0 ? `No events on ${date}` : events.map(describe).join("\n");
    return { content: [{ type: "text", text }], structuredContent: { events } };
  });

  server.registerTool("create_event", {
    title: "Create event",
    description: "Adds an event to the calendar",
    inputSchema: {
      title: z.string().min(1).describe("Event title"),
      start: DATE_TIME.describe("Start, ISO 8601"),
      end: DATE_TIME.describe("End, ISO 8601"),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  }, ({ title, start, end }) => {
    if (Date.parse(end) < Date.parse(start)) {
      return { isError: true, content: [{ type: "text", text: "end must not be before start" }] };
    }
    const created = store.create({ title, start, end });
    return { content: [{ type: "text", text: `Created ${describe(created)}` }] };
  });

  server.registerTool("delete_event", {
    title: "Delete event",
    description: "Removes an event from the calendar",
    inputSchema: { id: z.string().min(1).describe("Event id, e.g. evt-1") },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  }, ({ id }) => {
    if (!store.delete(id)) return { isError: true, content: [{ type: "text", text: `No event ${id}` }] };
    return { content: [{ type: "text", text: `Deleted ${id}` }] };
  });

  server.registerPrompt("plan_day", {
    title: "Plan my day",
    description: "Ask for a plan around the day's events",
    argsSchema: { date: z.string().describe("Day, YYYY-MM-DD") },
  }, ({ date }) => ({
    messages: [{
      role: "user",
      content: {
        type: "text",
        text: `Plan my day on ${date}. Fixed events:\n${
          store.onDate(date).map(describe).join("\n") || "none"
        }`,
      },
    }],
  }));

  server.registerResource(
    "event",
    new ResourceTemplate("calendar://events/{id}", {
      list: () => ({
        resources: store.ids().map((id) => ({
          uri: `calendar://events/${id}`,
          name: id,
          mimeType: "application/json",
        })),
      }),
    }),
    { title: "Calendar event", description: "One event as JSON", mimeType: "application/json" },
    (uri, { id }) => {
      const event = store.get(String(id));
      return {
        contents: event ? [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(event) }] : [],
      };
    },
  );

  return server;
}

/** Serves calendar in-process; all sessions share one store. */
export function startCalendar(opts: ServeOptions = {}): Promise<ServedMcp> {
  const store = new CalendarStore();
  return serveMcp(() => createCalendarServer(store), opts);
}

if (import.meta.main) {
  const store = new CalendarStore();
  await runServerMain(() => createCalendarServer(store));
}
