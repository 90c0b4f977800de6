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

/** The in-cluster service account token (what `loadFromDefault` looks for). */
const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** No usable Kubernetes configuration: the message names everything that was tried. */
export class KubeConfigError extends Error {}

/** Where to look, injectable for tests. */
export interface KubeConfigSources {
  env(name: string): string | undefined;
  exists(path: string): boolean;
}

const denoSources: KubeConfigSources = {
  env: (name) => Deno.env.get(name),
  exists: (path) => {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  },
};

/**
 * A kubeconfig file when given; otherwise `$KUBECONFIG`, `~/.kube/config` or the in-cluster service account,
 * in the order kubectl uses. Throws {@link KubeConfigError} naming what was tried when none is there (the
 * client library would otherwise fall back to http://localhost:8080 and fail every request with a
 * misleading TLS message), or when a file cannot be read.
 */
export function loadKubeConfig(path?: string, sources: KubeConfigSources = denoSources): KubeConfig {
  const kc = new KubeConfig();
  const load = (file: string, what: string) => {
    if (!sources.exists(file)) throw new KubeConfigError(`${what} ${file}: no such file`);
    try {
      kc.loadFromFile(file);
    } catch (e) {
      throw new KubeConfigError(`${what} ${file} cannot be read: ${(e as Error).message.split("\n")[0]}`);
    }
  };
  if (path) {
    load(path, "--kubeconfig");
    return kc;
  }
  const fromEnv = sources.env("KUBECONFIG");
  if (fromEnv) {
    const files = fromEnv.split(":").filter(Boolean);
    const missing = files.filter((f) => !sources.exists(f));
    if (missing.length === files.length) {
      throw new KubeConfigError(`$KUBECONFIG names no existing file (${files.join(", ")})`);
    }
    try {
      kc.loadFromDefault();
    } catch (e) {
      throw new KubeConfigError(`$KUBECONFIG cannot be read: ${(e as Error).message.split("\n")[0]}`);
    }
    return kc;
  }
  const home = sources.env("HOME");
  const homeConfig = home ? `${home}/.kube/config` : undefined;
  if (homeConfig && sources.exists(homeConfig)) {
    load(homeConfig, "kubeconfig");
    return kc;
  }
  const inCluster = sources.env("KUBERNETES_SERVICE_HOST") && sources.exists(SERVICE_ACCOUNT_TOKEN);
  if (inCluster) {
    kc.loadFromCluster();
    return kc;
  }
  throw new KubeConfigError(
    `no Kubernetes configuration found: tried --kubeconfig (not given), $KUBECONFIG (not set), ` +
      `${homeConfig ?? "~/.kube/config ($HOME not set)"} (not found) and the in-cluster service account ` +
      `(${
        sources.env("KUBERNETES_SERVICE_HOST")
          ? `${SERVICE_ACCOUNT_TOKEN} not found`
          : "KUBERNETES_SERVICE_HOST not set"
      }); pass --kubeconfig FILE or run in a cluster`,
  );
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
