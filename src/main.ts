/**
 * MCP Gateway entry point: one executable, three roles. Without `--controller` it runs the broker (MCP
 * endpoint, embedded data path) and the Envoy ext_proc router; with it, the Kubernetes controller.
 */
import { HELP, parseCli } from "./cli.ts";
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
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, () => stop.abort());

  if (options.controller) {
    const { runController } = await import("./controller/mod.ts");
    const { InMemoryEventLog } = await import("./events/log.ts");
    await runController({
      kubeconfig: options.kubeconfig,
      namespace: options.namespace,
      healthAddress: options.healthAddress,
      metricsAddress: options.metricsAddress,
      brokerStatusUrl: options.brokerStatusUrl,
      log: new InMemoryEventLog(),
      logger: logger.with({ component: "controller" }),
      signal: stop.signal,
    });
    return 0;
  }

  if (options.workers > 1 && options.worker === undefined) {
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
  logger.info("shutting down");
  await gateway.close();
  return 0;
}

Deno.exit(await main());
