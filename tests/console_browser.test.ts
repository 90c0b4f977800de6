/**
 * The operator console in a real browser: headless Chromium (Debian's) driven by puppeteer-core loads
 * `/console` from a gateway process, sees a server go down and come back live, reads the conflict, and
 * uses the explain view. With `CONSOLE_SCREENSHOT=1` it saves `docs/images/console.png` (the docs' picture);
 * without it the checkout stays untouched.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startGatewayFor } from "./helpers/gateway.ts";
import { connectClient } from "./helpers/mcp_client.ts";
import { startFastEcho } from "./servers/fast_echo.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = fileURLToPath(new URL("../docs/images/console.png", import.meta.url));
/** The flags Chromium needs on this machine's closed network (see .ci/apt-packages for the package). */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

async function textOf(page: Page, selector: string): Promise<string> {
  return await page.$eval(selector, (el) => el.textContent ?? "");
}

/** Waits until the element's text satisfies `ok` (the page updates itself; the test only watches). */
async function waitText(page: Page, selector: string, ok: (text: string) => boolean, what: string) {
  const deadline = Date.now() + 15_000;
  let last = "";
  while (Date.now() < deadline) {
    last = await page.$eval(selector, (el) => el.textContent ?? "").catch(() => "");
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what} (${selector}: ${JSON.stringify(last)})`);
}

Deno.test({
  name: "console: servers going down and back live, conflicts, calls charted, explain view (Chromium)",
  // CI installs Chromium (.ci/apt-packages) and must run this; elsewhere it is skipped without it.
  ignore: !existsSync(CHROMIUM) && !Deno.env.get("CI"),
}, async () => {
  const a = await startFastEcho();
  let b = await startFastEcho();
  const profile = await Deno.makeTempDir({ prefix: "mcp-gw-chromium-" });
  let browser: Browser | undefined;
  try {
    // Both offer `echo` under no prefix: a, first in config order, keeps it; b's `echo` is shadowed.
    await using gw = await startGatewayFor([
      { name: "a", url: a.url, toolPrefix: "" },
      { name: "b", url: b.url, toolPrefix: "" },
      { name: "b2", url: b.url, toolPrefix: "b_" },
    ]);
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [...FLAGS, `--user-data-dir=${profile}`],
      defaultViewport: { width: 1280, height: 1000 },
    });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(`${gw.baseUrl}/console?interval=300`);

    for (const name of ["a", "b", "b2"]) {
      await waitText(
        page,
        `#servers tr[data-server="${name}"] .status`,
        (t) => t === "ready",
        `${name} ready`,
      );
    }
    await waitText(page, "#live", (t) => t === "live", "the event stream");
    assert((await textOf(page, "#conflicts")).includes("a keeps it over b"), "the conflict is shown");

    // Steady calls while the rest happens, so the charts have something to draw (b's fail while it is down).
    await using client = await connectClient(gw.mcpUrl);
    let calls = 0;
    let answered = 0;
    let stopTraffic = false;
    const traffic = (async () => {
      while (!stopTraffic && calls < 2_000) {
        const name = calls++ % 2 ? "echo" : "b_echo";
        await client.client.callTool({ name, arguments: { message: "m" } }).then(() => answered++, () => {});
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    // b goes down: the page shows it without a reload, and the events list says why.
    const port = b.port;
    await b.close();
    await waitText(page, '#servers tr[data-server="b"] .status', (t) => t !== "ready", "b down");
    await waitText(page, "#events", (t) => t.includes("UpstreamFailed"), "the failure in the event tail");
    assert(!(await textOf(page, "#conflicts")).includes("a keeps it"), "no conflict while b is down");
    b = await startFastEcho(port);
    await waitText(page, '#servers tr[data-server="b"] .status', (t) => t === "ready", "b back");
    for (const name of ["b", "b2"]) {
      await waitText(
        page,
        `#servers tr[data-server="${name}"] .tools`,
        (t) => t === "1",
        `${name}'s tool back`,
      );
    }

    // The explain view, from the form.
    await page.select("#explain-kind", "tool");
    await page.type("#explain-name", "echo");
    await page.click("#explain-form button[type=submit]");
    const summary = await waitText(
      page,
      "#explain-result .summary",
      (t) => t.includes("served by a"),
      "the explain answer",
    );
    assert(summary.includes("won a conflict against b"), summary);
    const health = await textOf(page, "#explain-result");
    assert(health.includes("history"), health);

    // Explain a shadowed server's own tool by clicking it in the catalog.
    await page.click('#catalog tr[data-name="b_echo"] a.explain');
    await waitText(page, "#explain-result .summary", (t) => t.includes("served by b2"), "b_echo explained");
    const history = await textOf(page, "#explain-result .health");
    assert(history.includes("failed") && history.includes("ready"), `b2's health: ${history}`);

    // The charts draw from the gateway's own metrics: what the page read is what the broker counted.
    stopTraffic = true;
    await traffic;
    const counted = await page.evaluate(() =>
      (globalThis as any).fetch("/debug/overview").then((r: Response) => r.json()).then((o: any) =>
        Object.values(o.metrics.servers).reduce((n: number, s: any) => n + (s.calls.ok ?? 0), 0)
      )
    );
    assertEquals(counted, answered, "every answered call counted");
    const shown = await page.$$eval("#events li:not([hidden])", (items) => items.length);
    assert(shown > 10, `events are listed (${shown})`);
    assertEquals(errors, [], "no script errors");

    if (Deno.env.get("CONSOLE_SCREENSHOT")) {
      await Deno.mkdir(new URL("../docs/images/", import.meta.url), { recursive: true });
      await page.screenshot({ path: SCREENSHOT as `${string}.png`, fullPage: true });
    }
  } finally {
    await browser?.close();
    await a.close();
    await b.close();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
});
