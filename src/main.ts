/**
 * MCP Gateway entry point: one executable, three roles. Without `--controller` it runs the broker (MCP
 * endpoint, embedded data path) and the Envoy ext_proc router; with it, the Kubernetes controller.
 */
import { HELP, parseCli, workersNeedStore } from "./cli.ts";
import { readConfigFile } from "./config/watch.ts";
import { startGateway } from "./gateway.ts";
import { createLogger } from "./observe/log.ts";

async function main(): Promise<number> {
  const cli = parseCli(Deno.args, (name) => Deno.env.get(name));
  if (!cli.ok) {
    if (cli.help) {
      console.log(HELP);
      return 0;
    }
    console.error(`error: ${cli.error}`);
    return 2;
  }
  const options = cli.options;
  const logger = createLogger(options.logLevel, options.logFormat);
  const stop = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      if (!stop.signal.aborted) return stop.abort(signal);
      // A worker of --workers gets Ctrl-C's SIGINT from the terminal and SIGTERM from its parent: one request
      // to stop, not two. Its parent decides when to give up.
      if (options.worker !== undefined) return;
      // A second signal while draining: the operator wants out now.
      logger.warn(`${signal} again: exiting without waiting for calls in flight`);
      Deno.exit(1);
    });
  }

  if (options.controller) {
    const { runController } = await import("./controller/mod.ts");
    const { KubeConfigError } = await import("./controller/kube_client.ts");
    const { InMemoryEventLog } = await import("./events/log.ts");
    try {
      await runController({
        kubeconfig: options.kubeconfig,
        namespace: options.namespace,
        healthAddress: options.healthAddress,
        metricsAddress: options.metricsAddress,
        brokerStatusUrl: options.brokerStatusUrl,
        sessionStoreUrl: options.sessionStore,
        log: new InMemoryEventLog(),
        logger: logger.with({ component: "controller" }),
        signal: stop.signal,
      });
    } catch (e) {
      // A missing or unreadable kubeconfig is a usage error: one line, exit 2, no stack trace.
      if (e instanceof KubeConfigError) {
        console.error(`error: ${e.message}`);
        return 2;
      }
      throw e;
    }
    return 0;
  }

  if (options.workers > 1 && options.worker === undefined) {
    // Without --session-store the workers share the store the config names; without one, they cannot start.
    const config = options.sessionStore === undefined ? readConfigFile(options.configPath) : undefined;
    if (config && (!config.ok || (config.config.sessionStore?.url ?? "memory") === "memory")) {
      console.error(`error: ${config.ok ? workersNeedStore(options.workers) : config.reason}`);
      return 2;
    }
    const { runWorkers } = await import("./workers/supervisor.ts");
    return await runWorkers(options, Deno.args, logger, stop.signal);
  }

  let gateway;
  try {
    gateway = await startGateway(options, logger);
  } catch (e) {
    logger.error("cannot start", { error: e });
    return 1;
  }
  await new Promise((resolve) => stop.signal.addEventListener("abort", resolve));
  logger.info("shutting down: /readyz answers 503; then no new connections, and calls in flight may finish", {
    signal: stop.signal.reason,
    delaySeconds: options.shutdownDelaySeconds,
    graceSeconds: options.shutdownGraceSeconds,
  });
  const report = await gateway.shutdown({
    delayMs: options.shutdownDelaySeconds * 1000,
    graceMs: options.shutdownGraceSeconds * 1000,
  });
  logger.info("stopped", { tookMs: report.tookMs, connectionsCut: report.connectionsCut });
  return 0;
}

Deno.exit(await main());
