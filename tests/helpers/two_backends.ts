/**
 * The most common test topology: two real server-everything backends behind one gateway process, with
 * prefixes `a_` and `b_`, returned once both are ready.
 */
import { type EverythingServer, startEverything } from "./everything.ts";
import { type GatewayProcess, startGatewayProcess } from "./gateway.ts";
import { waitFor } from "./ports.ts";

export interface TwoBackends {
  a: EverythingServer;
  b: EverythingServer;
  gw: GatewayProcess;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startTwoBackends(
  names: [string, string] = ["server-a", "server-b"],
): Promise<TwoBackends> {
  const a = await startEverything();
  const b = await startEverything();
  let gw: GatewayProcess | undefined;
  const dispose = async () => {
    await gw?.stop();
    await a.kill();
    await b.kill();
  };
  try {
    gw = await startGatewayProcess({
      config: {
        servers: [
          { name: names[0], url: a.url, toolPrefix: "a_" },
          { name: names[1], url: b.url, toolPrefix: "b_" },
        ],
      },
    });
    await waitFor(async () => (await gw!.status()).healthyServers === 2, "both backends ready");
    return { a, b, gw, [Symbol.asyncDispose]: dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}
