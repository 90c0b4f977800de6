/**
 * Before the tests: the Debian packages they run for real (`redis-server` for the replica tests, `chromium` for
 * the console test) are installed when missing, so `deno task test` on a fresh machine sets itself up. The list
 * is `.ci/apt-packages`, the one CI installs from. Without root or apt-get, it says what is missing and how to
 * install it, and the tests that need it say so again when they fail.
 */
const LIST = new URL("../.ci/apt-packages", import.meta.url);

async function installed(pkg: string): Promise<boolean> {
  try {
    const { success, stdout } = await new Deno.Command("dpkg-query", {
      args: ["-W", "-f=${Status}", pkg],
      stdout: "piped",
      stderr: "null",
    }).output();
    return success && new TextDecoder().decode(stdout).includes("install ok installed");
  } catch {
    return false; // no dpkg: not a Debian machine
  }
}

async function run(command: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, {
      args,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdout: "null",
      stderr: "inherit",
    }).output();
    return success;
  } catch {
    return false;
  }
}

const wanted = (await Deno.readTextFile(LIST)).split("\n").map((l) => l.trim()).filter((l) =>
  l && !l.startsWith("#")
);
const missing: string[] = [];
for (const pkg of wanted) if (!await installed(pkg)) missing.push(pkg);
if (missing.length) {
  const root = Deno.uid?.() === 0;
  console.error(`test setup: installing Debian packages the tests use: ${missing.join(", ")}`);
  const ok = root && await run("apt-get", ["update", "-qq"]) &&
    await run("apt-get", ["install", "-y", "-qq", ...missing]);
  if (!ok) {
    console.error(
      `test setup: could not install them${root ? "" : " (not root)"}; the tests that need them will fail. ` +
        `Install with: sudo apt-get install -y ${missing.join(" ")}`,
    );
  }
}
