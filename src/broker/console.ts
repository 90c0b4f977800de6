/**
 * `GET /console`: the operator console, a single page of plain HTML, CSS and JS (no build step) that reads
 * `/debug/overview`, `/debug/events/stream` and `/debug/explain`. The files ship inside the executable
 * (`deno compile --include src/broker/console/`) and are read through `import.meta.url`, so the same code
 * serves them from a checkout and from the compiled binary.
 */
const FILES: Record<string, { file: string; type: string }> = {
  "/console": { file: "index.html", type: "text/html; charset=utf-8" },
  "/console/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/console/console.js": { file: "console.js", type: "text/javascript; charset=utf-8" },
  "/console/console.css": { file: "console.css", type: "text/css; charset=utf-8" },
};

const HEADERS = {
  // Everything the page loads or calls is its own origin's.
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

const cache = new Map<string, Uint8Array>();

export async function handleConsole(path: string): Promise<Response> {
  const entry = FILES[path];
  if (!entry) return new Response("Not found. The console is at /console.\n", { status: 404 });
  let body = cache.get(entry.file);
  if (!body) {
    body = await Deno.readFile(new URL(`./console/${entry.file}`, import.meta.url));
    cache.set(entry.file, body);
  }
  return new Response(body as Uint8Array<ArrayBuffer>, {
    headers: { ...HEADERS, "content-type": entry.type },
  });
}
