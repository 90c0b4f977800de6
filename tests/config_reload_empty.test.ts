/**
 * An editor's truncate-then-write must never take the gateway down: an empty file is rejected (the last good
 * config keeps serving, under load, with no failed call), a rewrite goes live only once the file is whole,
 * and serving nothing takes an explicit `servers: []`.
 */
import { stringify } from "yaml";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";
import { rawInitialize, rawPost } from "./helpers/mcp_client.ts";
import { waitFor } from "./helpers/ports.ts";
import { watchConfigFile } from "../src/config/watch.ts";
import { InMemoryEventLog } from "../src/events/log.ts";
import type { LoggedEvent } from "../src/events/types.ts";
import { serveMcp } from "./servers/serve.ts";
import { createWeatherServer } from "./servers/weather.ts";

const CALL = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: { name: "w_get_current", arguments: { city: "Oslo" } },
});

/** Writes `text` in place, as an editor that truncates and then writes does (never atomically). */
async function writeInPlace(path: string, ...parts: string[]) {
  using file = await Deno.open(path, { write: true, truncate: true });
  for (const [i, part] of parts.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, 20));
    await file.write(new TextEncoder().encode(part));
  }
}

Deno.test("an empty config file is rejected under load and the last good config keeps serving", async () => {
  await using backend = await serveMcp(() => createWeatherServer());
  const config = { servers: [{ name: "weather", url: backend.url, toolPrefix: "w_" }] };
  await using gw = await startGatewayProcess({ config });
  await waitFor(async () => (await gw.status()).healthyServers === 1, "backend ready");
  const events = async (type: string) =>
    (await (await fetch(`${gw.baseUrl}/debug/events?type=${type}&limit=10000`)).json()).events;

  // Load: 8 clients calling a tool in a loop for as long as the file is being rewritten.
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const clients = await Promise.all(Array.from({ length: 8 }, () => rawInitialize(gw.mcpUrl)));
  const load = Promise.all(clients.map(async (session) => {
    while (running) {
      const res = await rawPost(gw.mcpUrl, CALL, { "mcp-session-id": session });
      // The backend answers as an SSE stream of one message.
      if (res.status === 200 && res.text.includes('"result":{"content"')) ok++;
      else failures.push(`${res.status} ${res.text.slice(0, 200)}`);
    }
  }));
  try {
    await waitFor(() => {
      if (failures.length) throw new Error(failures[0]);
      return ok > 50;
    }, "calls flowing");

    // 1. Truncated to zero bytes, and left so: rejected, and the server keeps serving.
    await writeInPlace(gw.configPath);
    const rejected = await waitFor(async () => (await events("ConfigRejected"))[0], "ConfigRejected", 5_000);
    assertMatch(rejected.reason, /empty.*servers: \[\]/);
    const status = await gw.status();
    assertEquals(status.totalServers, 1);
    assertMatch(status.config.lastRejection.reason, /empty/);
    const before = ok;
    await waitFor(() => ok > before + 50, "calls still flowing after the empty file");

    // 2. Whitespace only: still empty.
    await writeInPlace(gw.configPath, "  \n# nothing yet\n");
    await waitFor(async () => (await events("ConfigRejected")).length === 2, "second ConfigRejected", 5_000);

    // 3. A non-atomic rewrite of the good config: only the whole file goes live, never a part of it.
    const loadedBefore = (await events("ConfigLoaded")).length;
    const text = stringify({ servers: [{ ...config.servers[0], toolPrefix: "w_" }] });
    const cut = text.indexOf("url:");
    await writeInPlace(gw.configPath, text.slice(0, cut), text.slice(cut));
    await waitFor(
      async () => (await events("ConfigLoaded")).length === loadedBefore + 1,
      "the rewritten file loaded",
      5_000,
    );
    assertEquals((await events("ConfigRejected")).length, 2, "the half-written file never went live");
  } finally {
    running = false;
    await load;
  }
  assertEquals(failures, [], "no call failed while the file was rewritten");
  assert(ok > 100, `${ok} calls succeeded`);

  // 4. Serving nothing is written explicitly.
  await writeInPlace(gw.configPath, "servers: []\n");
  await waitFor(async () => (await gw.status()).totalServers === 0, "servers: [] accepted");
});

Deno.test("the watcher loads a rewritten file only once it has stopped changing", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.yaml`;
  const yaml = (name: string) => `servers:\n  - name: ${name}\n    url: http://127.0.0.1:1/mcp\n`;
  await Deno.writeTextFile(path, yaml("one"));
  const log = new InMemoryEventLog();
  const seen: LoggedEvent[] = [];
  log.subscribe((e) => seen.push(e));
  const abort = new AbortController();
  watchConfigFile(path, log, abort.signal, { settleMs: 600 });
  try {
    await new Promise((r) => setTimeout(r, 100));
    // Three states each longer than the fs-event debounce (empty, half, whole): only the last one goes live.
    const whole = yaml("two");
    using file = await Deno.open(path, { write: true, truncate: true });
    await new Promise((r) => setTimeout(r, 150));
    await file.write(new TextEncoder().encode(whole.slice(0, 12)));
    await new Promise((r) => setTimeout(r, 150));
    await file.write(new TextEncoder().encode(whole.slice(12)));
    const event = await waitFor(() => seen[0], "the whole file loaded", 5_000);
    assert(event.type === "ConfigLoaded", JSON.stringify(event));
    assertEquals(event.config.servers[0].name, "two");
    await new Promise((r) => setTimeout(r, 800));
    assertEquals(seen.length, 1, "one event for one rewrite");
  } finally {
    abort.abort();
    await Deno.remove(dir, { recursive: true });
  }
});
