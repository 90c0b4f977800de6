/** The event log file: secrets redacted so a replay still folds the same, runs and versions read back. */
import { assert, assertEquals, assertMatch, assertNotEquals } from "./helpers/assert.ts";
import { fold } from "../src/events/projection.ts";
import { InMemoryEventLog } from "../src/events/log.ts";
import type { GatewayEvent, LoggedEvent } from "../src/events/types.ts";
import { configDigest } from "../src/config/parse.ts";
import type { GatewayConfig } from "../src/config/schema.ts";
import { upstreamKey, upstreamsProjection } from "../src/routing/upstreams.ts";
import { EVENT_LOG_VERSION, EventFileWriter, readEventFile } from "../src/observe/event_file.ts";
import { EventRedactor } from "../src/observe/redact_event.ts";
import { silentLogger } from "../src/observe/log.ts";

const TAG = /^redacted-[0-9a-f]{8}$/;

Deno.test("redaction: URL userinfo and query values become tags, equal for equal secrets; idempotent", () => {
  const r = new EventRedactor();
  const url = r.url("https://bot:s3cret@tools.example.com/mcp?api_key=abc&v=2#frag");
  assertMatch(
    url,
    /^https:\/\/redacted-[0-9a-f]{8}@tools\.example\.com\/mcp\?api_key=redacted-[0-9a-f]{8}&v=redacted-[0-9a-f]{8}#frag$/,
  );
  assert(!url.includes("s3cret") && !url.includes("abc"));
  assertEquals(r.url("https://bot:s3cret@tools.example.com/mcp?api_key=abc&v=2#frag"), url, "deterministic");
  assertNotEquals(
    r.url("https://tools.example.com/mcp?api_key=abd"),
    r.url("https://tools.example.com/mcp?api_key=abc"),
  );
  assertEquals(r.url(url), url, "redacting twice changes nothing");
  assertEquals(new EventRedactor().url(url), url, "nor does another process's redactor");
  assertEquals(r.url("http://127.0.0.1:9/mcp"), "http://127.0.0.1:9/mcp");
  assertMatch(
    r.text("cannot reach http://u:p@h/mcp?k=v, retrying"),
    /^cannot reach http:\/\/redacted-[0-9a-f]{8}@h\/mcp\?k=redacted-[0-9a-f]{8}, retrying$/,
  );
  assertNotEquals(new EventRedactor().tag("x"), r.tag("x"), "tags cannot be linked across processes");
});

Deno.test("redaction: the session store's password leaves no ConfigLoaded event", () => {
  const config: GatewayConfig = {
    servers: [],
    virtualServers: [],
    sessionStore: { url: "redis://u:s3cret@r:6379/0" },
  };
  const event = {
    seq: 1,
    at: 0,
    type: "ConfigLoaded",
    source: "c.yaml",
    config,
    digest: configDigest(config),
  };
  const out = new EventRedactor().event(event as LoggedEvent);
  assert(out.type === "ConfigLoaded");
  assertMatch(out.config.sessionStore!.url, /^redis:\/\/redacted-[0-9a-f]{8}@r:6379\/0$/);
  assert(!JSON.stringify(out).includes("s3cret"));
});

function server(credential: string) {
  return {
    name: "a",
    url: "http://a.local/mcp?token=q",
    hostname: "a.local",
    enabled: true,
    toolPrefix: "a_",
    credential,
  };
}
function loaded(s: ReturnType<typeof server>): GatewayEvent {
  const config = { servers: [s], virtualServers: [] } as GatewayConfig;
  return { type: "ConfigLoaded", source: "c.yaml", config, digest: configDigest(config) };
}

Deno.test("redaction: a redacted log folds like the real one through a credential rotation", () => {
  const one = server("Bearer one");
  const two = server("Bearer two");
  const k1 = upstreamKey(one as never);
  const k2 = upstreamKey(two as never);
  const events: LoggedEvent[] = ([
    loaded(one),
    { type: "UpstreamConnecting", server: "a", upstreamKey: k1, attempt: 0 },
    { type: "ToolsDiscovered", server: "a", upstreamKey: k1, tools: [{ name: "echo" }] },
    loaded(two),
    // The old client's failure must be ignored: its key is no longer the server's.
    { type: "UpstreamFailed", server: "a", upstreamKey: k1, stage: "ping", reason: "gone", retryInMs: 1 },
    { type: "ToolsDiscovered", server: "a", upstreamKey: k2, tools: [{ name: "echo" }, { name: "new" }] },
  ] as GatewayEvent[]).map((e, i) => ({ ...e, seq: i + 1, at: i }) as LoggedEvent);
  const redactor = new EventRedactor();
  const redacted = events.map((e) => redactor.event(e));
  const text = JSON.stringify(redacted);
  assert(!text.includes("Bearer one") && !text.includes("Bearer two") && !text.includes("token=q"), text);
  // After every event, not only at the end: the old client's failure must leave `a` serving in both.
  for (let n = 1; n <= events.length; n++) {
    const status = (list: LoggedEvent[]) =>
      fold(upstreamsProjection, list.slice(0, n)).servers.get("a")!.status;
    assertEquals(status(redacted), status(events), `after event ${n}`);
  }
  const live = fold(upstreamsProjection, events).servers.get("a")!;
  const replayed = fold(upstreamsProjection, redacted).servers.get("a")!;
  assertEquals(replayed.status, "ready");
  assertEquals(replayed.lastError, live.lastError);
  assertEquals(replayed.tools, live.tools);
  assertEquals(replayed.consecutiveFailures, live.consecutiveFailures);
  assertMatch(replayed.config.credential!, TAG);
});

Deno.test("event file: one run per process, every line versioned, a cut line skipped, newer versions refused", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/events.jsonl`;
  try {
    const write = (events: GatewayEvent[]) => {
      const log = new InMemoryEventLog();
      const writer = EventFileWriter.open(path, log, new EventRedactor(), silentLogger);
      for (const e of events) log.append(e);
      writer.close();
    };
    write([loaded(server("Bearer x")), { type: "ConfigRejected", source: "c.yaml", reason: "bad" }]);
    // A crash in the middle of a line, then the next process.
    await Deno.writeTextFile(path, '{"v":1,"seq":3,"at":', { append: true });
    write([{ type: "ConfigRejected", source: "c.yaml", reason: "again" }]);

    const text = await Deno.readTextFile(path);
    assert(!text.includes("Bearer x"));
    const { runs, warnings } = readEventFile(text);
    assertEquals(runs.length, 2);
    assertEquals(runs.map((r) => r.events.map((e) => [e.seq, e.type])), [
      [[1, "ConfigLoaded"], [2, "ConfigRejected"]],
      [[1, "ConfigRejected"]],
    ]);
    assertEquals(runs[0].header.v, EVENT_LOG_VERSION);
    assertNotEquals(runs[0].header.run, runs[1].header.run);
    assertEquals(warnings, ["line 4: incomplete last line of a run skipped"]);
    assert(text.trim().split("\n").filter((l) => l.endsWith("}")).every((l) => JSON.parse(l).v === 1));

    const future = `${text}{"v":2,"seq":2,"at":0,"type":"ConfigRejected"}\n`;
    let refused = "";
    try {
      readEventFile(future);
    } catch (e) {
      refused = (e as Error).message;
    }
    assertMatch(refused, /line 7: written as version 2; this replay reads version 1/);
    const unknown = readEventFile(`${text}{"v":1,"seq":2,"at":0,"type":"SomethingNew"}\n`);
    assertEquals(unknown.warnings.at(-1), "line 7: unknown event type SomethingNew skipped");
    let damaged = "";
    try {
      readEventFile(
        `{"v":1,"run":"r","startedAt":0}\nnot json\n{"v":1,"seq":1,"at":0,"type":"ConfigRejected"}\n`,
      );
    } catch (e) {
      damaged = (e as Error).message;
    }
    assertEquals(damaged, "line 2: not JSON");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
