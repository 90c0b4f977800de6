/**
 * What the explain projection adds to an idle session's memory: `deno run -A bench/explain_memory.ts`.
 * Two child processes fold the same 200,000 `SessionOpened` events, one into the session map alone, one
 * into the session map and the explain projection; the difference of their heaps after a full GC, per
 * session, is the explain projection's share (both see the same event objects, as in a gateway).
 */
const SESSIONS = 200_000;

if (Deno.args[0] === "child") {
  const { explainProjection } = await import("../src/observe/explain.ts");
  const { sessionMapProjection } = await import("../src/session/session_map.ts");
  const withExplain = Deno.args[1] === "explain";
  let sessions = sessionMapProjection.initial;
  let explain = explainProjection.initial;
  const start = 1_764_575_000_000;
  for (let i = 0; i < SESSIONS; i++) {
    const event = {
      type: "SessionOpened" as const,
      session: crypto.randomUUID().replaceAll("-", "").slice(0, 16),
      protocolVersion: "2025-11-25",
      expiresAt: start + 86_400_000 + i,
      seq: i + 1,
      at: start + i,
    };
    sessions = sessionMapProjection.apply(sessions, event);
    if (withExplain) explain = explainProjection.apply(explain, event);
  }
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  gc();
  console.log(
    JSON.stringify({ heap: Deno.memoryUsage().heapUsed, open: sessions.open.size + explain.sessions.size }),
  );
} else {
  const run = async (mode: string) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--expose-gc", new URL(import.meta.url).pathname, "child", mode],
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout)).heap as number;
  };
  const alone = await run("sessions");
  const both = await run("explain");
  console.log(
    `heap per idle session: session map ${(alone / SESSIONS).toFixed(0)} B (whole heap / sessions), ` +
      `explain projection adds ${((both - alone) / SESSIONS).toFixed(0)} B`,
  );
}
