/**
 * A backend that asks its client for roots outside any call, as a server watching a workspace does: the
 * `roots/list` request goes on the session's GET stream, not on a tool call's response stream. A gateway in
 * front must relay it to the client and carry the client's answer back to this session.
 *
 * Tools: `ask_roots` returns at once and then asks (in the background, after the call ended);
 * `roots_answers` returns what the clients answered so far, as JSON.
 *
 * The SDK drops a request for the GET stream while no GET stream is open, and a gateway opens its stream
 * towards the backend in the background; so an unanswered ask is repeated, up to {@link ASK_ATTEMPTS}
 * times, `retryMs` apart.
 *
 * Run: `deno run -A tests/servers/roots_asker.ts --port 0` → `listening on http://127.0.0.1:PORT/mcp`.
 */
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { runServerMain, type ServedMcp, serveMcp, type ServeOptions } from "./serve.ts";

export const ASK_ATTEMPTS = 20;

/** One answer a client gave to this process's `roots/list`. */
export interface RootsAnswer {
  roots: { uri: string; name?: string }[];
}

/** A new server for one session; `answers` is shared by every session of the process. */
export function createRootsAsker(answers: RootsAnswer[], retryMs = 500): McpServer {
  const server = new McpServer({ name: "roots-asker", version: "1.0.0" }, { capabilities: { tools: {} } });
  server.registerTool("ask_roots", {
    description: "Asks the client for its roots after this call returns (on the GET stream)",
    inputSchema: {},
  }, () => {
    (async () => {
      for (let attempt = 0; attempt < ASK_ATTEMPTS; attempt++) {
        try {
          const result = await server.server.listRoots(undefined, { timeout: retryMs });
          answers.push({ roots: result.roots });
          return;
        } catch { /* no stream yet, or no answer in time: ask again */ }
      }
    })();
    return { content: [{ type: "text", text: "asking for roots" }] };
  });
  server.registerTool("roots_answers", {
    description: "The roots clients answered so far",
    inputSchema: {},
  }, () => ({ content: [{ type: "text", text: JSON.stringify(answers) }] }));
  return server;
}

/** Serves the asker in-process; `answers` lists what clients answered. */
export async function startRootsAsker(
  opts: ServeOptions = {},
): Promise<ServedMcp & { answers: RootsAnswer[] }> {
  const answers: RootsAnswer[] = [];
  const served = await serveMcp(() => createRootsAsker(answers), opts);
  return { ...served, answers };
}

if (import.meta.main) {
  const answers: RootsAnswer[] = [];
  await runServerMain(() => createRootsAsker(answers));
}
