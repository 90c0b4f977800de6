/**
 * A real OAuth 2.1 / OpenID Connect authorization server for tests: `oidc-provider` (a certified OpenID
 * provider) in this process, on 127.0.0.1 with a port picked by the OS. Its issuer URL is the URL it is
 * reached at, so discovery (RFC 8414 and OIDC) names the same issuer the tokens carry.
 *
 * It offers what the gateway's identity features need from an authorization server:
 * - dynamic client registration (RFC 7591), authorization code + PKCE (S256 only), client credentials;
 * - resource indicators (RFC 8707): access tokens are JWTs (RFC 9068) whose `aud` is the resource asked for;
 * - configurable users (username/password) whose access tokens carry Keycloak-style client roles,
 *   `resource_access["<server>"].roles`; service clients can carry roles too;
 * - short token lifetimes on demand ({@link OidcHarness.setAccessTokenTtl}) and signing key rotation
 *   ({@link OidcHarness.rotateKeys}), with counters of discovery and JWKS requests;
 * - {@link OidcHarness.authorize}: completes the provider's login and consent forms (plain HTML forms)
 *   like a browser would, so a test can drive an MCP SDK client's whole OAuth flow.
 *
 * ```ts
 * await using idp = await startOidcProvider({ users: { alice: { password: "pw", resourceAccess: { weather: ["tool:get_forecast"] } } } });
 * const token = await idp.clientCredentialsToken({ clientId: "svc", resource: "http://127.0.0.1:8080/mcp" });
 * ```
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import Provider, { errors } from "oidc-provider";

export interface OidcUser {
  password: string;
  /** Keycloak-style client roles: `{ "<server>": ["tool:x", "prompt:y"] }` → `resource_access`. */
  resourceAccess?: Record<string, string[]>;
  /** Extra claims for the access token (and userinfo). */
  claims?: Record<string, unknown>;
}

export interface OidcServiceClient {
  clientId: string;
  clientSecret: string;
  /** Roles the client's own (client credentials) tokens carry. */
  resourceAccess?: Record<string, string[]>;
}

export interface OidcHarnessOptions {
  users?: Record<string, OidcUser>;
  /** Confidential clients allowed the client credentials grant. Default: one, `svc` / `svc-secret`. */
  serviceClients?: OidcServiceClient[];
  /** Public clients pre-registered for the code flow (besides dynamically registered ones). */
  publicClients?: { clientId: string; redirectUris: string[] }[];
  /** Scopes every resource server offers. Default `basic`, `mcp:tools`, `mcp:admin`. */
  scopes?: string[];
  /** Resource indicators accepted (exact URLs); default: any http(s) URL. */
  resources?: string[];
  /** Access token lifetime in seconds (default 300). */
  accessTokenTtl?: number;
  /** Signing algorithm of the provider's keys (default RS256). */
  alg?: "RS256" | "ES256" | "PS256";
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
}

export interface OidcHarness {
  /** `http://127.0.0.1:PORT`: the issuer and the base of every endpoint. */
  issuer: string;
  /** The `kid` tokens are signed with now. */
  readonly kid: string;
  /** Requests seen per path (e.g. `/jwks`, `/.well-known/openid-configuration`). */
  readonly hits: ReadonlyMap<string, number>;
  /** Lifetime of access tokens issued from now on, seconds. */
  setAccessTokenTtl(seconds: number): void;
  /**
   * Signs with a new key from now on. `keepOld` (default true) keeps publishing the old key, as real
   * providers do during a rotation; false drops it, so tokens signed with it stop verifying.
   */
  rotateKeys(options?: { keepOld?: boolean }): Promise<string>;
  clientCredentialsToken(
    options: { clientId?: string; clientSecret?: string; resource: string; scope?: string },
  ): Promise<TokenResponse>;
  /**
   * Plays the browser for an authorization URL: follows redirects, submits the login form with the
   * user's credentials and the consent form, and stops at the client's redirect URI.
   */
  authorize(authorizationUrl: string | URL, user: { username: string; password: string }): Promise<URL>;
  /** A user's access token for `resource`, by the whole code + PKCE flow with a pre-registered public client. */
  userToken(
    username: string,
    options: { resource: string; scope?: string; password?: string },
  ): Promise<TokenResponse>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_SCOPES = ["basic", "mcp:tools", "mcp:admin"];
/** A public client the harness itself uses for {@link OidcHarness.userToken}. */
const HARNESS_CLIENT = { clientId: "harness-public", redirectUri: "http://127.0.0.1/harness-callback" };

async function signingKey(alg: string, kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg, use: "sig" };
}

function html(body: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign-in</title></head><body>${body}</body></html>`;
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of req) text += decoder.decode(chunk as Uint8Array, { stream: true });
  return new URLSearchParams(text + decoder.decode());
}

export async function startOidcProvider(options: OidcHarnessOptions = {}): Promise<OidcHarness> {
  const users = options.users ?? {};
  const serviceClients = options.serviceClients ?? [{ clientId: "svc", clientSecret: "svc-secret" }];
  const scopes = options.scopes ?? DEFAULT_SCOPES;
  const alg = options.alg ?? "RS256";
  let ttl = options.accessTokenTtl ?? 300;
  let generation = 1;
  let keys: JWK[] = [await signingKey(alg, `key-${generation}`)];
  const hits = new Map<string, number>();

  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as { port: number };
  const issuer = `http://127.0.0.1:${port}`;
  const cookieKeys = [crypto.randomUUID(), crypto.randomUUID()];

  const makeProvider = () =>
    new Provider(issuer, {
      jwks: { keys },
      cookies: { keys: cookieKeys },
      scopes: ["openid", "offline_access", ...scopes],
      clients: [
        ...serviceClients.map((c) => ({
          client_id: c.clientId,
          client_secret: c.clientSecret,
          grant_types: ["client_credentials"],
          redirect_uris: [],
          response_types: [],
          scope: scopes.join(" "),
        })),
        ...[
          { clientId: HARNESS_CLIENT.clientId, redirectUris: [HARNESS_CLIENT.redirectUri] },
          ...(options.publicClients ?? []),
        ]
          .map((c) => ({
            client_id: c.clientId,
            token_endpoint_auth_method: "none",
            grant_types: ["authorization_code", "refresh_token"],
            response_types: ["code"],
            redirect_uris: c.redirectUris,
          })),
      ],
      pkce: { required: () => true },
      // ID tokens are signed with the same (only) key type; the default RS256 needs an RSA key.
      clientDefaults: { id_token_signed_response_alg: alg, grant_types: ["authorization_code"] },
      features: {
        devInteractions: { enabled: false },
        registration: { enabled: true },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, resource: string) => {
            if (options.resources && !options.resources.includes(resource)) throw new errors.InvalidTarget();
            if (!/^https?:\/\//.test(resource)) throw new errors.InvalidTarget();
            return {
              scope: scopes.join(" "),
              audience: resource,
              accessTokenTTL: ttl,
              accessTokenFormat: "jwt",
              jwt: { sign: { alg } },
            };
          },
        },
      },
      interactions: {
        url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
      },
      findAccount: (_ctx: unknown, id: string) =>
        Object.hasOwn(users, id)
          ? { accountId: id, claims: () => ({ sub: id, preferred_username: id, ...users[id].claims }) }
          : undefined,
      extraTokenClaims: (_ctx: unknown, token: { kind: string; accountId?: string; clientId?: string }) => {
        const roles = token.accountId !== undefined
          ? users[token.accountId]?.resourceAccess
          : serviceClients.find((c) => c.clientId === token.clientId)?.resourceAccess;
        const extra: Record<string, unknown> = token.accountId !== undefined
          ? { preferred_username: token.accountId, ...users[token.accountId]?.claims }
          : {};
        if (roles) {
          extra.resource_access = Object.fromEntries(
            Object.entries(roles).map(([server, list]) => [server, { roles: list }]),
          );
        }
        return extra;
      },
      ttl: {
        AccessToken: () => ttl,
        ClientCredentials: () => ttl,
        AuthorizationCode: 60,
        Interaction: 600,
        Session: 3600,
        Grant: 3600,
        IdToken: 3600,
        RefreshToken: 3600,
      },
    });

  const startProvider = () => {
    const instance = makeProvider();
    // Its default "server_error" listener prints stack traces; tests read the HTTP answers instead.
    instance.on("server_error", () => {});
    return instance;
  };
  let provider = startProvider();

  /** Login and consent pages: plain forms, as a test's "browser" finds them. */
  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error("interaction mismatch");
    const prompt = details.prompt.name;
    if (req.method === "POST") {
      const form = await readForm(req);
      if (prompt === "login") {
        const username = form.get("username") ?? "";
        const user = Object.hasOwn(users, username) ? users[username] : undefined;
        if (!user || user.password !== form.get("password")) {
          res.statusCode = 401;
          res.setHeader("content-type", "text/html");
          res.end(html(`<p class="error">Invalid username or password.</p>${loginForm(uid)}`));
          return;
        }
        await provider.interactionFinished(req, res, { login: { accountId: username } }, {
          mergeWithLastSubmission: false,
        });
        return;
      }
      if (prompt === "consent") {
        if (form.get("decision") !== "allow") {
          await provider.interactionFinished(req, res, {
            error: "access_denied",
            error_description: "the user denied access",
          }, { mergeWithLastSubmission: false });
          return;
        }
        const { grantId, session, params } = details;
        const grant = grantId
          ? (await provider.Grant.find(grantId))!
          : new provider.Grant({ accountId: session!.accountId, clientId: params.client_id as string });
        const missing = details.prompt.details as {
          missingOIDCScope?: string[];
          missingOIDCClaims?: string[];
          missingResourceScopes?: Record<string, string[]>;
        };
        if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
        if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
        for (const [indicator, list] of Object.entries(missing.missingResourceScopes ?? {})) {
          grant.addResourceScope(indicator, list.join(" "));
        }
        await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, {
          mergeWithLastSubmission: true,
        });
        return;
      }
    }
    res.setHeader("content-type", "text/html");
    res.setHeader("cache-control", "no-store");
    res.end(html(prompt === "login" ? loginForm(uid) : consentForm(uid, String(details.params.client_id))));
  }

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", issuer).pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const match = /^\/interaction\/([^/]+)$/.exec(path);
    if (match) {
      interaction(req, res, match[1]).catch((e) => {
        res.statusCode = 400;
        res.setHeader("content-type", "text/plain");
        res.end(`interaction failed: ${e instanceof Error ? e.message : e}`);
      });
      return;
    }
    provider.callback()(req, res);
  });

  const tokenEndpoint = `${issuer}/token`;

  const harness: OidcHarness = {
    issuer,
    get kid() {
      return keys[0].kid!;
    },
    hits,
    setAccessTokenTtl(seconds) {
      ttl = seconds;
    },
    async rotateKeys({ keepOld = true } = {}) {
      generation++;
      const fresh = await signingKey(alg, `key-${generation}`);
      keys = keepOld ? [fresh, ...keys] : [fresh];
      // The provider reads its keys once; a new instance over the same (process-wide) storage keeps
      // registered clients, sessions and grants.
      provider = startProvider();
      return fresh.kid!;
    },
    async clientCredentialsToken({ clientId, clientSecret, resource, scope }) {
      const client = serviceClients.find((c) => c.clientId === (clientId ?? serviceClients[0]?.clientId));
      const id = clientId ?? client?.clientId ?? "";
      const secret = clientSecret ?? client?.clientSecret ?? "";
      const body = new URLSearchParams({ grant_type: "client_credentials", resource });
      if (scope !== undefined) body.set("scope", scope);
      const response = await fetch(tokenEndpoint, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`,
        },
        body,
      });
      const json = await response.json();
      if (!response.ok) throw new Error(`token request failed: ${response.status} ${JSON.stringify(json)}`);
      return json as TokenResponse;
    },
    authorize: (url, user) => playBrowser(issuer, url, user),
    async userToken(username, { resource, scope, password }) {
      const verifier = randomToken();
      const challenge = await s256(verifier);
      const state = randomToken();
      const url = new URL(`${issuer}/auth`);
      url.search = new URLSearchParams({
        client_id: HARNESS_CLIENT.clientId,
        response_type: "code",
        redirect_uri: HARNESS_CLIENT.redirectUri,
        scope: scope ?? scopes.join(" "),
        resource,
        state,
        code_challenge: challenge,
        code_challenge_method: "S256",
      }).toString();
      const callback = await playBrowser(issuer, url, {
        username,
        password: password ?? users[username]?.password,
      });
      const code = callback.searchParams.get("code");
      if (!code || callback.searchParams.get("state") !== state) {
        throw new Error(`authorization failed: ${callback.search}`);
      }
      const response = await fetch(tokenEndpoint, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          client_id: HARNESS_CLIENT.clientId,
          code,
          redirect_uri: HARNESS_CLIENT.redirectUri,
          code_verifier: verifier,
          resource,
        }),
      });
      const json = await response.json();
      if (!response.ok) throw new Error(`token request failed: ${response.status} ${JSON.stringify(json)}`);
      return json as TokenResponse;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    [Symbol.asyncDispose]() {
      return this.stop();
    },
  };
  return harness;
}

function loginForm(uid: string): string {
  return `<h1>Sign in</h1>
<form method="post" action="/interaction/${escapeHtml(uid)}">
  <input type="text" name="username" autofocus>
  <input type="password" name="password">
  <button type="submit">Sign in</button>
</form>`;
}

function consentForm(uid: string, clientId: string): string {
  return `<h1>Authorize ${escapeHtml(clientId)}</h1>
<form method="post" action="/interaction/${escapeHtml(uid)}">
  <input type="hidden" name="decision" value="allow">
  <button type="submit">Allow</button>
</form>`;
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function s256(verifier: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  return btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const decodeEntities = (s: string) =>
  s.replace(
    /&(amp|lt|gt|quot|#39);/g,
    (_m, e) => ({ amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" })[e as string]!,
  );

/** The one form on a page: its action and its fields (hidden values and empty text inputs). */
function parseForm(page: string, base: string): { action: URL; fields: URLSearchParams } | undefined {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(page);
  if (!form) return undefined;
  const action = /\baction="([^"]*)"/i.exec(form[1])?.[1] ?? "";
  const fields = new URLSearchParams();
  for (const input of form[2].matchAll(/<input\b([^>]*)>/gi)) {
    const name = /\bname="([^"]*)"/i.exec(input[1])?.[1];
    if (!name) continue;
    fields.set(decodeEntities(name), decodeEntities(/\bvalue="([^"]*)"/i.exec(input[1])?.[1] ?? ""));
  }
  return { action: new URL(decodeEntities(action), base), fields };
}

/**
 * A browser, reduced to what an authorization flow needs: a cookie jar for the issuer, manual redirects,
 * and form submission. Returns the URL the provider finally redirects to outside itself (the client's
 * redirect URI, with `code` and `state`, or `error`).
 */
async function playBrowser(
  issuer: string,
  start: string | URL,
  user: { username: string; password?: string },
): Promise<URL> {
  const jar = new Map<string, string>();
  const origin = new URL(issuer).origin;
  let url = new URL(start);
  let init: RequestInit = { method: "GET" };
  for (let step = 0; step < 20; step++) {
    if (url.origin !== origin) return url;
    const headers = new Headers(init.headers);
    if (jar.size > 0) headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(cookie) || value === "") jar.delete(name);
      else jar.set(name, value);
    }
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      url = new URL(location, url);
      init = { method: "GET" };
      continue;
    }
    const page = await response.text();
    const form = parseForm(page, url.href);
    if (!form) {
      throw new Error(
        `authorization stopped at ${url.pathname} (HTTP ${response.status}): ${page.slice(0, 300)}`,
      );
    }
    if (form.fields.has("username")) {
      if (page.includes('class="error"')) throw new Error(`login refused for ${user.username}`);
      form.fields.set("username", user.username);
      form.fields.set("password", user.password ?? "");
    }
    url = form.action;
    init = {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form.fields.toString(),
    };
  }
  throw new Error("authorization did not finish in 20 steps");
}
