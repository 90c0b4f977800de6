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
import { serveHttp } from "./http/server.ts";
import type { Logger } from "./observe/log.ts";
import { GatewayMetrics } from "./observe/metrics.ts";
import { EventFileWriter } from "./observe/event_file.ts";
import { EventRedactor } from "./observe/redact_event.ts";
import { registerCatalogMetrics } from "./observe/catalog_metrics.ts";
import { startTracing, tracingConfigFromEnv } from "./observe/tracing/mod.ts";
import { serveOperator } from "./broker/operator.ts";
import { EVENT_TAIL, projectGateway } from "./projections.ts";
import { TokenService } from "./session/tokens.ts";
import { UpstreamSupervisor } from "./upstream/supervisor.ts";
import { Admission } from "./admission/admit.ts";
import { AuditLog } from "./identity/audit.ts";
import { oauthOptionsFromEnv } from "./identity/bearer.ts";
import { IdentityResolver } from "./identity/resolve.ts";
import type { OriginPolicy } from "./admission/origin.ts";
import { hintWhenNothingListens } from "./upstream/unreachable_hint.ts";
import { embeddedState, type SharedState } from "./session/shared_state.ts";
import { type RunningRouter, startRouter } from "./router/mod.ts";
import { resolve } from "node:path";

export interface RunningGateway {
  brokerUrl: string;
  routerPort?: number;
  /** Where `--console-address` serves `/console` and `/debug/*`, when set. */
  consoleUrl?: string;
  context: BrokerContext;
  /**
   * Graceful shutdown (SIGTERM, SIGINT): `/readyz` turns 503 at once, and the gateway keeps serving for
   * `delayMs` (load balancers need a moment to stop sending); then no new connections or ext_proc streams
   * are accepted, GET streams end, and calls and streams in flight get up to `graceMs` to finish; last,
   * every backend session is DELETEd. Resolves with what was still open when the grace ran out.
   */
  shutdown(timing: { delayMs?: number; graceMs: number }): Promise<ShutdownReport>;
  /** Shuts down with a short grace (tests, failed starts). */
  close(): Promise<void>;
}

export interface ShutdownReport {
  /** Broker connections still busy when the grace ran out (cut when the process exits). */
  connectionsCut: number;
  /** How long the drain took, in ms. */
  tookMs: number;
}

/** Starts broker (and router unless disabled); rejects when the initial config is unusable. */
export async function startGateway(
  options: GatewayOptions,
  logger: Logger,
  /** Environment variables (`OAUTH_*`); injected so in-process tests need not touch the real environment. */
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Promise<RunningGateway> {
  const configPath = resolve(options.configPath);
  const initial = readConfigFile(configPath);
  if (!initial.ok) throw new Error(`invalid configuration: ${initial.reason}`);
  // The flag (or its variable) wins; else the store the config names, e.g. the controller's.
  const storeUrl = options.sessionStore ?? initial.config.sessionStore?.url ?? "memory";
  const local = new InMemoryEventLog(EVENT_TAIL, (e) => logger.error("event listener failed", { error: e }));
  // With a shared store, session events travel between replicas through it (and the store's log wraps ours).
  const shared = await sharedState(storeUrl, options.sessionMinutes, local, logger);
  const log = shared.log;
  const { upstreams, routing, sessions, explain } = projectGateway(log);
  const redactor = new EventRedactor();
  redactor.follow(log);
  let storeNamed = storeUrl;
  log.subscribe((event) => {
    if (event.type === "ConfigRejected") {
      logger.error("config rejected; keeping the last good one", { reason: event.reason });
    }
    if (event.type === "ConfigLoaded") {
      logger.info("config loaded", { source: event.source, servers: event.config.servers.length });
      // A running gateway keeps the store it started with: its sessions live there.
      const named = event.config.sessionStore?.url ?? "memory";
      if (options.sessionStore === undefined && named !== storeNamed) {
        storeNamed = named;
        logger.warn("the config names another session store; the gateway uses it once restarted", {
          using: redactor.url(storeUrl),
          named: redactor.url(named),
        });
      }
    }
  });
  // Opened before the first event, so a replay of the file sees everything this process folded.
  const eventFile = options.eventLogFile
    ? EventFileWriter.open(resolve(options.eventLogFile), log, redactor, logger)
    : undefined;
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
  if (options.signingKeyOnCommandLine) {
    logger.warn(
      "the session signing key was passed as a flag: `ps` shows it to every user of this machine and `deno task` prints it; set JWT_SESSION_SIGNING_KEY in the environment instead",
    );
  }
  const tokens = new TokenService({ signingKey, sessionMinutes: options.sessionMinutes });
  const metrics = new GatewayMetrics(log, upstreams);
  const tracing = tracingConfigFromEnv(env, options.traceSubject);
  if (!tracing.ok) throw new Error(tracing.error);
  // Off (no endpoint): no tracer at all, and every hook in the data paths is skipped.
  const tracer = tracing.config ? await startTracing(tracing.config, metrics, logger) : undefined;
  registerCatalogMetrics(metrics.registry, routing, explain);
  shared.instrument(metrics.registry);
  const policy = originPolicy(options);
  const identities = await identityResolver(options, env);
  const admission = new Admission(tokens, sessions, policy, identities);
  const store = shared.store;
  const audit = options.auditLog === "off"
    ? undefined
    : AuditLog.open({ file: options.auditLog, includeArguments: options.auditArguments });
  const context: BrokerContext = {
    log,
    upstreams,
    routing,
    sessions,
    explain,
    redactor,
    tokens,
    admission,
    store,
    bus: shared.bus,
    storeStatus: shared.status,
    metrics,
    audit,
    tracer,
    env,
    logger: logger.with({ component: "broker" }),
    options: {
      maxBodyBytes: options.maxBodyBytes,
      bodyTimeoutMs: options.httpBodyTimeoutSeconds * 1000,
      keepAliveMs: 25_000,
      maxStreamsPerSession: options.maxStreamsPerSession,
      maxStreams: options.maxStreams,
      unavailableGraceMs: 60_000,
      inputTimeoutMs: options.inputRequiredTimeoutSeconds * 1000,
      ...policy,
    },
  };

  hintWhenNothingListens(log, upstreams, logger.with({ component: "upstream" }));
  const supervisor = new UpstreamSupervisor(log, upstreams, {
    logger: logger.with({ component: "upstream" }),
    checkIntervalMs: options.checkIntervalSeconds * 1000,
  });
  context.resources = supervisor;
  supervisor.start();
  // Before serving: a replica that starts late starts from what the others know.
  await shared.start(sessions);

  const broker = createBroker(context);
  const { hostname, port } = parseAddress(options.brokerAddress);
  const abort = new AbortController();
  let http;
  try {
    http = serveHttp({
      hostname,
      port,
      name: "broker (--mcp-broker-address)",
      // Local workers (--workers) share the port; the kernel spreads connections over them.
      reusePort: options.worker !== undefined,
      timeouts: {
        headerMs: options.httpHeaderTimeoutSeconds * 1000,
        idleMs: options.httpIdleTimeoutSeconds * 1000,
      },
      logger: logger.with({ component: "broker" }),
      onError: (e) => {
        logger.error("broker handler failed", { error: e });
        return new Response("Internal error\n", { status: 500 });
      },
    }, broker.handler);
  } catch (e) {
    broker.close();
    await supervisor.stop();
    await shared.close();
    throw e;
  }
  const host = http.addr.hostname.includes(":") ? `[${http.addr.hostname}]` : http.addr.hostname;
  const brokerUrl = `http://${host}:${http.addr.port}`;
  logger.info("broker listening", { url: `${brokerUrl}/mcp` });

  let router: RunningRouter | undefined;
  if (options.routerAddress !== "off") {
    try {
      router = await startRouter({
        address: options.routerAddress,
        reusePort: options.worker !== undefined,
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
        tracer,
      });
    } catch (e) {
      broker.close();
      await http.drain(0);
      await supervisor.stop();
      eventFile?.close();
      await shared.close();
      const message = (e as Error).message;
      throw new Error(
        /EADDRINUSE/.test(message)
          ? `cannot listen on ${options.routerAddress} for the router (--mcp-router-address): the address is already in use (another process listens there; pick another with its flag)`
          : `cannot start the router on ${options.routerAddress} (--mcp-router-address): ${message}`,
      );
    }
  }

  let operator: { url: string; finished: Promise<void> } | undefined;
  if (options.consoleAddress) {
    try {
      operator = await serveOperator(
        parseAddress(options.consoleAddress),
        broker.operatorHandler,
        abort.signal,
        logger,
      );
    } catch (e) {
      await router?.close();
      broker.close();
      await http.drain(0);
      abort.abort();
      await supervisor.stop();
      eventFile?.close();
      await shared.close();
      throw e;
    }
  }

  watchConfigFile(configPath, log, abort.signal);
  const sweeper = setInterval(() => broker.sweepExpired(), 30_000);

  let stopping: Promise<ShutdownReport> | undefined;
  const shutdown = ({ delayMs = 0, graceMs }: { delayMs?: number; graceMs: number }) =>
    stopping ??= (async () => {
      broker.stopReadiness();
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      const started = Date.now();
      broker.endStreams();
      const [{ remaining }] = await Promise.all([http.drain(graceMs), router?.close(graceMs)]);
      clearInterval(sweeper);
      // Calls are done (or cut): their backend sessions can go, but those whose latest call went through
      // Envoy (its answer may still be streaming there). Bounded, so a dead backend cannot hold us.
      const left = Math.max(started + graceMs - Date.now(), 1_000);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const closing = broker.closeBackendSessions(await router?.routedBackendSessions());
      await Promise.race([closing, new Promise((r) => timer = setTimeout(r, left))]);
      clearTimeout(timer);
      broker.close();
      abort.abort();
      await supervisor.stop();
      await operator?.finished;
      await shared.close();
      audit?.close();
      eventFile?.close();
      // Spans of the calls that just ended are exported before the process goes.
      await tracer?.shutdown();
      return { connectionsCut: remaining, tookMs: Date.now() - started };
    })();

  return {
    brokerUrl,
    routerPort: router?.port,
    consoleUrl: operator?.url,
    context,
    shutdown,
    async close() {
      await shutdown({ graceMs: 2_000 });
    },
  };
}

/** What replicas share: nothing (the embedded default), or Redis. */
async function sharedState(
  url: string,
  sessionMinutes: number,
  log: InMemoryEventLog,
  logger: Logger,
): Promise<SharedState> {
  if (url === "memory") return embeddedState(log);
  const { openRedisState } = await import("./redis/mod.ts");
  return openRedisState(log, { url, sessionTtlMs: sessionMinutes * 60_000, logger });
}

/**
 * Who is calling, from the identity flags and `OAUTH_*` variables: a bearer token the broker validates, a
 * policy layer's trusted header, both, or neither (every caller anonymous and unrestricted).
 */
async function identityResolver(
  options: GatewayOptions,
  env: (name: string) => string | undefined,
): Promise<IdentityResolver> {
  const tokenCapabilities = options.tokenCapabilitiesClaim
    ? { claim: options.tokenCapabilitiesClaim, format: options.tokenCapabilitiesFormat }
    : undefined;
  // Tuning, rarely needed: how often keys may be refetched for an unknown `kid` (jose's cooldown, 30 s),
  // and the clock skew allowed against the issuer (30 s).
  const seconds = (name: string) => {
    const value = env(name);
    if (value === undefined || value === "") return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number of seconds, got "${value}"`);
    return n;
  };
  const cooldown = seconds("OAUTH_JWKS_COOLDOWN_SECONDS");
  const tolerance = seconds("OAUTH_CLOCK_TOLERANCE_SECONDS");
  const oauth = oauthOptionsFromEnv(env, {
    ...(options.oauthValidateTokens ? { validateTokens: true } : {}),
    ...(tokenCapabilities ? { tokenCapabilities } : {}),
    ...(cooldown !== undefined ? { jwksCooldownMs: cooldown * 1000 } : {}),
    ...(tolerance !== undefined ? { clockToleranceSeconds: Math.round(tolerance) } : {}),
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
