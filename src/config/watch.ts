/**
 * The config file edge: reads the file, appends `ConfigLoaded` or `ConfigRejected`, and keeps watching.
 *
 * Watching the *directory* (not the file) is what catches editors' atomic renames and the symlink swap a
 * Kubernetes volume does (`..data` is re-pointed; the file's own inode never changes). A slow poll backs the
 * watcher up on filesystems without inotify; both funnel into one compare-by-content reload.
 *
 * A changed file goes live only once it has read the same for `settleMs`: an editor that truncates and then
 * writes (or a copy in progress) shows a half-written file for a moment, and that moment must not become
 * the gateway's config.
 */
import { dirname, resolve } from "node:path";
import type { EventLog } from "../events/log.ts";
import { type CredentialResolver, denoCredentials, parseConfig, type ParseResult } from "./parse.ts";

export interface ConfigWatcherOptions {
  /** Poll period in ms, a safety net for missed fs events (default 1000). */
  pollMs?: number;
  /** Debounce for bursts of fs events (default 50). */
  debounceMs?: number;
  /** How long a changed file must read the same before it is loaded (default {@link DEFAULT_SETTLE_MS}). */
  settleMs?: number;
  credentials?: CredentialResolver;
  onReload?: (result: ParseResult) => void;
}

/** How long a rewritten config file must stay unchanged before it goes live. */
export const DEFAULT_SETTLE_MS = 200;

/** Reads and parses the file once; missing files and bad content both come back as `{ ok: false }`. */
export function readConfigFile(path: string, credentials: CredentialResolver = denoCredentials): ParseResult {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    return { ok: false, reason: `cannot read ${path}: ${(e as Error).message}` };
  }
  return parseConfig(text, credentials, dirname(resolve(path)));
}

/**
 * Watches `path` and appends an event whenever its content changes. The caller has already loaded the
 * first version (so startup can fail fast); `lastText` is what that load read.
 */
export function watchConfigFile(
  path: string,
  log: EventLog,
  signal: AbortSignal,
  options: ConfigWatcherOptions = {},
): void {
  const credentials = options.credentials ?? denoCredentials;
  const source = resolve(path);
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  let lastSeen = snapshot(source, credentials).key;
  /** A change seen but not yet stable: what it read and since when. */
  let settling: { snapshot: string; since: number } | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const check = () => {
    if (signal.aborted) return;
    const { key: now, result } = snapshot(source, credentials);
    if (now === lastSeen) {
      settling = undefined;
      return;
    }
    if (settling?.snapshot !== now) settling = { snapshot: now, since: Date.now() };
    const wait = settling.since + settleMs - Date.now();
    if (wait > 0) {
      clearTimeout(timer);
      timer = setTimeout(check, wait);
      return;
    }
    settling = undefined;
    lastSeen = now;
    if (result.ok) {
      log.append({ type: "ConfigLoaded", source, config: result.config, digest: result.digest });
    } else {
      log.append({ type: "ConfigRejected", source, reason: result.reason });
    }
    options.onReload?.(result);
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(check, options.debounceMs ?? 50);
  };

  const poll = setInterval(check, options.pollMs ?? 1000);
  signal.addEventListener("abort", () => {
    clearInterval(poll);
    clearTimeout(timer);
  });

  (async () => {
    let watcher: Deno.FsWatcher | undefined;
    try {
      watcher = Deno.watchFs(dirname(source), { recursive: false });
      signal.addEventListener("abort", () => watcher?.close());
      for await (const _ of watcher) schedule();
    } catch {
      // The directory may vanish or not support inotify; the poll keeps us correct.
    }
  })();
}

/**
 * One read of the file: what the reload compares (`key`: the file's text plus any credential files it
 * names, so rotating a mounted Secret is a change even when config.yaml itself is untouched) and what that
 * text parses to.
 */
function snapshot(path: string, credentials: CredentialResolver): { key: string; result: ParseResult } {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    return {
      key: `error:${(e as Error).name}`,
      result: { ok: false, reason: `cannot read ${path}: ${(e as Error).message}` },
    };
  }
  const result = parseConfig(text, credentials, dirname(path));
  return {
    key: result.ok ? `${text}\0${result.config.servers.map((s) => s.credential ?? "").join("\0")}` : text,
    result,
  };
}
