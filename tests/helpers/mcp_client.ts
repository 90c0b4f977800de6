/** MCP SDK clients for tests, plus raw JSON-RPC over fetch for the cases a well-behaved client never sends. */
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

export interface TestClient {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** How many `notifications/tools/list_changed` arrived so far. */
  listChanged(): number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function connectClient(
  url: string,
  headers: Record<string, string> = {},
  capabilities: Record<string, unknown> = {},
): Promise<TestClient> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: "gateway-test", version: "1.0.0" }, { capabilities });
  let changes = 0;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    changes++;
  });
  await client.connect(transport);
  const close = async () => {
    await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  };
  return { client, transport, listChanged: () => changes, close, [Symbol.asyncDispose]: close };
}

/** Names of the tools a client currently sees, sorted. */
export async function toolNames(client: Client): Promise<string[]> {
  return (await client.listTools()).tools.map((t: { name: string }) => t.name).sort();
}

/** POSTs a raw body to an MCP endpoint and returns status, headers and parsed JSON (when it is JSON). */
export async function rawPost(
  url: string,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

/** Opens a gateway session with a raw initialize and returns its id. */
export async function rawInitialize(url: string, protocolVersion = "2025-11-25"): Promise<string> {
  const res = await rawPost(
    url,
    JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion, capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    }),
  );
  const session = res.headers.get("mcp-session-id");
  if (res.status !== 200 || !session) throw new Error(`initialize failed: ${res.status} ${res.text}`);
  return session;
}
