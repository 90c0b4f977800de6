/**
 * Audit lines: the documented schema, the session hash, arguments only on request, the file sink, and
 * that a line built from a request carrying a token never contains the token.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  AuditLineSchema,
  AuditLog,
  hashSession,
  requestIdFrom,
  rpcIdFromRaw,
  traceIdFrom,
} from "../src/identity/audit.ts";
import { ANONYMOUS, type Identity } from "../src/identity/identity.ts";
import { BearerValidator } from "../src/identity/bearer.ts";
import { startOidcProvider } from "./harness/oidc.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

Deno.test("audit: a line has every documented field, validates, and hashes the session", () => {
  const lines: string[] = [];
  const audit = AuditLog.open({ write: (l) => lines.push(l) });
  const identity: Identity = {
    ...ANONYMOUS,
    source: "token",
    subject: "alice",
    clientId: "inspector",
    virtualServer: "team-a/weather-only",
  };
  const line = audit.record({
    path: "broker",
    identity,
    sessionId: "eyJhbGciOiJIUzI1NiJ9.session.sig",
    method: "tools/call",
    name: "weather_get_forecast",
    server: "weather-service",
    outcome: "ok",
    latencyMs: 1.23456,
    time: Date.UTC(2026, 11, 1, 12, 0, 0),
    rpcId: rpcIdFromRaw("7"),
    traceId: traceIdFrom(new Headers({ traceparent: `00-${TRACE}-00f067aa0ba902b7-01` })),
    requestId: requestIdFrom(new Headers({ "x-request-id": "b7c1-42" })),
    arguments: { city: "Paris" },
  });
  assertEquals(lines.length, 1);
  assertEquals(JSON.parse(lines[0]), line);
  assertEquals(AuditLineSchema.parse(JSON.parse(lines[0])), line);
  assertEquals(line, {
    type: "audit",
    v: 1,
    time: "2026-12-01T12:00:00.000Z",
    path: "broker",
    subject: "alice",
    clientId: "inspector",
    session: hashSession("eyJhbGciOiJIUzI1NiJ9.session.sig"),
    method: "tools/call",
    name: "weather_get_forecast",
    server: "weather-service",
    outcome: "ok",
    latencyMs: 1.235,
    rpcId: 7,
    traceId: TRACE,
    requestId: "b7c1-42",
    virtualServer: "team-a/weather-only",
  });
  assert(/^[0-9a-f]{16}$/.test(line.session!));
  assert(!lines[0].includes("session.sig"), "the session id itself is never written");
  assert(!("arguments" in line), "arguments only with includeArguments");
});

Deno.test("audit: denied, failed and unavailable calls; arguments on request, capped", () => {
  const lines: string[] = [];
  const audit = AuditLog.open({ write: (l) => lines.push(l), includeArguments: true, maxArgumentBytes: 64 });
  audit.record({
    path: "router",
    method: "tools/call",
    name: "weather_get_alerts",
    server: "weather-service",
    outcome: "denied",
    rpcId: "abc",
    error: { code: -32602, message: "Unknown tool: weather_get_alerts" },
    arguments: { region: "north" },
  });
  audit.record({
    path: "broker",
    method: "tools/call",
    name: "x",
    server: "s",
    outcome: "error",
    arguments: {
      text: "y".repeat(100),
    },
  });
  audit.record({
    path: "broker",
    method: "resources/read",
    name: "ui://a/b",
    server: null,
    outcome: "unavailable",
  });
  const parsed = lines.map((l) => AuditLineSchema.parse(JSON.parse(l)));
  assertEquals(parsed.map((l) => l.outcome), ["denied", "error", "unavailable"]);
  assertEquals(parsed[0].arguments, { region: "north" });
  assertEquals(parsed[0].error, { code: -32602, message: "Unknown tool: weather_get_alerts" });
  assertEquals([parsed[0].subject, parsed[0].session, parsed[0].traceId], [null, null, null]);
  assertEquals(parsed[1].arguments, undefined);
  assertEquals(parsed[1].argumentsBytes, JSON.stringify({ text: "y".repeat(100) }).length);
  // The schema is strict: a field nobody documented is an error, so a pipeline can rely on the list.
  assert(!AuditLineSchema.safeParse({ ...parsed[2], authorization: "Bearer x" }).success);
});

Deno.test("audit: a line for a request with a token holds the subject, never the token", async () => {
  await using idp = await startOidcProvider({ users: { alice: { password: "pw" } } });
  const resource = "http://127.0.0.1:8080/mcp";
  const token = (await idp.userToken("alice", { resource })).access_token;
  const validator = new BearerValidator({ resource, authorizationServers: [idp.issuer] });
  const result = await validator.validate(`Bearer ${token}`);
  assert(result.ok);
  const lines: string[] = [];
  const audit = AuditLog.open({ write: (l) => lines.push(l), includeArguments: true });
  audit.record({
    path: "broker",
    identity: result.identity,
    sessionId: "s-1",
    method: "tools/call",
    name: "weather_get_forecast",
    server: "weather-service",
    outcome: "ok",
    startedAt: performance.now(),
    rpcId: 1,
    arguments: { city: "Paris" },
  });
  assertEquals(JSON.parse(lines[0]).subject, "alice");
  assertEquals(JSON.parse(lines[0]).clientId, "harness-public");
  for (const part of [token, ...token.split(".")]) assert(!lines[0].includes(part), "no part of the token");
});

Deno.test("audit: lines append to a file, one JSON object per line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcp-audit-" });
  try {
    const file = `${dir}/audit.log`;
    await Deno.writeTextFile(file, '{"earlier":"line"}\n');
    const audit = AuditLog.open({ file });
    audit.record({ path: "broker", method: "tools/call", name: "a", server: "s", outcome: "ok", rpcId: 1 });
    audit.record({
      path: "router",
      method: "prompts/get",
      name: "b",
      server: "s",
      outcome: "denied",
      rpcId: 2,
    });
    audit.close();
    const lines = (await Deno.readTextFile(file)).trimEnd().split("\n");
    assertEquals(lines.length, 3);
    assertEquals(lines.slice(1).map((l) => AuditLineSchema.parse(JSON.parse(l)).rpcId), [1, 2]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("audit: ids and trace context are read strictly", () => {
  assertEquals(rpcIdFromRaw('"a-1"'), "a-1");
  assertEquals(rpcIdFromRaw("42"), 42);
  assertEquals(rpcIdFromRaw("12345678901234567890"), "12345678901234567890", "digits a double would lose");
  assertEquals(rpcIdFromRaw("null"), null);
  assertEquals(rpcIdFromRaw("{"), null);
  const h = (init: Record<string, string>) => new Headers(init);
  assertEquals(traceIdFrom(h({ traceparent: `00-${TRACE}-00f067aa0ba902b7-01` })), TRACE);
  assertEquals(traceIdFrom(h({}), `00-${TRACE}-00f067aa0ba902b7-01`), TRACE, "2026-era _meta.traceparent");
  assertEquals(traceIdFrom(h({ traceparent: `00-${"0".repeat(32)}-00f067aa0ba902b7-01` })), null);
  assertEquals(traceIdFrom(h({ traceparent: "garbage" })), null);
  assertEquals(
    traceIdFrom(h({ "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7" })),
    "80f198ee56343ba864fe8b2a57d3eff7",
  );
  assertEquals(requestIdFrom(h({ "x-request-id": "Bearer eyJ x" })), null, "odd values are not copied");
  assertEquals(requestIdFrom(h({})), null);
});
