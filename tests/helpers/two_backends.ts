/**
 * The most common test topology: two real server-everything backends behind one gateway process, with
 * prefixes `a_` and `b_`, returned once both are ready. Whatever started is stopped again if any part fails.
 */
import { type EverythingServer, startEverything } from "./everything.ts";
import { type GatewayProcess, startGatewayFor } from "./gateway.ts";

export interface TwoBackends {
  a: EverythingServer;
  b: EverythingServer;
  gw: GatewayProcess;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts `count` server-everything backends side by side; none is left running if one fails. */
export async function startEverythings(count: number): Promise<EverythingServer[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, () => startEverything()));
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await Promise.all(started.map((s) => s.status === "fulfilled" ? s.value.kill() : undefined));
    throw failed.reason;
  }
  return started.map((s) => (s as PromiseFulfilledResult<EverythingServer>).value);
}

export async function startTwoBackends(
  names: [string, string] = ["server-a", "server-b"],
): Promise<TwoBackends> {
  const [a, b] = await startEverythings(2);
  try {
    const gw = await startGatewayFor([
      { name: names[0], url: a.url, toolPrefix: "a_" },
      { name: names[1], url: b.url, toolPrefix: "b_" },
    ]);
    return {
      a,
      b,
      gw,
      async [Symbol.asyncDispose]() {
        await gw.stop();
        await Promise.all([a.kill(), b.kill()]);
      },
    };
  } catch (e) {
    await Promise.all([a.kill(), b.kill()]);
    throw e;
  }
}
