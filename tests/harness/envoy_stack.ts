/**
 * The whole Envoy data path on loopback: the real broker (in-process, as src/gateway.ts starts it), the
 * router sharing its event log, and the Envoy harness in front, with clusters for every configured server.
 * With `replicas`, several broker+router pairs sharing `sessionStore` stand behind the one Envoy, which
 * sends each request to the next pair's router and broker in turn (no stickiness).
 */
import { parseCli } from "../../src/cli.ts";
import { startGateway } from "../../src/gateway.ts";
import { silentLogger } from "../../src/observe/log.ts";
import { startRouter } from "../../src/router/mod.ts";
import { waitFor } from "../helpers/ports.ts";
import { discovered } from "../helpers/gateway.ts";
import { brokerByHeaderRoute } from "../../src/router/envoy_config.ts";
import { type EnvoyHarness, type EnvoyRoute, startEnvoyHarness } from "./envoy.ts";

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

type Gateway = Awaited<ReturnType<typeof startGateway>>;

export interface EnvoyStack {
  envoy: EnvoyHarness;
  /** The first replica's broker and router. */
  gateway: Gateway;
  routerPort: number;
  /** Every replica's broker and router. */
  replicas: { gateway: Gateway; routerPort: number }[];
  /** The MCP endpoint clients use: `<harness>/mcp`. */
  mcpUrl: string;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startEnvoyStack(
  servers: StackServer[],
  options: {
    maxBodyBytes?: number;
    expectTools?: number;
    /** Gateway replicas sharing one store (each with its own router). */
    replicas?: number;
    /** `--session-store` (e.g. a redis:// URL) for the replicas. */
    sessionStore?: string;
    /** More gateway flags (identity, audit…). */
    args?: string[];
    /** The gateway's environment variables (`OAUTH_*`), instead of the process's. */
    env?: Record<string, string>;
    /** The generated bootstrap's route by 2026 headers (default on; false: every request asks the router). */
    headerRoutes?: boolean;
  } = {},
): Promise<EnvoyStack> {
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.yaml`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({ servers: servers.map((s) => ({ ...s, enabled: true })) }),
  );
  // The proxy first, on port 0: the broker's hairpin needs its address, and it learns the router's and the
  // broker's once they listen (no request reaches it before this function returns).
  const routerAddresses: string[] = [];
  const brokerUrls: string[] = [];
  let nextRouter = 0;
  let nextBroker = 0;
  const envoy = await startEnvoyHarness({
    extProc: () => routerAddresses[nextRouter++ % routerAddresses.length],
    clusters: Object.fromEntries(servers.map((s) => [s.hostname, s.url])),
    defaultCluster: () => brokerUrls[nextBroker++ % brokerUrls.length],
    // As the generated bootstrap: 2026 requests the broker answers are routed by header, past the router.
    defaultRoutes: options.headerRoutes === false ? [] : [brokerByHeaderRoute() as unknown as EnvoyRoute],
  });
  const replicas: { gateway: Gateway; router: Awaited<ReturnType<typeof startRouter>> }[] = [];
  const close = async () => {
    await envoy.close();
    for (const { gateway, router } of replicas) {
      await router.close();
      await gateway.close();
    }
    await Deno.remove(dir, { recursive: true });
  };
  try {
    for (let i = 0; i < (options.replicas ?? 1); i++) replicas.push(await startReplica());
    await waitFor(
      () =>
        replicas.every(({ gateway: { context } }) =>
          context.routing.state.view.table.routes.size >= (options.expectTools ?? 1) &&
          servers.every((s) => discovered(context.log.recent(), s.name))
        ),
      "tools, prompts and resources discovered by the gateway",
    );
  } catch (e) {
    await close();
    throw e;
  }
  return {
    envoy,
    gateway: replicas[0].gateway,
    routerPort: replicas[0].router.port,
    replicas: replicas.map((r) => ({ gateway: r.gateway, routerPort: r.router.port })),
    mcpUrl: `${envoy.url}/mcp`,
    close,
    [Symbol.asyncDispose]: close,
  };

  async function startReplica() {
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
      `127.0.0.1:${envoy.port}`,
      "--session-signing-key",
      "test-signing-key-0123456789abcdef0123456789",
      "--audit-log",
      "off",
      ...(options.sessionStore ? ["--session-store", options.sessionStore] : []),
      ...options.args ?? [],
    ], () => undefined);
    if (!cli.ok) throw new Error(`bad test flags: ${JSON.stringify(cli)}`);
    const gateway = await startGateway(cli.options, silentLogger, (name) => options.env?.[name]);
    const { log, routing, sessions, tokens, admission, store, audit, tracer } = gateway.context;
    let router;
    try {
      router = await startRouter({
        address: "127.0.0.1:0",
        publicHost: PUBLIC_HOST,
        privateHost: `127.0.0.1:${envoy.port}`,
        maxBodyBytes: options.maxBodyBytes ?? 5 * 1024 * 1024,
        log,
        tokens,
        admission,
        store,
        audit,
        logger: silentLogger,
        routing,
        sessions,
        tracer,
      });
    } catch (e) {
      await gateway.close();
      throw e;
    }
    routerAddresses.push(`127.0.0.1:${router.port}`);
    brokerUrls.push(gateway.brokerUrl);
    return { gateway, router };
  }
}
