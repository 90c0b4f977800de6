/**
 * The session signing key belongs in the environment: a flag puts it in `ps` and in `deno task`'s echo of
 * the command line. The gateway says so when the flag carries it, and never prints the key itself.
 */
import { assert, assertMatch } from "./helpers/assert.ts";
import { startGatewayProcess, TEST_SIGNING_KEY } from "./helpers/gateway.ts";

const WARNING = /WARN .*signing key was passed as a flag.*JWT_SESSION_SIGNING_KEY/;

Deno.test("a signing key passed as a flag is warned about; one from JWT_SESSION_SIGNING_KEY is not", async () => {
  // The test helper passes --session-signing-key itself.
  const flagged = await startGatewayProcess({ config: { servers: [] } });
  await flagged.stop();
  assertMatch(flagged.logs(), WARNING);
  assert(!flagged.logs().includes(TEST_SIGNING_KEY), "the key itself is never logged");

  const alias = await startGatewayProcess({
    config: { servers: [] },
    args: ["--gateway-signing-key", "another-key-0123456789abcdef0123456789abcdef"],
  });
  await alias.stop();
  assertMatch(alias.logs(), WARNING);

  const fromEnv = await startGatewayProcess({
    config: { servers: [] },
    signingKeyFlag: false,
    env: { JWT_SESSION_SIGNING_KEY: "env-key-0123456789abcdef0123456789abcdef" },
  });
  await fromEnv.stop();
  assert(!WARNING.test(fromEnv.logs()), fromEnv.logs());
  assert(!fromEnv.logs().includes("env-key-0123456789"), "the key itself is never logged");
});
