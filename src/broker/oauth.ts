/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) from the seed's `OAUTH_*` variables, read per request
 * so a `kubectl set env` restart is not even needed for a value to change in a long-lived process.
 */

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS, HEAD",
  "access-control-allow-headers": "Content-Type, Authorization, Accept, Origin, X-Requested-With",
  "access-control-max-age": "3600",
  "access-control-allow-credentials": "true",
};

function list(value: string | undefined, fallback: string[]): string[] {
  if (value === undefined) return fallback;
  return value.split(",").map((v) => v.trim()).filter((v) => v !== "");
}

/** The metadata document, as the seed's table defines each field and default. */
export function protectedResourceMetadata(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
) {
  return {
    resource_name: env("OAUTH_RESOURCE_NAME") ?? "MCP Server",
    resource: env("OAUTH_RESOURCE") ?? "/mcp",
    authorization_servers: list(env("OAUTH_AUTHORIZATION_SERVERS"), []),
    bearer_methods_supported: list(env("OAUTH_BEARER_METHODS_SUPPORTED"), ["header"]),
    scopes_supported: list(env("OAUTH_SCOPES_SUPPORTED"), ["basic"]),
  };
}

export function handleProtectedResource(
  req: Request,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Response {
  if (req.method === "OPTIONS") return new Response(null, { status: 200, headers: CORS });
  return Response.json(protectedResourceMetadata(env), { headers: CORS });
}
