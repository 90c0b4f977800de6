/**
 * A real SDK MCP client for tests, connected over Streamable HTTP and disposable with `await using`.
 *
 * ```ts
 * await using mcp = await connectClient(url);
 * const { tools } = await mcp.client.listTools();
 * ```
 */
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import type { ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";

export interface ConnectedClient {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** Ends the session (DELETE) and closes the client. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Connects and initializes a client against `url`. */
export async function connectClient(
  url: string,
  capabilities: ClientCapabilities = {},
  name = "mcp-gateway-tests",
): Promise<ConnectedClient> {
  const client = new Client({ name, version: "1.0.0" }, { capabilities });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      try {
        await transport.terminateSession();
      } catch { /* the server may be gone already */ }
      await client.close();
    })();
  return { client, transport, close, [Symbol.asyncDispose]: close };
}
