/**
 * The config watcher picks up every way a file changes in practice — in-place edits, editors' atomic
 * renames, and the `..data` symlink swap of a Kubernetes volume — and rejects a bad file with an event.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { watchConfigFile } from "../src/config/watch.ts";
import { InMemoryEventLog } from "../src/events/log.ts";
import type { LoggedEvent } from "../src/events/types.ts";
import { waitFor } from "./helpers/ports.ts";

const yaml = (name: string) => `servers:\n  - name: ${name}\n    url: http://127.0.0.1:1/mcp\n`;

async function watching(path: string) {
  const log = new InMemoryEventLog();
  const events: LoggedEvent[] = [];
  log.subscribe((e) => events.push(e));
  const abort = new AbortController();
  watchConfigFile(path, log, abort.signal, { pollMs: 5_000 }); // long poll: prove the fs watcher alone is enough
  await new Promise((r) => setTimeout(r, 100));
  const next = async (what: string) => {
    const seen = events.length;
    return await waitFor(
      (): LoggedEvent | undefined => events.length > seen ? events[events.length - 1] : undefined,
      what,
      3_000,
    );
  };
  return { events, next, [Symbol.dispose]: () => abort.abort() };
}

Deno.test("in-place edits and atomic renames are picked up within a second", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.yaml`;
  await Deno.writeTextFile(path, yaml("one"));
  using w = await watching(path);
  const edited = w.next("in-place edit");
  await Deno.writeTextFile(path, yaml("two"));
  const e1 = await edited;
  assert(e1.type === "ConfigLoaded");
  assertEquals(e1.config.servers[0].name, "two");
  const renamed = w.next("atomic rename");
  await Deno.writeTextFile(`${dir}/.tmp`, yaml("three"));
  await Deno.rename(`${dir}/.tmp`, path);
  const e2 = await renamed;
  assert(e2.type === "ConfigLoaded");
  assertEquals(e2.config.servers[0].name, "three");
  const broken = w.next("bad file");
  await Deno.writeTextFile(path, "servers:\n  - name: x\n");
  const e3 = await broken;
  assert(e3.type === "ConfigRejected");
  assert(/servers\[x\]\.url/.test(e3.reason), e3.reason);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a Kubernetes-style ..data symlink swap is picked up", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/..2026_01`);
  await Deno.writeTextFile(`${dir}/..2026_01/config.yaml`, yaml("v1"));
  await Deno.symlink("..2026_01", `${dir}/..data`);
  await Deno.symlink("..data/config.yaml", `${dir}/config.yaml`);
  using w = await watching(`${dir}/config.yaml`);
  const swapped = w.next("symlink swap");
  // What kubelet does: write a new timestamped dir, point a temp link at it, rename it over ..data.
  await Deno.mkdir(`${dir}/..2026_02`);
  await Deno.writeTextFile(`${dir}/..2026_02/config.yaml`, yaml("v2"));
  await Deno.symlink("..2026_02", `${dir}/..data_tmp`);
  await Deno.rename(`${dir}/..data_tmp`, `${dir}/..data`);
  await Deno.remove(`${dir}/..2026_01`, { recursive: true });
  const event = await swapped;
  assert(event.type === "ConfigLoaded");
  assertEquals(event.config.servers[0].name, "v2");
  await Deno.remove(dir, { recursive: true });
});
