/**
 * An MCP SDK v2 client (`@modelcontextprotocol/client` 2.4.0) for tests, in either protocol era, disposable
 * with `await using`. It answers elicitation, sampling and roots itself (2025: server-to-client requests;
 * 2026: `input_required` rounds, which the SDK fulfils through the same handlers and retries), records
 * every notification, and can record the HTTP requests it sends (headers and body) for assertions on
 * `Mcp-Method`/`Mcp-Name`/`Mcp-Param-*`/`MCP-Protocol-Version`.
 *
 * ```ts
 * await using mcp = await connectClientV2(url, { mode: { pin: "2026-07-28" } });
 * mcp.era; // "modern"
 * const { tools } = await mcp.client.listTools();
 * ```
 */
import {
  Client,
  type ClientCapabilities,
  type CreateMessageResult,
  type ElicitRequest,
  type ElicitResult,
  type JSONRPCNotification,
  type Root,
  StreamableHTTPClientTransport,
  type VersionNegotiationMode,
} from "@modelcontextprotocol/client";

/** The 2026 revision the SDK negotiates through `server/discover`. */
export const MODERN_VERSION = "2026-07-28";
/** The latest 2025-era revision (the `initialize` handshake). */
export const LEGACY_VERSION = "2025-11-25";

/** One HTTP request the client sent. */
export interface RecordedRequest {
  method: string;
  headers: Headers;
  /** The parsed JSON-RPC body (POST only). */
  body?: any;
}

export interface ClientV2Options {
  /** `'legacy'` (default: plain 2025 `initialize`), `'auto'` (probe `server/discover`), `{ pin }`. */
  mode?: VersionNegotiationMode;
  /** Extra headers on every HTTP request (e.g. `Authorization`). */
  headers?: Record<string, string>;
  /** Declared capabilities; default: elicitation, sampling and roots, so every input request can be met. */
  capabilities?: ClientCapabilities;
  name?: string;
  /** Answers `elicitation/create`; default: accept with `{ confirmed: true, name: "tester" }`. */
  elicit?: (params: ElicitRequest["params"]) => ElicitResult | Promise<ElicitResult>;
  /** Answers `sampling/createMessage`; default: `sampled: <text of the last message>`. */
  sample?: (params: any) => CreateMessageResult | Promise<CreateMessageResult>;
  /** Answers `roots/list`. */
  roots?: Root[];
  /** Record every HTTP request the transport sends (see `ConnectedClientV2.requests`). */
  record?: boolean;
}

export interface ConnectedClientV2 {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** The era the connection settled on. */
  era: "modern" | "legacy";
  /** `2026-07-28` or the 2025 revision `initialize` negotiated. */
  protocolVersion: string | undefined;
  /** Every notification received (progress, log messages, list_changed, resources/updated), in order. */
  notifications: JSONRPCNotification[];
  /** HTTP requests sent so far (only with `record: true`). */
  requests: RecordedRequest[];
  /** Waits for the first notification with `method` received after `since` notifications (default 0). */
  nextNotification(method: string, since?: number, timeoutMs?: number): Promise<JSONRPCNotification>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_CAPABILITIES: ClientCapabilities = { elicitation: {}, sampling: {}, roots: {} };
export const DEFAULT_ROOTS: Root[] = [{ uri: "file:///tmp/mcp-gateway-tests", name: "tests" }];

function lastText(params: any): string {
  const messages = Array.isArray(params?.messages) ? params.messages : [];
  const content = messages.at(-1)?.content;
  const block = Array.isArray(content) ? content[0] : content;
  return block?.type === "text" ? block.text : "";
}

/** Connects an SDK v2 client to `url` with the given version negotiation; rejects when connect fails. */
export async function connectClientV2(url: string, opts: ClientV2Options = {}): Promise<ConnectedClientV2> {
  const requests: RecordedRequest[] = [];
  const notifications: JSONRPCNotification[] = [];
  const waiters = new Set<() => void>();

  const recordingFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const entry: RecordedRequest = { method: request.method, headers: new Headers(request.headers) };
    if (request.method === "POST") {
      try {
        entry.body = await request.clone().json();
      } catch { /* not JSON */ }
    }
    requests.push(entry);
    return await fetch(request);
  };

  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: opts.headers ?? {} },
    ...(opts.record ? { fetch: recordingFetch } : {}),
  });
  const client = new Client(
    { name: opts.name ?? "mcp-gateway-tests-v2", version: "1.0.0" },
    {
      capabilities: opts.capabilities ?? DEFAULT_CAPABILITIES,
      versionNegotiation: { mode: opts.mode ?? "legacy" },
    },
  );
  const capabilities = opts.capabilities ?? DEFAULT_CAPABILITIES;
  if (capabilities.elicitation) {
    client.setRequestHandler(
      "elicitation/create",
      async (req) =>
        await (opts.elicit?.(req.params) ??
          { action: "accept", content: { confirmed: true, name: "tester" } }),
    );
  }
  if (capabilities.sampling) {
    client.setRequestHandler("sampling/createMessage", async (req) =>
      await (opts.sample?.(req.params) ?? {
        role: "assistant",
        content: { type: "text", text: `sampled: ${lastText(req.params)}` },
        model: "test-model",
        stopReason: "endTurn",
      }));
  }
  if (capabilities.roots) {
    client.setRequestHandler("roots/list", () => ({ roots: opts.roots ?? DEFAULT_ROOTS }));
  }
  client.fallbackNotificationHandler = (n) => {
    notifications.push(n as JSONRPCNotification);
    for (const wake of waiters) wake();
    return Promise.resolve();
  };
  for (
    const method of [
      "notifications/message",
      "notifications/tools/list_changed",
      "notifications/prompts/list_changed",
      "notifications/resources/list_changed",
      "notifications/resources/updated",
    ] as const
  ) {
    client.setNotificationHandler(method, (n) => {
      notifications.push(n as JSONRPCNotification);
      for (const wake of waiters) wake();
    });
  }

  await client.connect(transport);

  const nextNotification = (method: string, since = 0, timeoutMs = 10_000) =>
    new Promise<JSONRPCNotification>((resolve, reject) => {
      const check = () => {
        const found = notifications.slice(since).find((n) => n.method === method);
        if (!found) return false;
        cleanup();
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${method} within ${timeoutMs} ms (got ${notifications.map((n) => n.method)})`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(wake);
      };
      const wake = () => void check();
      if (!check()) waiters.add(wake);
    });

  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      if (transport.sessionId) await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    })();
  return {
    client,
    transport,
    era: client.getProtocolEra() ?? "legacy",
    protocolVersion: client.getNegotiatedProtocolVersion(),
    notifications,
    requests,
    nextNotification,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A 2026-07-28 `_meta` envelope as an SDK v2 client sends it (`overrides` replace or, as undefined, drop keys). */
export function envelope(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": { name: "raw-2026-client", version: "1.0.0" },
    ...overrides,
  };
  for (const [key, value] of Object.entries(meta)) if (value === undefined) delete meta[key];
  return meta;
}

/**
 * The body and standard headers of a well-formed 2026-07-28 request (`Mcp-Name` from `params.name` or
 * `params.uri`), for tests that then break one thing about it.
 */
export function modernRequest(
  method: string,
  params: Record<string, unknown> = {},
  id: number | string = 1,
): { body: Record<string, unknown>; headers: Record<string, string> } {
  const headers: Record<string, string> = { "mcp-protocol-version": MODERN_VERSION, "mcp-method": method };
  const name = params.name ?? params.uri ?? params.taskId;
  if (typeof name === "string") headers["mcp-name"] = name;
  return { body: { jsonrpc: "2.0", id, method, params: { ...params, _meta: envelope() } }, headers };
}
