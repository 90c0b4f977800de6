/**
 * An in-test Kubernetes API server: enough of the real wire protocol (list/watch with resourceVersions,
 * bookmarks, 410 Gone, status subresources, optimistic concurrency, merge/JSON patches, selectors) that
 * `@kubernetes/client-node` cannot tell it from kube-apiserver for the calls the controller makes.
 *
 * Tests get a kubeconfig per bearer token, so two controllers can be told apart in {@link KubeApiServer.requests}.
 *
 * @example
 * ```ts
 * await using api = await startKubeApi();
 * const kubeconfig = await api.kubeconfig("controller-a");
 * api.put({ apiVersion: "v1", kind: "Service", metadata: { namespace: "ns", name: "svc" }, spec: {} });
 * ```
 */

/** A kind the server knows, addressed as `/api/v1/...` (core) or `/apis/<group>/<version>/...`. */
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** With a status subresource, writes to the main resource keep the stored status and vice versa. */
  statusSubresource: boolean;
}

export const DEFAULT_TYPES: ResourceType[] = [
  {
    group: "",
    version: "v1",
    plural: "services",
    kind: "Service",
    namespaced: true,
    statusSubresource: true,
  },
  { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true, statusSubresource: false },
  {
    group: "",
    version: "v1",
    plural: "configmaps",
    kind: "ConfigMap",
    namespaced: true,
    statusSubresource: false,
  },
  {
    group: "",
    version: "v1",
    plural: "namespaces",
    kind: "Namespace",
    namespaced: false,
    statusSubresource: true,
  },
  {
    group: "coordination.k8s.io",
    version: "v1",
    plural: "leases",
    kind: "Lease",
    namespaced: true,
    statusSubresource: false,
  },
  {
    group: "gateway.networking.k8s.io",
    version: "v1",
    plural: "httproutes",
    kind: "HTTPRoute",
    namespaced: true,
    statusSubresource: true,
  },
  {
    group: "mcp.kagenti.com",
    version: "v1alpha1",
    plural: "mcpservers",
    kind: "MCPServer",
    namespaced: true,
    statusSubresource: true,
  },
  {
    group: "mcp.kagenti.com",
    version: "v1alpha1",
    plural: "mcpvirtualservers",
    kind: "MCPVirtualServer",
    namespaced: true,
    statusSubresource: true,
  },
];

// deno-lint-ignore no-explicit-any
export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: Record<string, any>;
  [key: string]: any;
};

/** One request as the server saw it; `token` is the bearer token, i.e. which client sent it. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  token: string;
  status: number;
  at: number;
}

type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";
interface HistoryEntry {
  rv: number;
  type: WatchEventType;
  typeKey: string;
  object: KubeObject;
  previous?: KubeObject;
}

interface Watcher {
  typeKey: string;
  type: ResourceType;
  namespace?: string;
  matches: (obj: KubeObject) => boolean;
  send: (line: unknown) => void;
  close: () => void;
  bookmarks: boolean;
}

const clone = <T>(v: T): T => structuredClone(v);
const typeKeyOf = (t: { group: string; version: string; plural: string }) =>
  `${t.group}/${t.version}/${t.plural}`;
const apiVersionOf = (t: ResourceType) => t.group ? `${t.group}/${t.version}` : t.version;
const objKey = (ns: string | undefined, name: string) => `${ns ?? ""}/${name}`;

function statusBody(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
    details,
  };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> = target && typeof target === "object" && !Array.isArray(target)
    ? { ...(target as Record<string, unknown>) }
    : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** RFC 6902 JSON patch (add, replace, remove, test). */
function jsonPatch(target: KubeObject, ops: { op: string; path: string; value?: unknown }[]): KubeObject {
  const doc = clone(target) as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path.split("/").slice(1).map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = parts.pop()!;
    // deno-lint-ignore no-explicit-any
    let parent: any = doc;
    for (const p of parts) {
      if (parent[p] === undefined) throw new Error(`path ${op.path} does not exist`);
      parent = parent[p];
    }
    const index = Array.isArray(parent) ? (last === "-" ? parent.length : Number(last)) : last;
    if (op.op === "add") {
      if (Array.isArray(parent)) parent.splice(index as number, 0, op.value);
      else parent[index] = op.value;
    } else if (op.op === "replace") {
      if (parent[index] === undefined) throw new Error(`path ${op.path} does not exist`);
      parent[index] = op.value;
    } else if (op.op === "remove") {
      if (Array.isArray(parent)) parent.splice(index as number, 1);
      else delete parent[index];
    } else if (op.op === "test") {
      if (JSON.stringify(parent[index]) !== JSON.stringify(op.value)) {
        throw new Error(`test failed at ${op.path}`);
      }
    } else throw new Error(`unsupported op ${op.op}`);
  }
  return doc as KubeObject;
}

/** Equality-based and set-based label selectors (`a=b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`). */
export function labelSelectorMatcher(selector: string | null): (labels: Record<string, string>) => boolean {
  if (!selector) return () => true;
  const terms = selector.split(/,(?![^(]*\))/).map((t) => t.trim()).filter(Boolean);
  const tests = terms.map((term): (l: Record<string, string>) => boolean => {
    let m = term.match(/^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/);
    if (m) {
      const values = m[3].split(",").map((v) => v.trim());
      const [key, op] = [m[1], m[2]];
      return (l) => op === "in" ? values.includes(l[key]) : !(key in l) || !values.includes(l[key]);
    }
    m = term.match(/^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/);
    if (m) {
      const [key, op, value] = [m[1], m[2], m[3]];
      return (l) => op === "!=" ? l[key] !== value : l[key] === value;
    }
    if (term.startsWith("!")) return (l) => !(term.slice(1) in l);
    return (l) => term in l;
  });
  return (labels) => tests.every((t) => t(labels));
}

/** Field selectors on `metadata.name`, `metadata.namespace` and (Secrets) `type`. */
export function fieldSelectorMatcher(selector: string | null): (obj: KubeObject) => boolean {
  if (!selector) return () => true;
  const tests = selector.split(",").map((t) => t.trim()).filter(Boolean).map((term) => {
    const m = term.match(/^([\w.]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new Error(`invalid field selector term "${term}"`);
    const [field, op, value] = [m[1], m[2], m[3]];
    const get = (o: KubeObject): unknown => field.split(".").reduce<unknown>((v, p) => (v as any)?.[p], o);
    if (!["metadata.name", "metadata.namespace", "type"].includes(field)) {
      throw new Error(`field label not supported: ${field}`);
    }
    return (o: KubeObject) => op === "!=" ? get(o) !== value : (get(o) ?? "") === value;
  });
  return (obj) => tests.every((t) => t(obj));
}

export interface KubeApiServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Every request so far, oldest first. */
  readonly requests: RecordedRequest[];
  /** Writes a kubeconfig whose user authenticates with `token`; returns its path. */
  kubeconfig(token?: string): Promise<string>;
  /** Creates or replaces an object directly (as another client would), returning the stored copy. */
  put(obj: KubeObject): KubeObject;
  /** Merges `patch` into the stored object's status (as another controller would). */
  patchStatus(apiVersion: string, kind: string, namespace: string, name: string, status: unknown): KubeObject;
  /** Deletes an object directly; returns whether it existed. */
  remove(apiVersion: string, kind: string, namespace: string, name: string): boolean;
  /** The stored object, or undefined. */
  get(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined;
  /** Forgets watch history up to now: any watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void;
  /** Ends every open watch stream (as an API server restart or load balancer would). */
  cutWatches(): void;
  /** Sends a BOOKMARK to every watcher that asked for them. */
  bookmark(): void;
  /** Number of watch streams currently open. */
  readonly openWatches: number;
  /** The current resourceVersion. */
  readonly resourceVersion: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts the fake API server on 127.0.0.1, port 0. */
export async function startKubeApi(
  options: { types?: ResourceType[]; bookmarkIntervalMs?: number } = {},
): Promise<
  KubeApiServer
> {
  const types = options.types ?? DEFAULT_TYPES;
  const byPath = new Map(types.map((t) => [typeKeyOf(t), t]));
  const byKind = new Map(types.map((t) => [`${apiVersionOf(t)}/${t.kind}`, t]));
  const store = new Map<string, Map<string, KubeObject>>(types.map((t) => [typeKeyOf(t), new Map()]));
  const history: HistoryEntry[] = [];
  const watchers = new Set<Watcher>();
  const requests: RecordedRequest[] = [];
  let rv = 100;
  let compactedRv = 0;
  let uid = 0;
  const tmp = await Deno.makeTempDir({ prefix: "kube-api-" });

  const typeOf = (apiVersion: string, kind: string) => {
    const t = byKind.get(`${apiVersion}/${kind}`);
    if (!t) throw new Error(`unknown kind ${apiVersion}/${kind}`);
    return t;
  };

  function decorate(t: ResourceType, obj: KubeObject): KubeObject {
    return { ...obj, apiVersion: apiVersionOf(t), kind: t.kind };
  }

  function emit(t: ResourceType, type: WatchEventType, object: KubeObject, previous?: KubeObject) {
    const entry: HistoryEntry = { rv, type, typeKey: typeKeyOf(t), object: clone(object), previous };
    history.push(entry);
    if (history.length > 1000) {
      const dropped = history.splice(0, history.length - 1000);
      compactedRv = dropped[dropped.length - 1].rv;
    }
    for (const w of watchers) deliver(w, entry);
  }

  function deliver(w: Watcher, entry: HistoryEntry) {
    if (entry.typeKey !== w.typeKey) return;
    const ns = entry.object.metadata.namespace;
    if (w.namespace !== undefined && ns !== w.namespace) return;
    const now = w.matches(entry.object);
    const before = entry.previous ? w.matches(entry.previous) : false;
    let type: WatchEventType | undefined = entry.type;
    if (entry.type === "MODIFIED") {
      type = now && before ? "MODIFIED" : now ? "ADDED" : before ? "DELETED" : undefined;
    } else if (entry.type === "ADDED" && !now) type = undefined;
    else if (entry.type === "DELETED" && !now) type = undefined;
    if (type) w.send({ type, object: decorate(w.type, entry.object) });
  }

  const specOf = (o: KubeObject) => {
    const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
    return JSON.stringify(rest);
  };

  /** The one write path: create (prev undefined), update, or status update. */
  function write(
    t: ResourceType,
    prev: KubeObject | undefined,
    next: KubeObject,
    subresource?: string,
  ): KubeObject {
    const bucket = store.get(typeKeyOf(t))!;
    rv++;
    const meta = { ...next.metadata };
    let stored: KubeObject;
    if (!prev) {
      stored = { ...next, metadata: meta };
      meta.uid = `uid-${++uid}`;
      meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      meta.generation = 1;
      if (t.statusSubresource) delete stored.status;
    } else if (subresource === "status") {
      stored = { ...prev, status: next.status, metadata: { ...prev.metadata } };
    } else {
      stored = { ...next, metadata: meta };
      meta.uid = prev.metadata.uid;
      meta.creationTimestamp = prev.metadata.creationTimestamp;
      meta.generation = prev.metadata.generation ?? 1;
      if (t.statusSubresource) {
        if (prev.status === undefined) delete stored.status;
        else stored.status = prev.status;
      }
      if (specOf(stored) !== specOf(prev)) meta.generation++;
    }
    stored.metadata.resourceVersion = String(rv);
    stored = decorate(t, stored);
    bucket.set(objKey(stored.metadata.namespace, stored.metadata.name), stored);
    emit(t, prev ? "MODIFIED" : "ADDED", stored, prev);
    return clone(stored);
  }

  function del(t: ResourceType, prev: KubeObject): KubeObject {
    store.get(typeKeyOf(t))!.delete(objKey(prev.metadata.namespace, prev.metadata.name));
    rv++;
    const gone = { ...prev, metadata: { ...prev.metadata, resourceVersion: String(rv) } };
    emit(t, "DELETED", gone, prev);
    return clone(gone);
  }

  function list(t: ResourceType, ns: string | undefined, matches: (o: KubeObject) => boolean): KubeObject[] {
    const items = [...store.get(typeKeyOf(t))!.values()]
      .filter((o) => ns === undefined || o.metadata.namespace === ns)
      .filter(matches);
    return items.sort((a, b) =>
      objKey(a.metadata.namespace, a.metadata.name).localeCompare(
        objKey(b.metadata.namespace, b.metadata.name),
      )
    )
      .map(clone);
  }

  function watch(
    t: ResourceType,
    ns: string | undefined,
    params: URLSearchParams,
    matches: (o: KubeObject) => boolean,
  ) {
    const from = params.get("resourceVersion");
    const encoder = new TextEncoder();
    let watcher: Watcher | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let closed = false;
        watcher = {
          typeKey: typeKeyOf(t),
          type: t,
          namespace: ns,
          matches,
          bookmarks: params.get("allowWatchBookmarks") === "true",
          send: (line) => {
            if (!closed) controller.enqueue(encoder.encode(JSON.stringify(line) + "\n"));
          },
          close: () => {
            if (closed) return;
            closed = true;
            watchers.delete(watcher!);
            clearTimeout(timer);
            try {
              controller.close();
            } catch { /* already cancelled */ }
          },
        };
        if (from && from !== "0" && Number(from) < compactedRv) {
          // kube-apiserver answers 200 and then an ERROR event carrying a 410 Status, then ends the stream.
          watcher.send({
            type: "ERROR",
            object: statusBody(410, "Expired", `too old resource version: ${from} (${compactedRv})`),
          });
          watcher.close();
          return;
        }
        if (!from || from === "0") {
          for (const o of list(t, ns, matches)) watcher.send({ type: "ADDED", object: o });
        } else {
          for (const e of history) if (e.rv > Number(from)) deliver(watcher, e);
        }
        watchers.add(watcher);
        const timeout = Number(params.get("timeoutSeconds") ?? 0);
        if (timeout > 0) timer = setTimeout(() => watcher!.close(), timeout * 1000);
      },
      cancel() {
        watcher?.close();
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const segs = url.pathname.split("/").filter(Boolean);
    let group: string, version: string, rest: string[];
    if (segs[0] === "api" && segs[1] === "v1") [group, version, rest] = ["", "v1", segs.slice(2)];
    else if (segs[0] === "apis" && segs.length >= 3) {
      [group, version, rest] = [segs[1], segs[2], segs.slice(3)];
    } else if (url.pathname === "/healthz" || url.pathname === "/readyz") return new Response("ok");
    else return json(statusBody(404, "NotFound", `the server could not find the requested resource`), 404);

    let ns: string | undefined;
    if (rest[0] === "namespaces" && rest.length >= 3) {
      ns = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, sub] = rest;
    const t = byPath.get(typeKeyOf({ group, version, plural }));
    if (!t || (sub !== undefined && sub !== "status") || (sub === "status" && !t.statusSubresource)) {
      return json(statusBody(404, "NotFound", `the server could not find the requested resource`), 404);
    }
    const gr = group ? `${plural}.${group}` : plural;
    const bucket = store.get(typeKeyOf(t))!;
    const current = name ? bucket.get(objKey(t.namespaced ? ns : undefined, name)) : undefined;
    const notFound = () =>
      json(statusBody(404, "NotFound", `${gr} "${name}" not found`, { name, kind: plural }), 404);
    const conflict = () =>
      json(
        statusBody(
          409,
          "Conflict",
          `Operation cannot be fulfilled on ${gr} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        ),
        409,
      );
    let labels, fields;
    try {
      labels = labelSelectorMatcher(url.searchParams.get("labelSelector"));
      fields = fieldSelectorMatcher(url.searchParams.get("fieldSelector"));
    } catch (e) {
      return json(statusBody(400, "BadRequest", (e as Error).message), 400);
    }
    const matches = (o: KubeObject) => labels(o.metadata.labels ?? {}) && fields(o);

    switch (req.method) {
      case "GET": {
        if (name) return current ? json(current) : notFound();
        if (url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1") {
          return watch(t, ns, url.searchParams, matches);
        }
        return json({
          kind: `${t.kind}List`,
          apiVersion: apiVersionOf(t),
          metadata: { resourceVersion: String(rv) },
          items: list(t, ns, matches),
        });
      }
      case "POST": {
        if (name) return json(statusBody(405, "MethodNotAllowed", "POST on a named resource"), 405);
        const body = await req.json() as KubeObject;
        const meta = body.metadata ?? {};
        if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${(++uid).toString(36)}`;
        if (!meta.name) return json(statusBody(422, "Invalid", "metadata.name: Required value"), 422);
        if (t.namespaced) {
          if (meta.namespace && meta.namespace !== ns) {
            return json(
              statusBody(400, "BadRequest", "the namespace of the object does not match the request"),
              400,
            );
          }
          meta.namespace = ns;
        }
        if (bucket.has(objKey(meta.namespace, meta.name))) {
          return json(statusBody(409, "AlreadyExists", `${gr} "${meta.name}" already exists`), 409);
        }
        delete meta.resourceVersion;
        return json(write(t, undefined, { ...body, metadata: meta }), 201);
      }
      case "PUT": {
        if (!current) return notFound();
        const body = await req.json() as KubeObject;
        const want = body.metadata?.resourceVersion;
        if (want && want !== current.metadata.resourceVersion) return conflict();
        if (body.metadata?.name && body.metadata.name !== name) {
          return json(
            statusBody(400, "BadRequest", "the name of the object does not match the request"),
            400,
          );
        }
        return json(
          write(t, current, {
            ...body,
            metadata: { ...body.metadata, name, namespace: current.metadata.namespace },
          }, sub),
        );
      }
      case "PATCH": {
        if (!current) return notFound();
        const type = (req.headers.get("content-type") ?? "").split(";")[0].trim();
        const patch = await req.json();
        let next: KubeObject;
        try {
          if (type === "application/json-patch+json") next = jsonPatch(current, patch);
          else if (
            type === "application/merge-patch+json" || type === "application/strategic-merge-patch+json"
          ) {
            next = mergePatch(current, patch) as KubeObject;
          } else return json(statusBody(415, "UnsupportedMediaType", `unsupported patch type ${type}`), 415);
        } catch (e) {
          return json(statusBody(422, "Invalid", (e as Error).message), 422);
        }
        const want = next.metadata?.resourceVersion;
        if (want && want !== current.metadata.resourceVersion) return conflict();
        return json(
          write(t, current, {
            ...next,
            metadata: { ...next.metadata, name, namespace: current.metadata.namespace },
          }, sub),
        );
      }
      case "DELETE":
        if (!current) return notFound();
        return json(del(t, current));
      default:
        return json(statusBody(405, "MethodNotAllowed", `${req.method} not allowed`), 405);
    }
  }

  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (addr) => resolve(addr as Deno.NetAddr),
  }, async (req) => {
    const url = new URL(req.url);
    let res: Response;
    try {
      res = await handle(req);
    } catch (e) {
      res = json(statusBody(500, "InternalError", (e as Error).message), 500);
    }
    requests.push({
      method: req.method,
      path: url.pathname,
      query: url.search,
      token: (req.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, ""),
      status: res.status,
      at: Date.now(),
    });
    return res;
  });
  const addr = await listening;
  const baseUrl = `http://127.0.0.1:${addr.port}`;
  const bookmarkTimer = setInterval(() => api.bookmark(), options.bookmarkIntervalMs ?? 1000);

  const locate = (apiVersion: string, kind: string, namespace: string, name: string) => {
    const t = typeOf(apiVersion, kind);
    return { t, current: store.get(typeKeyOf(t))!.get(objKey(t.namespaced ? namespace : undefined, name)) };
  };

  const api: KubeApiServer = {
    url: baseUrl,
    requests,
    async kubeconfig(token = "test-token") {
      const path = `${tmp}/kubeconfig-${token}.yaml`;
      await Deno.writeTextFile(
        path,
        [
          "apiVersion: v1",
          "kind: Config",
          "clusters:",
          "- name: test",
          "  cluster:",
          `    server: ${baseUrl}`,
          // client-node refuses plain http unless TLS verification is explicitly off.
          "    insecure-skip-tls-verify: true",
          "users:",
          "- name: test",
          "  user:",
          `    token: ${token}`,
          "contexts:",
          "- name: test",
          "  context: {cluster: test, user: test, namespace: default}",
          "current-context: test",
          "",
        ].join("\n"),
      );
      return path;
    },
    put(obj) {
      const { t, current } = locate(obj.apiVersion!, obj.kind!, obj.metadata.namespace, obj.metadata.name);
      const body = clone(obj);
      if (!t.namespaced) delete body.metadata.namespace;
      return write(t, current, body);
    },
    patchStatus(apiVersion, kind, namespace, name, status) {
      const { t, current } = locate(apiVersion, kind, namespace, name);
      if (!current) throw new Error(`${kind} ${namespace}/${name} not found`);
      return write(t, current, { ...current, status: mergePatch(current.status, status) }, "status");
    },
    remove(apiVersion, kind, namespace, name) {
      const { t, current } = locate(apiVersion, kind, namespace, name);
      if (!current) return false;
      del(t, current);
      return true;
    },
    get(apiVersion, kind, namespace, name) {
      const { current } = locate(apiVersion, kind, namespace, name);
      return current && clone(current);
    },
    compact() {
      compactedRv = rv;
      history.length = 0;
    },
    cutWatches() {
      for (const w of [...watchers]) w.close();
    },
    bookmark() {
      for (const w of watchers) {
        if (w.bookmarks) {
          w.send({
            type: "BOOKMARK",
            object: {
              kind: w.type.kind,
              apiVersion: apiVersionOf(w.type),
              metadata: { resourceVersion: String(rv) },
            },
          });
        }
      }
    },
    get openWatches() {
      return watchers.size;
    },
    get resourceVersion() {
      return rv;
    },
    async close() {
      clearInterval(bookmarkTimer);
      api.cutWatches();
      await server.shutdown();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    },
    [Symbol.asyncDispose]() {
      return api.close();
    },
  };
  return api;
}
