/**
 * A ConfigMap or Secret volume laid out the way the kubelet's atomic writer lays it out, so end-to-end tests
 * exercise the same file-system events a pod sees:
 *
 * ```
 * dir/..2026_01_01_00_00_00.000000001/config.yaml   the payload, one directory per version
 * dir/..data -> ..2026_01_01_00_00_00.000000001     swapped by rename(2) on every update
 * dir/config.yaml -> ..data/config.yaml             never changes
 * ```
 *
 * @example
 * ```ts
 * await using vol = await kubeletVolume("config");
 * await vol.write({ "config.yaml": "servers: []" });
 * await vol.write({ "config.yaml": "servers: [...]" }); // ..data swap, as on a ConfigMap update
 * ```
 */

export interface KubeletVolume {
  /** The mount directory (what a container sees at its mountPath). */
  dir: string;
  /** Publishes a new version: a fresh timestamped directory, then an atomic `..data` symlink swap. */
  write(files: Record<string, string>): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Creates an empty volume directory under a fresh temp dir. */
export async function kubeletVolume(name: string): Promise<KubeletVolume> {
  const dir = await Deno.makeTempDir({ prefix: `kubelet-${name}-` });
  let version = 0;
  let current: string | undefined;
  const visible = new Set<string>();
  return {
    dir,
    async write(files) {
      const stamp = `..2026_01_01_00_00_00.${String(++version).padStart(9, "0")}`;
      await Deno.mkdir(`${dir}/${stamp}`);
      for (const [key, text] of Object.entries(files)) {
        await Deno.writeTextFile(`${dir}/${stamp}/${key}`, text);
      }
      await Deno.symlink(stamp, `${dir}/..data_tmp`);
      await Deno.rename(`${dir}/..data_tmp`, `${dir}/..data`);
      for (const key of Object.keys(files)) {
        if (visible.has(key)) continue;
        await Deno.symlink(`..data/${key}`, `${dir}/${key}`);
        visible.add(key);
      }
      // Keys dropped from the object: the kubelet removes their user-visible links.
      for (const key of [...visible]) {
        if (key in files) continue;
        await Deno.remove(`${dir}/${key}`);
        visible.delete(key);
      }
      if (current) await Deno.remove(`${dir}/${current}`, { recursive: true });
      current = stamp;
    },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/** Decodes a Secret's base64 `data` into file contents, as the kubelet does when it mounts it. */
export function secretFiles(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, atob(v)]));
}
