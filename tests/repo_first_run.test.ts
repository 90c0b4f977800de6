/**
 * A new user's first run: installing the npm packages asks them nothing they cannot judge. protobufjs's
 * postinstall script (it only checks how packages that depend on it write its version) is denied in
 * deno.json, so `deno install` prints no "Ignored build scripts" box.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./helpers/assert.ts";

Deno.test("deno install leaves no build script for the reader to approve", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["install"],
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assertEquals(code, 0, out);
  assert(!/Ignored build scripts|approve-scripts/.test(out), out);
});
