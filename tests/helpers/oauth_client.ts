/**
 * An MCP SDK client that signs in with OAuth the way a real one does: its first request gets 401, it
 * follows the `resource_metadata` challenge to the protected resource metadata, discovers the
 * authorization server, registers itself dynamically, and sends the user to the authorization URL with
 * PKCE. The "user" is {@link OidcHarness.authorize}, which fills in the provider's login and consent forms.
 *
 * ```ts
 * await using idp = await startOidcProvider({ users: { alice: { password: "pw" } } });
 * await using session = await connectWithOAuth(mcpUrl, idp, { username: "alice", password: "pw" });
 * await session.client.listTools();
 * ```
 */
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/auth"
import { type OAuthClientProvider, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
// @ts-types="@modelcontextprotocol/sdk/shared/auth"
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";
import type { OidcHarness } from "../harness/oidc.ts";

/** Keeps everything in memory and records where it was sent to sign in. */
export class TestOAuthClient implements OAuthClientProvider {
  client?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier?: string;
  /** The authorization URL the SDK built (with `resource`, PKCE challenge, state). */
  authorizationUrl?: URL;
  /** Every token the SDK was given, newest last. */
  readonly issued: OAuthTokens[] = [];

  constructor(
    readonly redirectUrl = "http://127.0.0.1:33418/callback",
    private readonly scope?: string,
  ) {}

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "gateway-test",
      redirect_uris: [String(this.redirectUrl)],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...(this.scope ? { scope: this.scope } : {}),
    };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
    this.issued.push(tokens);
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    if (!this.verifier) throw new Error("no code verifier saved");
    return this.verifier;
  }
}

export interface OAuthSession {
  client: Client;
  transport: StreamableHTTPClientTransport;
  oauth: TestOAuthClient;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Connects an SDK client to a protected MCP endpoint, completing the whole OAuth flow as `user`.
 * Throws when the endpoint does not challenge (401) first: a test of the flow must see the flow.
 */
export async function connectWithOAuth(
  mcpUrl: string,
  idp: OidcHarness,
  user: { username: string; password: string },
  options: { scope?: string } = {},
): Promise<OAuthSession> {
  const oauth = new TestOAuthClient(undefined, options.scope);
  const client = new Client({ name: "gateway-test", version: "1.0.0" }, { capabilities: {} });
  const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: oauth });
  try {
    await client.connect(first);
    throw new Error("the endpoint answered without asking for a token");
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  if (!oauth.authorizationUrl) throw new Error("the client was not sent to sign in");
  const callback = await idp.authorize(oauth.authorizationUrl, user);
  const code = callback.searchParams.get("code");
  if (!code) throw new Error(`sign-in failed: ${callback.search}`);
  await first.finishAuth(code);
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: oauth });
  await client.connect(transport);
  const close = async () => {
    await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  };
  return { client, transport, oauth, close, [Symbol.asyncDispose]: close };
}
