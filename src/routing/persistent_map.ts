/**
 * An immutable map from strings, for projections that change a few entries of a large index per event: a
 * new version copies only the buckets its changes touch (and the bucket table), so an edit costs in
 * proportion to the entries edited, not to the map's size, and every earlier version stays as it was.
 *
 * ```ts
 * const routes = PersistentMap.from([["a_echo", 1]]);
 * const next = routes.with([["b_echo", 2], ["a_echo", undefined]]); // set one, delete one
 * routes.get("a_echo"); // 1: the old version is untouched
 * ```
 */

/** Buckets per map: with 10,000 entries a bucket holds about 10, so copying one is cheap. */
const BUCKETS = 1024;

/** FNV-1a over UTF-16 code units, folded to a bucket. */
function bucketOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) & (BUCKETS - 1);
}

export class PersistentMap<V> implements ReadonlyMap<string, V> {
  private constructor(
    private readonly buckets: readonly (ReadonlyMap<string, V> | undefined)[],
    readonly size: number,
  ) {}

  static readonly #empty = new PersistentMap<never>(new Array(BUCKETS).fill(undefined), 0);

  static empty<V>(): PersistentMap<V> {
    return PersistentMap.#empty as PersistentMap<V>;
  }

  static from<V>(entries: Iterable<readonly [string, V]>): PersistentMap<V> {
    return PersistentMap.empty<V>().with(entries);
  }

  /** A new version with `changes` applied: a value sets its key, `undefined` deletes it. */
  with(changes: Iterable<readonly [string, V | undefined]>): PersistentMap<V> {
    let buckets: (ReadonlyMap<string, V> | undefined)[] | undefined;
    const copied = new Set<number>();
    let size = this.size;
    for (const [key, value] of changes) {
      const b = bucketOf(key);
      const current = (buckets ?? this.buckets)[b];
      if (value === undefined && !current?.has(key)) continue;
      buckets ??= [...this.buckets];
      let bucket = buckets[b] as Map<string, V> | undefined;
      if (!copied.has(b)) {
        bucket = new Map(bucket);
        buckets[b] = bucket;
        copied.add(b);
      }
      if (value === undefined) {
        bucket!.delete(key);
        size--;
      } else {
        if (!bucket!.has(key)) size++;
        bucket!.set(key, value);
      }
    }
    if (!buckets) return this;
    for (const b of copied) if (!buckets[b]!.size) buckets[b] = undefined;
    return new PersistentMap(buckets, size);
  }

  get(key: string): V | undefined {
    return this.buckets[bucketOf(key)]?.get(key);
  }

  has(key: string): boolean {
    return this.buckets[bucketOf(key)]?.has(key) ?? false;
  }

  *entries(): MapIterator<[string, V]> {
    for (const bucket of this.buckets) if (bucket) yield* bucket.entries();
  }

  *keys(): MapIterator<string> {
    for (const bucket of this.buckets) if (bucket) yield* bucket.keys();
  }

  *values(): MapIterator<V> {
    for (const bucket of this.buckets) if (bucket) yield* bucket.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }
}
