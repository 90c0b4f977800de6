/** A path that fails to decode is the client's mistake: 400, not a 500 and an ERROR line in the log. */
import { assertEquals, assertMatch } from "./helpers/assert.ts";
import { startGatewayProcess } from "./helpers/gateway.ts";

Deno.test("/status/<name> with broken percent-encoding answers 400 and logs no error", async () => {
  await using gw = await startGatewayProcess({ config: { servers: [] } });
  for (const path of ["/status/%", "/status/%ZZ", "/status/%E0%A4%A", "/status/a%2"]) {
    const res = await fetch(`${gw.baseUrl}${path}`);
    const body = await res.json();
    assertEquals(res.status, 400, `${path}: ${JSON.stringify(body)}`);
    assertMatch(body.error, /percent-encoding/);
  }
  // Well-formed encodings still work: an unknown server is a 404, a decoded name is looked up.
  const missing = await fetch(`${gw.baseUrl}/status/no%20such`);
  assertEquals(missing.status, 404);
  assertMatch((await missing.json()).error, /Server 'no such' not found/);
  await gw.stop();
  assertEquals(/\bERROR\b.*/.exec(gw.logs())?.[0], undefined);
});
