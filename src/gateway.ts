/**
 * Assembles the broker/router process: one event log, the projections every role reads, and the edges
 * (config watcher, upstream managers, broker HTTP server, router gRPC server) that append to it.
 */
import { listOption, parseAddress } from "./cli.ts";
import type { GatewayOptions } from "./cli.ts";
import { readConfigFile, watchConfigFile } from "./config/watch.ts";
import { InMemoryEventLog } from "./events/log.ts";
import { createBroker } from "./broker/server.ts";
import type { BrokerContext } from "./broker/context.ts";
import type { Logger } from "./observe/log.ts";
import { GatewayMetrics } from "./observe/metrics.ts";
import { routingTableProjection } from "./routing/routing_table.ts";
import { upstreamsProjection } from "./routing/upstreams.ts";
import { sessionMapProjection } from "./session/session_map.ts";
import { TokenService } from "./session/tokens.ts";
import { UpstreamSupervisor } from "./upstream/supervisor.ts";
import { Admission } from "./admission/admit.ts";
import { AuditLog } from "./identity/audit.ts";
import { oauthOptionsFromEnv } from "./identity/bearer.ts";
import { IdentityResolver } from "./identity/resolve.ts";
import type { OriginPolicy } from "./admission/origin.ts";
import { InMemorySessionStore } from "./session/store.ts";
import { type RunningRouter, startRouter } from "./router/mod.ts";
import { resolve } from "node:path";

export interface RunningGateway {
  brokerUrl: string;
  routerPort?: number;
  context: BrokerContext;
  close(): Promise<void>;
}

/** Starts broker (and router unless disabled); rejects when the initial config is unusable. */
export async function startGateway(options: GatewayOptions, logger: Logger): Promise<RunningGateway> {
  const log = new InMemoryEventLog(1024, (e) => logger.error("event listener failed", { error: e }));
  const upstreams = log.project(upstreamsProjection);
  const routing = log.project(routingTableProjection);
  const sessions = log.project(sessionMapProjection);
  log.subscribe((event) => {
    if (event.type === "ConfigRejected") {
      logger.error("config rejected; keeping the last good one", { reason: event.reason });
    }
    if (event.type === "ConfigLoaded") {
      logger.info("config loaded", { source: event.source, servers: event.config.servers.length });
    }
  });

  const configPath = resolve(options.configPath);
  const initial = readConfigFile(configPath);
  if (!initial.ok) throw new Error(`invalid configuration: ${initial.reason}`);
  log.append({ type: "ConfigLoaded", source: configPath, config: initial.config, digest: initial.digest });

  let signingKey = options.signingKey;
  if (!signingKey) {
    signingKey = crypto.randomUUID() + crypto.randomUUID();
    logger.warn(
      "no --session-signing-key / JWT_SESSION_SIGNING_KEY set: using a random key, so sessions end when this process does and replicas cannot share them",
    );
  } else if (signingKey.length < 32) {
    logger.warn("the session signing key is shorter than 32 bytes; use a longer random key in production");
  }
  const tokens = new TokenService({ signingKey, sessionMinutes: options.sessionMinutes });
  const metrics = new GatewayMetrics(log, upstreams);
  const policy = originPolicy(options);
  const identities = await identityResolver(options);
  const admission = new Admission(tokens, sessions, policy, identities);
  const store = new InMemorySessionStore();
  const audit = options.auditLog === "off"
    ? undefined
    : AuditLog.open({ file: options.auditLog, includeArguments: options.auditArguments });
  const context: BrokerContext = {
    log,
    upstreams,
    routing,
    sessions,
    tokens,
    admission,
    store,
    metrics,
    audit,
    logger: logger.with({ component: "broker" }),
    options: {
      maxBodyBytes: options.maxBodyBytes,
      keepAliveMs: 25_000,
      maxStreamsPerSession: options.maxStreamsPerSession,
      maxStreams: options.maxStreams,
      unavailableGraceMs: 60_000,
      ...policy,
    },
  };

  const supervisor = new UpstreamSupervisor(log, upstreams, {
    logger: logger.with({ component: "upstream" }),
    checkIntervalMs: options.checkIntervalSeconds * 1000,
  });
  context.resources = supervisor;
  supervisor.start();

  const broker = createBroker(context);
  const { hostname, port } = parseAddress(options.brokerAddress);
  const abort = new AbortController();
  let resolveListening: (url: string) => void;
  const listening = new Promise<string>((r) => resolveListening = r);
  const server = Deno.serve({
    hostname,
    port,
    signal: abort.signal,
    onListen: (addr) => {
      const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
      const url = `http://${host}:${addr.port}`;
      logger.info("broker listening", { url: `${url}/mcp` });
      resolveListening(url);
    },
    onError: (e) => {
      logger.error("broker handler failed", { error: e });
      return new Response("Internal error\n", { status: 500 });
    },
  }, broker.handler);
  const brokerUrl = await listening;

  let router: RunningRouter | undefined;
  if (options.routerAddress !== "off") {
    try {
      router = await startRouter({
        address: options.routerAddress,
        publicHost: options.publicHost,
        privateHost: options.privateHost,
        maxBodyBytes: options.maxBodyBytes,
        log,
        tokens,
        admission,
        store,
        audit,
        logger,
        routing,
        sessions,
      });
    } catch (e) {
      abort.abort();
      await supervisor.stop();
      throw new Error(`cannot start the router on ${options.routerAddress}: ${(e as Error).message}`);
    }
  }

  watchConfigFile(configPath, log, abort.signal);
  const sweeper = setInterval(() => broker.sweepExpired(), 30_000);

  return {
    brokerUrl,
    routerPort: router?.port,
    context,
    async close() {
      clearInterval(sweeper);
      broker.close();
      await router?.close();
      abort.abort();
      await supervisor.stop();
      await server.finished;
      audit?.close();
    },
  };
}

/**
 * Who is calling, from the identity flags and `OAUTH_*` variables: a bearer token the broker validates, a
 * policy layer's trusted header, both, or neither (every caller anonymous and unrestricted).
 */
async function identityResolver(options: GatewayOptions): Promise<IdentityResolver> {
  const env = (name: string) => Deno.env.get(name);
  const tokenCapabilities = options.tokenCapabilitiesClaim
    ? { claim: options.tokenCapabilitiesClaim, format: options.tokenCapabilitiesFormat }
    : undefined;
  const oauth = oauthOptionsFromEnv(env, {
    ...(options.oauthValidateTokens ? { validateTokens: true } : {}),
    ...(tokenCapabilities ? { tokenCapabilities } : {}),
  });
  if (!oauth.ok) throw new Error(oauth.error);
  if (tokenCapabilities && !oauth.value) {
    throw new Error("--token-capabilities reads the validated token: turn on --oauth-validate-tokens too");
  }
  let publicKeyPem = options.trustedHeaderPublicKey;
  if (publicKeyPem && !publicKeyPem.includes("-----BEGIN")) {
    try {
      publicKeyPem = await Deno.readTextFile(publicKeyPem);
    } catch (e) {
      throw new Error(`--trusted-header-public-key: cannot read ${publicKeyPem}: ${(e as Error).message}`);
    }
  }
  return await IdentityResolver.create({
    oauth: oauth.value,
    trustedHeader: { publicKeyPem, enforceCapabilityFiltering: options.enforceCapabilityFiltering },
  });
}

/**
 * DNS-rebinding defaults: browsers may call from loopback pages and the public host; a broker listening on
 * loopback only answers to loopback names (and the public host), since nothing else can legitimately reach it.
 */
function originPolicy(options: GatewayOptions): OriginPolicy {
  const publicHost = options.publicHost;
  const origins = listOption(options.allowedOrigins) ?? [];
  const loopbackBind = /^(127\.|localhost|\[?::1\]?)/.test(parseAddress(options.brokerAddress).hostname);
  const hosts = listOption(options.allowedHosts) ?? (loopbackBind ? [] : "*");
  return {
    allowedOrigins: origins === "*"
      ? "*" as const
      : [...origins, publicHost, `http://${publicHost}`, `https://${publicHost}`],
    allowedHosts: hosts === "*" ? "*" as const : [...hosts, publicHost],
  };
}
