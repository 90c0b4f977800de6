/** URL redaction: userinfo and query values go, everything an operator needs to recognise the server stays. */
import { assertEquals } from "./helpers/assert.ts";
import { redactPath, redactUrl, redactUrlsIn } from "../src/observe/redact.ts";

Deno.test("redactUrl drops userinfo and query values, keeps host, path, keys and fragment", () => {
  const cases: [string, string][] = [
    ["http://127.0.0.1:9001/mcp", "http://127.0.0.1:9001/mcp"],
    [
      "https://bot:s3cret@tools.example.com:8443/mcp?api_key=abc&v=2#top",
      "https://redacted@tools.example.com:8443/mcp?api_key=redacted&v=redacted#top",
    ],
    ["http://token@host?flag", "http://redacted@host?redacted"],
    ["http://a@b@host/x?k=&&j=1", "http://redacted@host/x?k=redacted&&j=redacted"],
    ["http://[::1]:80/p?x=%20y", "http://[::1]:80/p?x=redacted"],
    ["not a url", "not a url"],
  ];
  for (const [input, expected] of cases) assertEquals(redactUrl(input), expected, input);
});

Deno.test("redactUrlsIn redacts every URL in a message and leaves the sentence intact", () => {
  assertEquals(
    redactUrlsIn(
      "error sending request for url (http://u:p@127.0.0.1:9/mcp?api_key=SECRET): refused; also https://x/y?z=2.",
    ),
    "error sending request for url (http://redacted@127.0.0.1:9/mcp?api_key=redacted): refused; also https://x/y?z=redacted.",
  );
  assertEquals(redactUrlsIn("no url here: a=b?c"), "no url here: a=b?c");
  assertEquals(redactPath("/mcp?key=1"), "/mcp?key=redacted");
  assertEquals(redactPath("/mcp"), "/mcp");
});
