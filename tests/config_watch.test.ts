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

/**
 * Watches `path` once the watcher provably sees changes made by `write` (the way the test itself changes the
 * file: a kubelet volume's file only changes by its `..data` swap, which an in-place write does not make).
 */
async function watching(path: string, write: (text: string) => Promise<void>) {
  const log = new InMemoryEventLog();
  const events: LoggedEvent[] = [];
  log.subscribe((e) => events.push(e));
  const abort = new AbortController();
  watchConfigFile(path, log, abort.signal, { pollMs: 5_000 }); // long poll: prove the fs watcher alone is enough
  // The fs watcher starts in the background: rewrite the file with a new probe name until an event shows the
  // watcher saw one, then wait for the event of the last probe written (nothing is pending after it). A fixed
  // sleep instead would lose the test's first edit on a slow machine.
  let probe = 0;
  let lastWrite = 0;
  const lastLoaded = () => {
    const last = events.at(-1);
    return last?.type === "ConfigLoaded" ? last.config.servers[0]?.name : undefined;
  };
  await waitFor(
    async () => {
      // Not faster than the watcher's settle time (a file goes live once it reads the same for 200 ms).
      if (events.length === 0 && Date.now() - lastWrite > 500) {
        lastWrite = Date.now();
        await write(yaml(`probe-${++probe}`));
      }
      return lastLoaded() === `probe-${probe}`;
    },
    "the config watcher to start",
    3_000,
    100,
  );
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
  using w = await watching(path, (text) => Deno.writeTextFile(path, text));
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
  let current = "..2026_01";
  // What kubelet does: write a new timestamped dir, point a temp link at it, rename it over ..data, and
  // remove the old dir.
  const swap = async (text: string) => {
    const next = `..2026_${crypto.randomUUID()}`;
    await Deno.mkdir(`${dir}/${next}`);
    await Deno.writeTextFile(`${dir}/${next}/config.yaml`, text);
    await Deno.symlink(next, `${dir}/..data_tmp`);
    await Deno.rename(`${dir}/..data_tmp`, `${dir}/..data`);
    await Deno.remove(`${dir}/${current}`, { recursive: true });
    current = next;
  };
  using w = await watching(`${dir}/config.yaml`, swap);
  const swapped = w.next("symlink swap");
  await swap(yaml("v2"));
  const event = await swapped;
  assert(event.type === "ConfigLoaded");
  assertEquals(event.config.servers[0].name, "v2");
  await Deno.remove(dir, { recursive: true });
});
