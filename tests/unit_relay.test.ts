/**
 * The relay between a backend's answer and the client: what needs no change passes as the very bytes the
 * backend sent (however the stream is cut into chunks), and every case that changes is changed: a backend's
 * request gets a gateway id, a resource URI its prefix, a result its rewrite, a stream cut before its
 * answer an error for the call's id; error answers are told from results.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { GatewayError } from "../src/mcp/errors.ts";
import { messageShape } from "../src/mcp/jsonrpc.ts";
import { SseSplitter } from "../src/mcp/sse.ts";
import { silentLogger } from "../src/observe/log.ts";
import { type Answer, answerOfText, Relay, type RelayOptions } from "../src/broker/relay.ts";
import type { ServerConfig } from "../src/config/schema.ts";
import type { RelayedRequest, SessionStore } from "../src/session/store.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const SERVER = {
  name: "srv",
  url: "http://127.0.0.1:1/mcp",
  toolPrefix: "p_",
  hostname: "h",
} as ServerConfig;

/** A store that hands out gateway ids in order and remembers what it relayed. */
function fakeStore() {
  const relayed: RelayedRequest[] = [];
  const store = {
    relay(request: RelayedRequest) {
      relayed.push(request);
      return Promise.resolve(JSON.stringify(`mcpgw-r-${relayed.length}`));
    },
  } as unknown as SessionStore;
  return { store, relayed };
}

function relayWith(options: RelayOptions = {}) {
  const { store, relayed } = fakeStore();
  const relay = new Relay(store, silentLogger, "session-1", SERVER, {
    id: "backend-session",
    protocolVersion: "2025-11-25",
  }, options);
  return { relay, relayed };
}

/**
 * A stream of `chunks`, or one that fails after them with `error`; `bytes`: a byte stream, as a fetch body
 * is (the relay reads those into a buffer of its own).
 */
function streamOf(chunks: Uint8Array[], error?: Error, bytes = false): ReadableStream<Uint8Array> {
  let i = 0;
  const pull = (controller: ReadableStreamDefaultController<Uint8Array> | ReadableByteStreamController) => {
    if (i < chunks.length) controller.enqueue(chunks[i++]);
    else if (error) controller.error(error);
    else {
      controller.close();
      // A reader's pending "bring your own buffer" read learns of the end from an empty answer (Streams §4.10).
      if ("byobRequest" in controller) controller.byobRequest?.respond(0);
    }
  };
  return bytes ? new ReadableStream({ type: "bytes", pull }) : new ReadableStream({ pull });
}

/** `text` cut into pieces of `size` bytes (a multi-byte character split too). */
function chunked(text: string, size: number): Uint8Array[] {
  const bytes = enc.encode(text);
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size));
  return out;
}

async function relayStream(
  relay: Relay,
  chunks: Uint8Array[],
  error?: Error,
  bytes = false,
): Promise<{ text: string; reads: number; answer: Answer | "cut" | undefined }> {
  let answer: Answer | "cut" | undefined;
  const out = relay.stream(streamOf(chunks, error, bytes), `"call-7"`, (a) => answer = a);
  const parts: Uint8Array[] = [];
  for await (const part of out) parts.push(part);
  const text = dec.decode(new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer()));
  return { text, reads: parts.length, answer };
}

const RESULT =
  `{"result":{"content":[{"type":"text","text":"Grüße, \\"isError\\" {}"}]},"jsonrpc":"2.0","id":"call-7"}`;

Deno.test("relay: a stream that needs no change passes byte for byte, however it is chunked", async () => {
  // Comments, ids, retry, CRLF and CR line ends, multi-line data, a priming event with empty data,
  // notifications (progress, a log message), then the answer: all as the backend wrote them.
  const stream = [
    ": keep-alive\n\n",
    "id: ev-1\r\ndata: \r\n\r\n",
    "retry: 500\nevent: message\ndata: " +
    `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}\n\n`,
    `event: message\rdata: {"jsonrpc":"2.0",\rdata: "method":"notifications/message","params":{"level":"info","data":"x"}}\r\r`,
    // A notification larger than one read of the relay's buffer.
    `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"data":"${
      "é".repeat(30_000)
    }"}}\n\n`,
    `id: ev-2\nevent: message\ndata: ${RESULT}\n\n`,
  ].join("");
  for (const bytes of [false, true]) {
    for (const size of [1, 2, 3, 7, 64, 100_000]) {
      const { relay } = relayWith();
      const { text, answer } = await relayStream(relay, chunked(stream, size), undefined, bytes);
      assertEquals(text, stream, `chunks of ${size} bytes (${bytes ? "byte stream" : "stream"})`);
      assertEquals(answer, "ok", `chunks of ${size} bytes`);
    }
  }
});

Deno.test("relay: every event a read completes goes on in one piece; the read itself when all pass", async () => {
  const events =
    [1, 2, 3].map((n) =>
      `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":${n}}}\n\n`
    ).join("") + `event: message\ndata: ${RESULT}\n\n`;
  const { relay } = relayWith();
  const whole = enc.encode(events);
  const out = relay.stream(streamOf([whole]), `"call-7"`, () => {});
  const reader = out.getReader();
  const first = await reader.read();
  assert(first.value === whole, "the backend's own chunk is passed on");
  assert((await reader.read()).done);
});

Deno.test("relay: a backend's request gets a gateway id; its other bytes and the events around it stay", async () => {
  const request =
    `{"jsonrpc":"2.0","id":12345678901234567890,"method":"sampling/createMessage","params":{"messages":[]}}`;
  const progress = `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`;
  const stream = `id: a\nevent: message\ndata: ${request}\n\nevent: message\ndata: ${progress}\n\n` +
    `event: message\ndata: ${RESULT}\n\n`;
  const { relay, relayed } = relayWith();
  const { text, answer } = await relayStream(relay, [enc.encode(stream)]);
  assertEquals(answer, "ok");
  const sent = JSON.parse(request);
  assertEquals(
    text,
    `id: a\nevent: message\ndata: ${JSON.stringify({ ...sent, id: "mcpgw-r-1" })}\n\n` +
      `event: message\ndata: ${progress}\n\nevent: message\ndata: ${RESULT}\n\n`,
  );
  assertEquals(relayed, [{
    session: "session-1",
    server: "srv",
    backendSession: "backend-session",
    protocolVersion: "2025-11-25",
    backendRawId: JSON.stringify(sent.id),
  }]);
});

Deno.test("relay: a resource update names the served URI", async () => {
  const { relay } = relayWith();
  const note =
    `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"test://static/1"}}`;
  const out = await relay.process(note);
  assertEquals(JSON.parse(out.text!).params.uri, "test://p_static/1");
  assertEquals(out.response, false);
  // Other notifications are the same string, not a copy.
  const other = `{"jsonrpc":"2.0","method":"notifications/resources/list_changed"}`;
  assert((await relay.process(other)).text === other);
});

Deno.test("relay: a result is rewritten, its id spliced back as sent; a refusal answers the same id", async () => {
  const contents = (prefix: string) => `{"contents":[{"uri":"test://${prefix}a","text":"x"}]}`;
  const rewriteResult = (result: Record<string, unknown>) => ({
    ...result,
    contents: (result.contents as { uri: string }[]).map((c) => ({ ...c, uri: c.uri.replace("//", "//p_") })),
  });
  const { relay } = relayWith({ rewriteResult });
  const answer = `{"jsonrpc":"2.0","id":12345678901234567890,"result":${contents("")}}`;
  const stream = `event: message\ndata: ${answer}\n\n`;
  const { text, answer: outcome } = await relayStream(relay, chunked(stream, 5));
  assertEquals(
    text,
    `event: message\ndata: {"jsonrpc":"2.0","id":12345678901234567890,"result":${contents("p_")}}\n\n`,
  );
  assertEquals(outcome, "ok");
  // A JSON-RPC error is the backend's answer: not rewritten.
  const error = `{"jsonrpc":"2.0","id":3,"error":{"code":-32002,"message":"Resource not found"}}`;
  assertEquals(await relay.process(error), { text: error, response: "error" });
  // The rewrite refuses: the client gets the gateway's error for the same id.
  const refusing = relayWith({
    rewriteResult: () => new GatewayError("input-failed", "no such result for this client"),
  });
  const refused = await refusing.relay.process(`{"id":"x-1","jsonrpc":"2.0","result":{"resultType":"task"}}`);
  assertEquals(refused.response, "error");
  const body = JSON.parse(refused.text!);
  assertEquals([body.id, body.error.message], ["x-1", "no such result for this client"]);
});

Deno.test("relay: a stream cut or broken before its answer ends with an error for the call's id", async () => {
  const progress =
    `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\n\n`;
  for (const error of [undefined, new Error("connection reset")]) {
    const { relay } = relayWith();
    const { text, answer } = await relayStream(relay, [enc.encode(progress)], error);
    assertEquals(answer, "cut");
    assert(text.startsWith(progress), "what came before the cut is passed on");
    const last = JSON.parse(text.slice(progress.length).replace(/^event: message\ndata: /, ""));
    assertEquals(last.id, "call-7");
    assertEquals(last.error.data, { server: "srv", retryable: true });
    assert(/srv (ended|broke) the stream before answering/.test(last.error.message), last.error.message);
  }
  // An answer cut short inside its JSON is no answer.
  const { relay } = relayWith();
  const cutShort = `event: message\ndata: {"result":{"content":[{"type":"text","te\n\n`;
  const { text, answer } = await relayStream(relay, [enc.encode(cutShort)]);
  assertEquals(answer, "cut");
  assert(text.startsWith(cutShort) && text.includes('"id":"call-7"'));
});

Deno.test("relay: the stream's last event without its blank line is still delivered whole", async () => {
  const { relay } = relayWith();
  const { text, answer } = await relayStream(relay, [enc.encode(`event: message\ndata: ${RESULT}`)]);
  assertEquals(text, `event: message\ndata: ${RESULT}\n\n`);
  assertEquals(answer, "ok");
});

Deno.test("relay: error answers are told from results, whatever the key order", async () => {
  const cases: [string, Answer | false][] = [
    [`{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"boom"}}`, "error"],
    [`{"error":{"code":1,"message":"m"},"id":1,"jsonrpc":"2.0"}`, "error"],
    [`{"result":{"content":[],"isError":true},"jsonrpc":"2.0","id":1}`, "error"],
    [`{"jsonrpc":"2.0","id":1,"result":{"isError":false,"content":[]}}`, "ok"],
    // "isError" inside the content, not the result's own flag.
    [`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"x","isError":true}]}}`, "ok"],
    [`{"jsonrpc":"2.0","id":1,"result":{"structuredContent":{"error":"x"}}}`, "ok"],
    // A request carrying a "result" parameter is no answer.
    [`{"jsonrpc":"2.0","id":1,"method":"x","params":{"result":1}}`, false],
    [`{"jsonrpc":"2.0","id":1,"result":{"method":"x"}}`, "ok"],
    [`{"jsonrpc":"2.0","method":"notifications/progress"}`, false],
    [`not json`, false],
    [`{"jsonrpc":"2.0","id":1,"result":{"content":[`, false],
  ];
  const { relay } = relayWith();
  for (const [text, expected] of cases) {
    assertEquals(answerOfText(text), expected, text);
    assertEquals((await relay.process(text)).response, expected, text);
  }
  const stream = cases.slice(0, 3).map(([t]) => `event: message\ndata: ${t}\n\n`).join("");
  assertEquals((await relayStream(relay, [enc.encode(stream)])).answer, "error");
});

Deno.test("relay: notifications a client did not ask for are left out of the stream", async () => {
  const log = (level: string) =>
    `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"${level}","data":"x"}}\n\n`;
  const { relay } = relayWith({
    dropNotification: (m) => (m.params as { level: string }).level === "debug",
  });
  const answer = `event: message\ndata: ${RESULT}\n\n`;
  const { text } = await relayStream(relay, [enc.encode(log("debug") + log("error") + answer)]);
  assertEquals(text, log("error") + answer);
  // Only debug lines came: the pull reads on rather than ending the stream early.
  const only = relayWith({ dropNotification: () => true });
  const { text: rest } = await relayStream(only.relay, [enc.encode(log("debug")), enc.encode(answer)]);
  assertEquals(rest, answer);
});

Deno.test("messageShape reads top-level members only, and refuses what is not whole", () => {
  assertEquals(messageShape(`{"result":{"method":"x"},"jsonrpc":"2.0","id":1}`), {
    kind: "response",
    error: false,
  });
  assertEquals(messageShape(` { "id" : 1 , "error" : {} } `), { kind: "response", error: true });
  assertEquals(messageShape(`{"jsonrpc":"2.0","id":1,"method":"ping"}`), { kind: "request", method: "ping" });
  assertEquals(messageShape(`{"m\\u0065thod":"a/b","jsonrpc":"2.0"}`), {
    kind: "notification",
    method: "a/b",
  });
  assertEquals(messageShape(`{"method":7,"id":1}`), { kind: "other" });
  assertEquals(messageShape(`{"jsonrpc":"2.0","id":1}`), { kind: "other" });
  assertEquals(messageShape(`[1]`), { kind: "other" });
  assertEquals(messageShape(``), { kind: "other" });
  assertEquals(messageShape(`{"id":1,"method":"x"`), { kind: "other" });
  assertEquals(messageShape(`{"id":1,"result":{"a":[1,`), { kind: "other" });
});

Deno.test("SseSplitter: events as the bytes that carried them, for any chunking and line ends", () => {
  const text = `: c\n\ndata: a\r\n\r\nid: 1\rdata: é\r\rdata: {"x":"\\n"}\n\n\ndata: tail`;
  const expected = [`: c\n\n`, `data: a\r\n\r\n`, `id: 1\rdata: é\r\r`, `data: {"x":"\\n"}\n\n`, `\n`];
  for (const size of [1, 2, 5, 1000]) {
    const splitter = new SseSplitter();
    const events: string[] = [];
    for (const chunk of chunked(text, size)) {
      events.push(...splitter.push(chunk).events.map((e) => dec.decode(e)));
    }
    assertEquals(events, expected, `chunks of ${size}`);
    assertEquals(dec.decode(splitter.rest()), "data: tail");
  }
  const whole = new SseSplitter().push(enc.encode("data: 1\n\ndata: 2\n\n"));
  assertEquals([whole.events.length, whole.whole], [2, true]);
});
