/**
 * The whole Envoy data path on loopback: the real broker (in-process, as src/gateway.ts starts it), the
 * router sharing its event log, and the Envoy harness in front, with clusters for every configured server.
 */
import { parseCli } from "../../src/cli.ts";
import { startGateway } from "../../src/gateway.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { startRouter } from "../../src/router/mod.ts";
import { freePort, waitFor } from "../helpers/ports.ts";
import { type EnvoyHarness, startEnvoyHarness } from "./envoy.ts";

export const PUBLIC_HOST = "mcp.127-0-0-1.sslip.io:8888";

export interface StackServer {
  name: string;
  url: string;
  hostname: string;
  toolPrefix: string;
  credential?: string;
  credentialFile?: string;
  forwardClientToken?: boolean;
}

export interface EnvoyStack {
  envoy: EnvoyHarness;
  gateway: Awaited<ReturnType<typeof startGateway>>;
  routerPort: number;
  /** The MCP endpoint clients use: `<harness>/mcp`. */
  mcpUrl: string;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startEnvoyStack(
  servers: StackServer[],
  options: { maxBodyBytes?: number; expectTools?: number } = {},
): Promise<EnvoyStack> {
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.yaml`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({ servers: servers.map((s) => ({ ...s, enabled: true })) }),
  );
  const envoyPort = freePort();
  const cli = parseCli([
    "--mcp-gateway-config",
    config,
    "--mcp-broker-address",
    "127.0.0.1:0",
    "--mcp-router-address",
    "off",
    "--mcp-gateway-public-host",
    PUBLIC_HOST,
    "--mcp-gateway-private-host",
    `127.0.0.1:${envoyPort}`,
    "--session-signing-key",
    "test-signing-key-0123456789abcdef0123456789",
  ], () => undefined);
  if (!cli.ok) throw new Error(`bad test flags: ${JSON.stringify(cli)}`);
  const gateway = await startGateway(cli.options, silentLogger);
  const { log, routing, sessions, tokens, admission, store } = gateway.context;
  const router = await startRouter({
    address: "127.0.0.1:0",
    publicHost: PUBLIC_HOST,
    privateHost: `127.0.0.1:${envoyPort}`,
    maxBodyBytes: options.maxBodyBytes ?? 5 * 1024 * 1024,
    log,
    tokens,
    admission,
    store,
    logger: silentLogger,
    routing,
    sessions,
  });
  const envoy = await startEnvoyHarness({
    extProc: `127.0.0.1:${router.port}`,
    port: envoyPort,
    clusters: Object.fromEntries(servers.map((s) => [s.hostname, s.url])),
    defaultCluster: gateway.brokerUrl,
  });
  const close = async () => {
    await envoy.close();
    await router.close();
    await gateway.close();
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await waitFor(
      () => routing.state.view.table.routes.size >= (options.expectTools ?? 1),
      "tools discovered by the gateway",
    );
  } catch (e) {
    await close();
    throw e;
  }
  return {
    envoy,
    gateway,
    routerPort: router.port,
    mcpUrl: `${envoy.url}/mcp`,
    close,
    [Symbol.asyncDispose]: close,
  };
}
