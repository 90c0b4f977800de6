/**
 * The Envoy emulator (tests/harness/envoy.ts) in a process of its own, so the load generator, the proxy
 * and the gateway do not share an event loop.
 *
 * Run: `deno run -A bench/envoy_proc.ts --port P --ext-proc HOST:PORT --default URL [--cluster AUTHORITY=URL]…`
 * → prints `listening on http://127.0.0.1:PORT`.
 */
import { parseArgs } from "node:util";
import { brokerByHeaderRoute } from "../src/router/envoy_config.ts";
import { type EnvoyRoute, startEnvoyHarness } from "../tests/harness/envoy.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "0" },
    "ext-proc": { type: "string" },
    default: { type: "string" },
    cluster: { type: "string", multiple: true, default: [] },
  },
});
if (!values["ext-proc"]) throw new Error("--ext-proc is required");
const clusters: Record<string, string> = {};
for (const c of values.cluster ?? []) {
  const eq = c.indexOf("=");
  clusters[c.slice(0, eq)] = c.slice(eq + 1);
}
const harness = await startEnvoyHarness({
  extProc: values["ext-proc"],
  defaultCluster: values.default,
  clusters,
  port: Number(values.port),
  // As the generated bootstrap: 2026 requests the broker answers are routed by header, past the router.
  defaultRoutes: [brokerByHeaderRoute() as unknown as EnvoyRoute],
});
// The harness records every exchange for test assertions; a benchmark would only grow the heap with them.
// Server errors are worth a line each: the bench counts them as failures and this says why.
const trim = setInterval(() => {
  for (const ex of harness.exchanges.splice(0)) {
    // Still in flight: keep it for the next round, when its status is known.
    if (ex.status === undefined) harness.exchanges.push(ex);
    else if (ex.status >= 500) {
      console.error(
        `error ${ex.status} ${ex.method} ${ex.path} details=${ex.details ?? "-"} ${ex.warnings.join("; ")}`,
      );
    }
  }
}, 500);
console.log(`listening on ${harness.url}`);
const stop = async () => {
  clearInterval(trim);
  await harness.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
