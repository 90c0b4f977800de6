// MCP Gateway operator console: plain JS, no build step. Reads /debug/overview (polled, and at once after
// an upstream or config event), /debug/events/stream (Server-Sent Events) and /debug/explain. Everything a
// backend names (tools, errors) is put in the page as text, never as HTML.
"use strict";

const params = new URLSearchParams(location.search);
const POLL_MS = Math.max(250, Number(params.get("interval")) || 2000);
const SAMPLES = 120;
const EVENTS_SHOWN = 300;
const COLORS = ["#3a6ff7", "#e0671f", "#1f9d55", "#a23bd6", "#d64545", "#0f8f9e", "#b58b00", "#5b6478"];

const state = {
  overview: undefined,
  catalogVersion: undefined,
  catalog: { tools: [], prompts: [] },
  samples: [],
  paused: false,
  eventTypes: new Set(),
  refreshTimer: undefined,
};

/** Creates an element: attributes (and `on*` handlers), then children (strings become text nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    // The page's CSP forbids style attributes; the CSSOM is allowed.
    else if (k === "color") el.style.background = v;
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const $ = (id) => document.getElementById(id);
const time = (at) => (at ? new Date(at).toLocaleTimeString() : "");
const ref = (r) => (r ? `seq ${r.seq} · ${r.type} · ${time(r.at)}` : "—");

function colorOf(server) {
  const names = (state.overview?.servers ?? []).map((s) => s.name).sort();
  const i = names.indexOf(server);
  return COLORS[(i < 0 ? names.length : i) % COLORS.length];
}

// ---------------------------------------------------------------- overview

async function refresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = undefined;
  try {
    const query = state.catalogVersion === undefined ? "" : `?catalog=${state.catalogVersion}`;
    const res = await fetch(`/debug/overview${query}`);
    if (!res.ok) throw new Error(`${res.status}`);
    const overview = await res.json();
    state.overview = overview;
    if (overview.catalog.tools) {
      state.catalog = { tools: overview.catalog.tools, prompts: overview.catalog.prompts };
      state.catalogVersion = overview.catalog.version;
    }
    render(overview);
  } catch (e) {
    $("seq").textContent = `overview unavailable (${e.message})`;
  }
}

/** An upstream or config event just arrived: refresh soon, once for a burst. */
function refreshSoon() {
  state.refreshTimer ??= setTimeout(refresh, 100);
}

function render(o) {
  const config = o.config;
  $("config").textContent = config.source
    ? `config ${config.source} · ${config.digest} · loaded ${ref(config.loaded)}`
    : "no configuration yet";
  $("seq").textContent = `seq ${o.asOf.seq}`;
  const rejected = $("rejected");
  const isRejected = config.rejected && (!config.loaded || config.rejected.seq > config.loaded.seq);
  rejected.hidden = !isRejected;
  if (isRejected) {
    rejected.textContent = `Last reload rejected (${ref(config.rejected)}): ${config.rejected.reason}. ` +
      "The last good configuration keeps serving.";
  }
  renderServers(o.servers);
  renderCatalog(o.catalog);
  renderSessions(o.sessions);
  addSample(o.metrics);
  drawCharts();
}

function renderServers(servers) {
  const anyEra = servers.some((s) => s.era);
  for (const cell of document.querySelectorAll("#servers .era")) cell.hidden = !anyEra;
  const body = $("servers").tBodies[0];
  body.replaceChildren(...servers.map((s) =>
    h(
      "tr",
      { "data-server": s.name },
      h("td", {}, h("a", { class: "explain", onclick: () => explainServer(s) }, s.name)),
      h("td", {}, h("span", { class: `pill status ${s.status}` }, s.status)),
      h("td", { class: "era", hidden: !anyEra }, s.era ?? ""),
      h("td", {}, s.prefix ? h("code", {}, s.prefix) : h("span", { class: "muted" }, "none")),
      h("td", { class: "tools" }, s.tools),
      h("td", {}, s.prompts),
      h("td", {}, s.resources + s.templates),
      h("td", {}, s.protocolVersion ?? ""),
      h(
        "td",
        {},
        h(
          "span",
          { class: "dots" },
          s.health.map((e) =>
            h("span", {
              class: `dot ${e.status}`,
              title: `${e.status} · ${ref(e)}${e.reason ? ` · ${e.reason}` : ""}${
                e.repeats ? ` (×${e.repeats + 1})` : ""
              }`,
            })
          ),
        ),
      ),
      h(
        "td",
        { class: "error" },
        s.lastError ? `${s.lastError.stage}: ${s.lastError.reason}` : "",
        s.consecutiveFailures > 1
          ? h("span", { class: "muted" }, ` (${s.consecutiveFailures} failures)`)
          : "",
      ),
    )
  ));
}

function renderCatalog(catalog) {
  const t = catalog.totals;
  $("catalog-totals").textContent =
    `${t.tools} tools · ${t.prompts} prompts · ${t.resources} resources · ${t.templates} templates`;
  $("conflicts").replaceChildren(...catalog.conflicts.map((c) =>
    h(
      "div",
      { class: "conflict" },
      `Conflict on ${c.kind} `,
      h("a", { class: "explain", onclick: () => explainName(kindParam(c.kind), c.name) }, c.name),
      `: ${c.winner} keeps it over ${c.shadowed.join(", ")} (first in config order) since ${ref(c.since)}`,
    )
  ));
  const filter = $("catalog-filter").value.trim().toLowerCase();
  const conflicted = new Set(catalog.conflicts.map((c) => c.name));
  const rows = [
    ...state.catalog.tools.map((i) => ({ ...i, kind: "tool" })),
    ...state.catalog.prompts.map((i) => ({ ...i, kind: "prompt" })),
  ].filter((i) =>
    !filter || i.name.toLowerCase().includes(filter) || i.server.toLowerCase().includes(filter)
  );
  $("catalog").tBodies[0].replaceChildren(
    ...rows.slice(0, 500).map((i) =>
      h(
        "tr",
        { "data-name": i.name },
        h(
          "td",
          {},
          h("a", { class: "explain", onclick: () => explainName(i.kind, i.name) }, i.name),
          conflicted.has(i.name)
            ? h("span", { class: "muted", title: "several servers offer this name" }, " ⚠")
            : "",
        ),
        h("td", {}, i.kind),
        h("td", {}, i.server),
        h("td", {}, i.upstreamName),
      )
    ),
  );
}

function renderSessions(s) {
  $("session-totals").textContent = `${s.open} open · ${s.closed} closed (tokens refused until expiry)`;
  const groups = Object.keys(s.byEra).length ? s.byEra : s.byVersion;
  const label = Object.keys(s.byEra).length ? "era" : "version";
  $("session-groups").replaceChildren(
    ...Object.entries(groups).map(([k, n]) =>
      h("span", { class: "pill on", title: `sessions by ${label}` }, `${k}: ${n}`)
    ),
  );
  $("sessions").tBodies[0].replaceChildren(...s.newest.map((x) =>
    h(
      "tr",
      {},
      h(
        "td",
        {},
        h("a", { class: "explain", onclick: () => explainName("session", x.id) }, x.id.slice(0, 12)),
      ),
      h("td", {}, time(x.at)),
      h("td", {}, x.era ? `${x.era} · ${x.protocolVersion}` : x.protocolVersion),
      h("td", {}, x.bindings.map((b) => b.server).join(", ") || h("span", { class: "muted" }, "none yet")),
    )
  ));
}

// ---------------------------------------------------------------- charts

function addSample(metrics) {
  state.samples.push(metrics);
  if (state.samples.length > SAMPLES) state.samples.shift();
}

const total = (m) => Object.values(m?.calls ?? {}).reduce((a, b) => a + b, 0);

/** Quantile from the difference of two cumulative histograms, interpolated inside a bucket. */
function quantile(q, now, before) {
  if (!now) return null;
  const count = now.count - (before?.count ?? 0);
  if (count <= 0) return null;
  const rank = q * count;
  let lower = 0;
  let previous = 0;
  for (let i = 0; i < now.buckets.length; i++) {
    const [le, cumulative] = now.buckets[i];
    const c = cumulative - (before?.buckets[i]?.[1] ?? 0);
    if (c >= rank) {
      if (le === null) return lower;
      return lower + (le - lower) * ((rank - previous) / Math.max(c - previous, 1e-9));
    }
    lower = le ?? lower;
    previous = c;
  }
  return lower;
}

function series() {
  const servers = [...new Set(state.samples.flatMap((s) => Object.keys(s.servers)))].sort();
  const rate = {};
  const p50 = {};
  const p99 = {};
  for (const server of servers) {
    rate[server] = [];
    p50[server] = [];
    p99[server] = [];
    for (let i = 1; i < state.samples.length; i++) {
      const now = state.samples[i];
      const prev = state.samples[i - 1];
      const dt = (now.at - prev.at) / 1000;
      const t = now.at;
      rate[server].push([
        t,
        dt > 0 ? Math.max(0, total(now.servers[server]) - total(prev.servers[server])) / dt : 0,
      ]);
      // Latency over a few samples: a single interval often holds too few calls for a quantile.
      const back = state.samples[Math.max(0, i - 5)];
      const q50 = quantile(0.5, now.servers[server], back.servers[server]);
      const q99 = quantile(0.99, now.servers[server], back.servers[server]);
      p50[server].push([t, q50 === null ? null : q50 * 1000]);
      p99[server].push([t, q99 === null ? null : q99 * 1000]);
    }
  }
  return { servers, rate, p50, p99 };
}

function draw(canvas, lines) {
  const ratio = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width;
  const hgt = canvas.clientHeight || canvas.height;
  canvas.width = w * ratio;
  canvas.height = hgt * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, w, hgt);
  const points = lines.flatMap((l) => l.points).filter((p) => p[1] !== null);
  const pad = { l: 44, r: 8, t: 8, b: 18 };
  // The window is the samples held (up to SAMPLES polls), so a fresh page fills its charts too.
  const t1 = Date.now();
  const t0 = Math.max(
    t1 - POLL_MS * SAMPLES,
    Math.min(t1 - POLL_MS * 10, ...lines.flatMap((l) => l.points.map((p) => p[0]))),
  );
  const max = Math.max(1e-9, ...points.map((p) => p[1])) * 1.15;
  const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * (w - pad.l - pad.r);
  const y = (v) => hgt - pad.b - (v / max) * (hgt - pad.t - pad.b);
  g.strokeStyle = "#e3e6ec";
  g.fillStyle = "#6b7385";
  g.font = "11px system-ui, sans-serif";
  for (let i = 0; i <= 3; i++) {
    const v = (max / 3) * i;
    g.beginPath();
    g.moveTo(pad.l, y(v));
    g.lineTo(w - pad.r, y(v));
    g.stroke();
    g.fillText(v >= 10 ? v.toFixed(0) : v.toFixed(v >= 1 ? 1 : 2), 4, y(v) + 4);
  }
  if (!points.length) {
    g.fillText("no calls yet", pad.l + 8, pad.t + 14);
    return;
  }
  for (const line of lines) {
    g.strokeStyle = line.color;
    g.lineWidth = 2;
    g.setLineDash(line.dash ?? []);
    g.beginPath();
    let drawing = false;
    for (const [t, v] of line.points) {
      if (v === null) {
        drawing = false;
        continue;
      }
      if (drawing) g.lineTo(x(t), y(v));
      else g.moveTo(x(t), y(v));
      drawing = true;
    }
    g.stroke();
  }
  g.setLineDash([]);
}

function drawCharts() {
  const s = series();
  draw($("rate-chart"), s.servers.map((server) => ({ color: colorOf(server), points: s.rate[server] })));
  draw($("latency-chart"), [
    ...s.servers.map((server) => ({ color: colorOf(server), points: s.p50[server] })),
    ...s.servers.map((server) => ({ color: colorOf(server), points: s.p99[server], dash: [4, 3] })),
  ]);
  $("legend").replaceChildren(
    ...s.servers.map((server) => h("span", {}, h("i", { color: colorOf(server) }), server)),
    h("span", { class: "muted" }, "latency: solid p50, dashed p99"),
  );
}

// ---------------------------------------------------------------- events

function connectEvents() {
  const source = new EventSource(
    "/debug/events/stream?from=" + Math.max(1, (state.overview?.asOf.seq ?? 0) - 100),
  );
  source.onopen = () => {
    $("live").textContent = "live";
    $("live").className = "pill on";
  };
  source.onerror = () => {
    $("live").textContent = "reconnecting…";
    $("live").className = "pill off";
  };
  source.addEventListener("dropped", (e) => {
    $("event-note").textContent = `(${JSON.parse(e.data).count} events dropped: the stream fell behind)`;
  });
  const onEvent = (e) => {
    const event = JSON.parse(e.data);
    addEvent(event);
    if (/^(Upstream|Config)|Discovered$/.test(event.type)) refreshSoon();
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, onEvent);
}

const EVENT_TYPES = [
  "ConfigLoaded",
  "ConfigRejected",
  "UpstreamConnecting",
  "UpstreamConnected",
  "UpstreamFailed",
  "ToolsDiscovered",
  "PromptsDiscovered",
  "ResourcesDiscovered",
  "UpstreamRemoved",
  "SessionOpened",
  "BackendSessionBound",
  "BackendSessionInvalidated",
  "SessionClosed",
  "ResourceObserved",
  "ResourceDeleted",
];

function describeEvent(e) {
  const parts = [];
  if (e.server) parts.push(e.server);
  if (e.session) parts.push(`session ${String(e.session).slice(0, 8)}`);
  if (e.stage) parts.push(`${e.stage}: ${e.reason}`);
  else if (e.reason) parts.push(e.reason);
  if (e.tools) parts.push(`${e.tools.length} tools`);
  if (e.prompts) parts.push(`${e.prompts.length} prompts`);
  if (e.config) parts.push(`${e.config.servers.length} servers from ${e.source}`);
  if (e.protocolVersion && !e.session) parts.push(e.protocolVersion);
  if (e.era) parts.push(`era ${e.era}`);
  return parts.join(" · ");
}

function addEvent(e) {
  if (!state.eventTypes.has(e.type)) {
    state.eventTypes.add(e.type);
    $("event-filter").append(h("option", { value: e.type }, e.type));
  }
  if (state.paused) return;
  const filter = $("event-filter").value;
  const list = $("events");
  const item = h(
    "li",
    {
      class: e.type,
      "data-seq": e.seq,
      hidden: Boolean(filter) && filter !== e.type,
      title: JSON.stringify(e),
    },
    h("span", { class: "muted" }, `${e.seq} ${time(e.at)} `),
    h("span", { class: "type" }, e.type),
    " ",
    describeEvent(e),
  );
  list.prepend(item);
  while (list.children.length > EVENTS_SHOWN) list.lastElementChild.remove();
}

// ---------------------------------------------------------------- explain

function kindParam(kind) {
  return kind === "resource" || kind === "template" ? "uri" : kind;
}

function explainServer(server) {
  const served = state.catalog.tools.find((t) => t.server === server.name);
  if (served) explainName("tool", served.name);
}

function explainName(kind, name) {
  $("explain-kind").value = kind;
  $("explain-name").value = name;
  explainNow();
  $("explain-section").scrollIntoView({ block: "nearest" });
}

async function explainNow() {
  const kind = $("explain-kind").value;
  const name = $("explain-name").value.trim();
  if (!name) return;
  const out = $("explain-result");
  try {
    const res = await fetch(`/debug/explain?${kind}=${encodeURIComponent(name)}`);
    const answer = await res.json();
    if (!res.ok) {
      out.replaceChildren(h("p", { class: "warn" }, answer.error));
      return;
    }
    out.replaceChildren(...renderAnswer(answer));
  } catch (e) {
    out.replaceChildren(h("p", { class: "warn" }, `explain failed: ${e.message}`));
  }
}

function facts(pairs) {
  return h(
    "dl",
    {},
    pairs.filter(([, v]) => v !== undefined && v !== "").flatMap((
      [k, v],
    ) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

function renderAnswer(a) {
  const nodes = [h("p", { class: "summary" }, a.summary)];
  if (a.session) {
    nodes.push(facts([
      ["status", a.status],
      [
        "opened",
        a.opened
          ? `${new Date(a.opened.at).toLocaleString()} · ${a.opened.protocolVersion}${
            a.opened.era ? ` · era ${a.opened.era}` : ""
          }`
          : "not in this log",
      ],
      ["bound to", a.bindings.map((b) => `${b.server} (${b.protocolVersion})`).join(", ") || "no backend"],
    ]));
    nodes.push(h("ol", {}, a.events.map((e) => h("li", {}, `seq ${e.seq} ${e.type} ${describeEvent(e)}`))));
  } else if (a.found) {
    const f = a.serverFacts;
    nodes.push(facts([
      ["served by", a.served ? `${a.server} as "${a.upstreamName}"` : `not served (last: ${a.server})`],
      ["prefix", a.prefix === "" ? "none" : a.prefix],
      ["since", a.since ? `${ref(a.since)}${a.since.cause ? ` — ${a.since.cause}` : ""}` : undefined],
      ["first served", a.firstServed ? ref(a.firstServed) : undefined],
      ["last change", a.lastChange ? ref(a.lastChange) : undefined],
      ["config", f?.config ? `${ref(f.config)} · ${f.config.source}` : undefined],
      [
        "conflict",
        a.conflict
          ? `${a.conflict.won ? "won against" : "lost to"} ${
            a.conflict.won ? a.conflict.shadowed.join(", ") : a.conflict.winner
          } since ${ref(a.conflict.since)}`
          : "none",
      ],
      [
        "server status",
        f
          ? `${f.status}${f.era ? ` · era ${f.era}` : ""}${
            f.protocolVersion ? ` · ${f.protocolVersion}` : ""
          }`
          : undefined,
      ],
    ]));
    if (a.history?.length) {
      nodes.push(h("div", { class: "muted" }, "history"));
      nodes.push(
        h(
          "ol",
          { class: "history" },
          a.history.map((x) => h("li", {}, `${x.change}: ${x.cause} (${ref(x)})`)),
        ),
      );
    }
    if (f?.health?.length) {
      nodes.push(h("div", { class: "muted" }, `${f.name} health`));
      nodes.push(
        h(
          "ol",
          { class: "health" },
          f.health.map((x) =>
            h(
              "li",
              {},
              h("span", { class: `dot ${x.status}` }),
              ` ${x.status} ${ref(x)}${x.reason ? ` — ${x.stage}: ${x.reason}` : ""}${
                x.repeats ? ` (×${x.repeats + 1})` : ""
              }`,
            )
          ),
        ),
      );
    }
  } else if (a.candidates?.length) {
    nodes.push(h(
      "p",
      {},
      "Did you mean ",
      ...a.candidates.flatMap((c, i) => [
        i ? ", " : "",
        h(
          "a",
          { class: "explain", onclick: () => explainName(a.kind === "prompt" ? "prompt" : "tool", c) },
          c,
        ),
      ]),
      "?",
    ));
  }
  nodes.push(h("details", {}, h("summary", {}, "answer as JSON"), h("pre", {}, JSON.stringify(a, null, 2))));
  return nodes;
}

// ---------------------------------------------------------------- start

$("explain-form").addEventListener("submit", (e) => {
  e.preventDefault();
  explainNow();
});
$("catalog-filter").addEventListener("input", () => state.overview && renderCatalog(state.overview.catalog));
$("event-filter").addEventListener("change", () => {
  const filter = $("event-filter").value;
  for (const li of $("events").children) li.hidden = Boolean(filter) && !li.classList.contains(filter);
});
$("event-pause").addEventListener("click", () => {
  state.paused = !state.paused;
  $("event-pause").textContent = state.paused ? "Resume" : "Pause";
});
if (params.get("explain")) {
  const [kind, ...rest] = params.get("explain").split("=");
  $("explain-kind").value = kind;
  $("explain-name").value = rest.join("=");
}

refresh().then(() => {
  connectEvents();
  if ($("explain-name").value) explainNow();
});
setInterval(refresh, POLL_MS);
globalThis.addEventListener("resize", drawCharts);
