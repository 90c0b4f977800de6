/** Config parsing: the seed's format, defaults, reference compatibility, and errors that name the field. */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { parseConfig } from "../src/config/parse.ts";
import { parseCli } from "../src/cli.ts";

const creds = {
  file: (p: string) =>
    p === "/secrets/token" ? "Bearer from-file\n" : (() => {
      throw new Error("ENOENT");
    })(),
  env: (n: string) => n === "TOKEN" ? "Bearer from-env" : undefined,
};

Deno.test("the seed's example parses with defaults filled in", () => {
  const result = parseConfig(
    `servers:
  - name: weather-service
    url: http://weather.example.com:8080
    hostname: weather.example.com
    enabled: true
    toolPrefix: "weather_"
  - name: calendar-service
    url: http://calendar.example.com:8080/mcp
`,
    creds,
  );
  assert(result.ok);
  assertEquals(result.config.servers[1], {
    name: "calendar-service",
    url: "http://calendar.example.com:8080/mcp",
    hostname: "calendar.example.com:8080",
    enabled: true,
    toolPrefix: "",
    credential: undefined,
  });
  assertEquals(result.config.virtualServers, []);
});

Deno.test("keys match case-insensitively, as the reference's viper loader did", () => {
  const result = parseConfig(`servers:\n  - name: a\n    URL: http://a/mcp\n    toolprefix: a_\n`, creds);
  assert(result.ok);
  assertEquals(result.config.servers[0].toolPrefix, "a_");
});

Deno.test("credentials resolve from a file or an environment variable", () => {
  const result = parseConfig(
    `servers:\n  - {name: a, url: "http://a/mcp", credentialFile: /secrets/token}\n  - {name: b, url: "http://b/mcp", credentialEnv: TOKEN}\n`,
    creds,
  );
  assert(result.ok);
  assertEquals(result.config.servers.map((s) => s.credential), ["Bearer from-file", "Bearer from-env"]);
});

Deno.test("invalid files are rejected with the field and the problem", () => {
  const cases: [string, RegExp][] = [
    ["servers:\n  - name: a\n    url: ftp://a\n", /servers\[a\]\.url: must be an http/],
    [
      "servers:\n  - name: a\n    url: http://a\n  - name: a\n    url: http://b\n",
      /servers\[1\]\.name: duplicate server name "a"/,
    ],
    ["servers:\n  - name: a\n    url: http://a\n    toolPrefix: 'bad prefix'\n", /servers\[a\]\.toolPrefix/],
    ["servers:\n  - name: a\n    url: http://a\n    enabled: maybe\n", /servers\[a\]\.enabled/],
    ["servers:\n  - name: a\n    url: http://a\n    colour: red\n", /colour/],
    ["servers: [\n", /not valid YAML/],
    ["- just\n- a list\n", /must be a mapping/],
    [
      "servers:\n  - {name: a, url: 'http://a', credentialEnv: MISSING}\n",
      /credentialEnv: environment variable MISSING is not set/,
    ],
    ["servers:\n  - {name: a, url: 'http://a', credentialFile: /nope}\n", /credentialFile: cannot read/],
  ];
  for (const [text, pattern] of cases) {
    const result = parseConfig(text, creds);
    assert(!result.ok, `rejected: ${text}`);
    assertMatch(result.reason, pattern);
  }
});

Deno.test("CLI: seed flags and defaults, reference spellings, strict unknown flags", () => {
  const env = (n: string) => ({ JWT_SESSION_SIGNING_KEY: "from-env" } as Record<string, string>)[n];
  const defaults = parseCli([], env);
  assert(defaults.ok);
  assertEquals(defaults.options.brokerAddress, "0.0.0.0:8080");
  assertEquals(defaults.options.routerAddress, "0.0.0.0:50051");
  assertEquals(defaults.options.configPath, "./config/mcp-system/config.yaml");
  assertEquals(defaults.options.controller, false);
  assertEquals(defaults.options.signingKey, "from-env");
  const legacy = parseCli([
    "--mcp-broker-public-address",
    "127.0.0.1:9",
    "--log-level",
    "8",
    "--log-format",
    "txt",
  ], env);
  assert(legacy.ok);
  assertEquals([legacy.options.brokerAddress, legacy.options.logLevel, legacy.options.logFormat], [
    "127.0.0.1:9",
    "error",
    "text",
  ]);
  const unknown = parseCli(["--mcp-brokr-address", "x"], env);
  assert(!unknown.ok && !unknown.help);
  assertMatch(unknown.error, /mcp-brokr-address/);
  const bad = parseCli(["--mcp-check-interval", "0"], env);
  assert(!bad.ok && !bad.help);
  assertMatch(bad.error, /--mcp-check-interval must be greater than 0/);
});

Deno.test("an empty, whitespace-only or comment-only file is rejected; `servers: []` is accepted", () => {
  for (const text of ["", "   \n\n", "# servers will come later\n", "---\n"]) {
    const result = parseConfig(text, creds);
    assert(!result.ok, JSON.stringify(text));
    assertMatch(result.reason, /empty.*servers: \[\]/);
  }
  const none = parseConfig("servers: []\n", creds);
  assert(none.ok);
  assertEquals(none.config.servers, []);
});

Deno.test("errors name a server by its name, and a YAML error reads as a whole sentence", () => {
  const reason = (text: string) => {
    const result = parseConfig(text, creds);
    assert(!result.ok, text);
    return result.reason;
  };
  assertEquals(
    reason("servers:\n  - name: weather\n    url: http://w\n  - name: calendar\n    url: ftp://c\n"),
    "servers[calendar].url: must be an http:// or https:// URL",
  );
  assertEquals(
    reason("servers:\n  - name: team a/weather\n    url: nope\n"),
    'servers["team a/weather"].url: must be an http:// or https:// URL',
  );
  // No name, or a duplicated one: the index is what tells them apart.
  assertMatch(reason("servers:\n  - url: http://a\n"), /^servers\[0\]\.name: /);
  assertMatch(
    reason("servers:\n  - {name: w, url: 'http://a', credentialEnv: MISSING}\n"),
    /^servers\[w\]\.credentialEnv/,
  );
  assertEquals(
    reason("servers:\n  - name: a\n   url: http://a\n"),
    'not valid YAML at line 3, column 1: Sequence item without - indicator (the line reads "url: http://a")',
  );
  assert(!reason("servers: [\n").endsWith(":"), "a sentence, not a cut-off line");
});

Deno.test("sessionStore: a URL, or a file holding it (a mounted Secret); a bad one is named, never shown", () => {
  const files = {
    file: (p: string) => {
      if (p === "/run/store-url") return "redis://user:s3cret@valkey:6379/0\n";
      if (p === "/run/not-a-store") return "http://user:s3cret@elsewhere/\n";
      throw new Error("ENOENT");
    },
    env: () => undefined,
  };
  const parse = (store: string) => parseConfig(`servers: []\nsessionStore: ${store}\n`, files);
  const fromFile = parse("{ urlFile: /run/store-url }");
  assert(fromFile.ok);
  assertEquals(fromFile.config.sessionStore, { url: "redis://user:s3cret@valkey:6379/0" });
  const inline = parse("{ url: redis://valkey:6379/1 }");
  assert(inline.ok);
  assertEquals(inline.config.sessionStore, { url: "redis://valkey:6379/1" });
  const none = parseConfig("servers: []\n", files);
  assert(none.ok && !("sessionStore" in none.config));

  const problems = [
    ["{ url: http://valkey/ }", /sessionStore\.url: must be memory, or a redis:\/\/ or rediss:\/\/ URL/],
    ["{ url: redis://a/0, urlFile: /run/store-url }", /sessionStore: set one of url, urlFile/],
    ["{}", /sessionStore: set one of url, urlFile/],
    ["{ urlFile: /run/missing }", /sessionStore\.urlFile: cannot read/],
    ["{ urlFile: /run/not-a-store }", /sessionStore\.urlFile: the URL in \/run\/not-a-store must be memory/],
  ] as const;
  for (const [store, reason] of problems) {
    const result = parse(store);
    assert(!result.ok, store);
    assertMatch(result.reason, reason);
    assert(!result.reason.includes("s3cret"), result.reason);
  }
  // Unset, the flag leaves the choice to the config.
  const cli = parseCli([], () => undefined);
  assert(cli.ok && cli.options.sessionStore === undefined);
});
