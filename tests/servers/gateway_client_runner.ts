/**
 * A conformance client *command* with the gateway in the middle: the suite (`conformance client --command
 * "deno run -A tests/servers/gateway_client_runner.ts [--path=broker|--path=envoy] [--answer-legacy-probe]"
 * --scenario NAME`) appends its scenario server's URL; this starts a gateway with that server as its only
 * backend (no prefix) — reached through the whole Envoy path (harness → router, broker on the default route;
 * the default) or through the broker alone — waits until the gateway has discovered it, then drives the
 * scenario's calls through the gateway with the SDK v2 conformance client (conformance_client_v2.ts).
 *
 * The scenario server thus sees the gateway as its client: the calls it carries for the client, and its
 * own discovery. That discovery includes one thing a plain 2026 client never sends: after `server/discover`,
 * the gateway asks a 2026 backend with one 2025 `initialize` whether it also serves 2025 sessions (a
 * dual-era backend, which 2025 clients then reach on sessions of their own). Scenarios that check every
 * POST for 2026 headers and `_meta` count that probe against the client. `--answer-legacy-probe` puts a
 * pass-through proxy in front of the scenario server that answers the probe itself, as a 2026-only server
 * does (HTTP 400, -32022 naming 2026-07-28), so what remains is exactly what the gateway carries.
 *
 * Exits 0 when the client's calls went through, 1 otherwise; the suite decides from what its server saw.
 */
import { startEnvoyStack } from "../harness/envoy_stack.ts";
import { runConformanceClient } from "./conformance_client_v2.ts";

const MODERN = "2026-07-28";
const url = Deno.args.filter((a) => a.startsWith("http")).at(-1);
const path = Deno.args.includes("--path=broker") ? "broker" : "envoy";
const scenario = Deno.env.get("MCP_CONFORMANCE_SCENARIO") ?? "";
const version = Deno.env.get("MCP_CONFORMANCE_PROTOCOL_VERSION") ?? "";
if (!url) {
  console.error(
    "usage: gateway_client_runner.ts [--path=broker|--path=envoy] [--answer-legacy-probe] URL (scenario from the environment)",
  );
  Deno.exit(2);
}

/** A 2025 `initialize` (no `_meta` envelope claim): the gateway's dual-era probe. */
function legacyInitialize(body: string): { id: unknown; requested: unknown } | undefined {
  try {
    const message = JSON.parse(body);
    if (message?.method !== "initialize") return undefined;
    if (message.params?._meta?.["io.modelcontextprotocol/protocolVersion"] !== undefined) return undefined;
    return { id: message.id ?? null, requested: message.params?.protocolVersion };
  } catch {
    return undefined;
  }
}

/** The pass-through proxy of `--answer-legacy-probe`; resolves to the URL to give the gateway. */
function probeAnsweringProxy(target: string) {
  const origin = new URL(target).origin;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = req.method === "POST" ? await req.text() : undefined;
    const probe = body === undefined ? undefined : legacyInitialize(body);
    if (probe) {
      return Response.json({
        jsonrpc: "2.0",
        id: probe.id,
        error: {
          code: -32022,
          message: "Unsupported protocol version",
          data: { supported: [MODERN], requested: probe.requested },
        },
      }, { status: 400 });
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    const { pathname, search } = new URL(req.url);
    const res = await fetch(`${origin}${pathname}${search}`, {
      method: req.method,
      headers,
      body,
      redirect: "manual",
      signal: req.signal,
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}${new URL(target).pathname}`,
    close: () => server.shutdown(),
  };
}

let code = 0;
const proxy = Deno.args.includes("--answer-legacy-probe") ? probeAnsweringProxy(url) : undefined;
try {
  const stack = await startEnvoyStack([
    { name: "scenario", url: proxy?.url ?? url, hostname: "scenario.mcp.local", toolPrefix: "" },
  ], { expectTools: 0 });
  try {
    const gateway = path === "broker" ? `${stack.gateway.brokerUrl}/mcp` : stack.mcpUrl;
    await runConformanceClient(gateway, scenario, version, false);
  } finally {
    await stack.close();
  }
} catch (e) {
  console.error(`through the gateway (${path}): ${e}`);
  code = 1;
} finally {
  await proxy?.close();
}
Deno.exit(code);
