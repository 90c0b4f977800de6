/**
 * Structured logging: `key=value` text for people, one JSON object per line for log pipelines
 * (`--log-format json`). Written to stderr so stdout stays free for tools that pipe the gateway. Every URL in
 * a line is redacted (userinfo, query values), so no edge has to remember to.
 */
import { redactUrlsIn } from "./redact.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line (e.g. `{ component: "router" }`). */
  with(fields: Record<string, unknown>): Logger;
}

function textValue(value: unknown): string {
  const s = typeof value === "string"
    ? value
    : value instanceof Error
    ? value.message
    : JSON.stringify(value);
  return /[\s"=]/.test(s ?? "") ? JSON.stringify(s) : String(s);
}

/** JSON replacer for log lines: Errors as their message, every string with its URLs redacted. */
function jsonValue(_key: string, value: unknown): unknown {
  if (value instanceof Error) return redactUrlsIn(value.message);
  return typeof value === "string" ? redactUrlsIn(value) : value;
}

export function createLogger(
  level: LogLevel = "info",
  format: LogFormat = "text",
  base: Record<string, unknown> = {},
  write: (line: string) => void = (line) => console.error(line),
): Logger {
  const emit = (lvl: LogLevel, msg: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const all = { ...base, ...fields };
    if (format === "json") {
      write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...all }, jsonValue));
    } else {
      const rest = Object.entries(all).filter(([, v]) => v !== undefined).map(([k, v]) =>
        `${k}=${textValue(v)}`
      );
      write(redactUrlsIn([new Date().toISOString(), lvl.toUpperCase().padEnd(5), msg, ...rest].join(" ")));
    }
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    with: (fields) => createLogger(level, format, { ...base, ...fields }, write),
  };
}

/** Discards everything; for tests that do not read logs. */
export const silentLogger: Logger = createLogger("error", "text", {}, () => {});
