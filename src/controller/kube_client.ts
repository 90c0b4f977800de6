/**
 * The real `@kubernetes/client-node` clients the controller uses, and the few helpers that turn its typed,
 * class-instance results and exceptions into plain data.
 */
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";

export interface KubeClients {
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
}

/** A kubeconfig file when given; otherwise in-cluster, `$KUBECONFIG` or `~/.kube/config`. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

export function makeClients(kc: KubeConfig): KubeClients {
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    coordination: kc.makeApiClient(CoordinationV1Api),
  };
}

/** HTTP status of a failed API call (`ApiException.code`, or a watch error's `statusCode`), if any. */
export function apiStatus(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.code === "number") return e.code;
  if (typeof e?.statusCode === "number") return e.statusCode;
  return undefined;
}

/** A short message for logs and events: the API server's Status message when there is one. */
export function apiMessage(error: unknown): string {
  const body = (error as { body?: unknown })?.body;
  try {
    const parsed = typeof body === "string" ? JSON.parse(body) : body;
    if (parsed && typeof parsed === "object" && "message" in parsed) return String(parsed.message);
  } catch { /* not JSON */ }
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0];
}

/** Typed client results are class instances with Dates; events and comparisons need the JSON form. */
export function toPlain<T = Record<string, unknown>>(value: unknown): T {
  return JSON.parse(JSON.stringify(value));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
