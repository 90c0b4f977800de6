/**
 * The most common test topology: two real server-everything backends behind one gateway process, with
 * prefixes `a_` and `b_`, returned once both are ready. Whatever started is stopped again if any part fails.
 *
 * With `record`, each backend sits behind a recording proxy (the gateway is pointed at the proxies), so a test
 * sees what reached which backend.
 */
import { type EverythingServer, startEverything } from "./everything.ts";
import { type RecordingProxy, startRecordingProxy } from "./e2e_recording_proxy.ts";
import { type GatewayProcess, startGatewayFor } from "./gateway.ts";

export interface TwoBackends {
  a: EverythingServer;
  b: EverythingServer;
  gw: GatewayProcess;
  /** The proxies in front of `a` and `b` (with `record` only). */
  recorded?: { a: RecordingProxy; b: RecordingProxy };
  [Symbol.asyncDispose](): Promise<void>;
}

export interface TwoBackendsOptions {
  /** Server names in the gateway's config (default `server-a`, `server-b`). */
  names?: [string, string];
  record?: boolean;
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

export async function startTwoBackends(options: TwoBackendsOptions = {}): Promise<TwoBackends> {
  const [nameA, nameB] = options.names ?? ["server-a", "server-b"];
  const [a, b] = await startEverythings(2);
  const recorded = options.record
    ? { a: startRecordingProxy(a.url), b: startRecordingProxy(b.url) }
    : undefined;
  const stopBackends = async () => {
    await recorded?.a[Symbol.asyncDispose]();
    await recorded?.b[Symbol.asyncDispose]();
    await Promise.all([a.kill(), b.kill()]);
  };
  try {
    const gw = await startGatewayFor([
      { name: nameA, url: recorded?.a.url ?? a.url, toolPrefix: "a_" },
      { name: nameB, url: recorded?.b.url ?? b.url, toolPrefix: "b_" },
    ]);
    return {
      a,
      b,
      gw,
      recorded,
      async [Symbol.asyncDispose]() {
        await gw.stop();
        await stopBackends();
      },
    };
  } catch (e) {
    await stopBackends();
    throw e;
  }
}
