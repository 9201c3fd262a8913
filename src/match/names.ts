/**
 * match/names — which rules' domain and wildcard entries match a name.
 *
 * Map: built once per policy. Exact names and wildcard suffixes are hash tables from a
 * normalized name to the sorted rule orders listing it. A lookup walks the name once from its
 * last character to its first, keeping a rolling hash of the suffix seen so far; at each dot
 * it probes the wildcard table with the hash of the suffix after it, and at the end the exact
 * table with the hash of the whole name (a hit is verified by comparing the strings). So
 * `*.example.com` matches `a.example.com` and `a.b.example.com`, never `example.com` itself;
 * the cost is one pass over the name plus one probe per label, independent of the number of
 * entries (what a reversed-label trie buys, without allocating substrings).
 *
 * Names are expected normalized (lowercase, A-labels, no trailing dot); `normalizeName`
 * does the cheap part (case, trailing dot) for callers that are not sure. IDN conversion
 * is not done here (it needs node:url; the CLI and resolver do it at their boundary).
 * Pure: no I/O.
 */

export interface NameIndex {
  /** rule orders of exact entries equal to `name`, ascending; undefined when none */
  exact(name: string): Int32Array | undefined;
  /** rule orders of wildcard entries `*.suffix`, ascending; undefined when none */
  wildcard(suffix: string): Int32Array | undefined;
  /**
   * The hot path: writes into `out`, as [start, end) pairs of indexes into `pool`, the order
   * lists of the exact entry and of every wildcard entry matching `name`; returns how many
   * pairs. One pass over the name's characters, nothing allocated (a rolling hash of each
   * suffix, verified on a hit). Returns -1 without a result when `name` has an uppercase
   * ASCII letter (the caller normalizes and asks again).
   */
  collect(name: string, out: Int32Array): number;
  /** every order list of the index, back to back (see collect) */
  readonly pool: Int32Array;
  /** true when the policy has any wildcard entry */
  readonly hasWildcards: boolean;
}

/** Lowercase and drop one trailing dot, without allocating when already normal. */
export function normalizeName(name: string): string {
  let n = name;
  if (n.endsWith(".")) n = n.slice(0, -1);
  return /[A-Z]/.test(n) ? n.toLowerCase() : n;
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** FNV-1a over the characters from the last to the first: the state after k steps is the hash of the k-character suffix. */
function suffixHash(s: string): number {
  let h = FNV_OFFSET;
  for (let i = s.length - 1; i >= 0; i--) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

/** Slot of a hash in a power-of-two table (murmur3 finalizer: FNV's low bits alone cluster). */
function slotOf(h: number, mask: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  return x & mask;
}

/**
 * Open-addressing table from a key's hash to its entry: `slots` holds, per slot, [hash,
 * entry index + 1, start, end] (index 0: empty; start/end: the entry's orders in the shared
 * pool), so a lookup touches one cache line of the table and no object until the key string
 * is compared. A hash hit is verified against the key string: a collision never matches a
 * wrong name.
 */
interface HashTable {
  readonly slots: Int32Array;
  readonly mask: number;
  readonly keys: readonly string[];
  /**
   * One bit per filter position, set for every key (a one-hash Bloom filter, about 8 bits
   * per key, small enough to stay in cache): a clear bit proves a miss without touching the
   * much larger slot table. Most suffixes probed while walking a name are misses.
   */
  readonly filter: Int32Array;
  readonly fshift: number;
}

/** Filter bit of a hash: its top bits after a multiplicative mix (independent of slotOf's low bits). */
function filterBit(h: number, shift: number): number {
  return Math.imul(h, 0x9e3779b1) >>> shift;
}

const SLOT = 4;

/** Builds the table; appends each key's sorted unique orders to `pool`. */
function hashTable(entries: Iterable<readonly [string, number]>, pool: number[]): HashTable {
  const lists = new Map<string, number[]>();
  for (const [k, o] of entries) {
    const l = lists.get(k);
    if (l) l.push(o);
    else lists.set(k, [o]);
  }
  let cap = 16;
  while (cap < lists.size * 2) cap *= 2;
  const mask = cap - 1;
  const slots = new Int32Array(cap * SLOT);
  const keys: string[] = [];
  let fbits = 6;
  while (fbits < 30 && 2 ** fbits < lists.size * 8) fbits++;
  const fshift = 32 - fbits;
  const filter = new Int32Array(2 ** (fbits - 5));
  for (const [k, l] of lists) {
    const start = pool.length;
    for (const o of [...new Set(l)].sort((a, b) => a - b)) pool.push(o);
    const idx = keys.length;
    keys.push(k);
    const h = suffixHash(k);
    const f = filterBit(h, fshift);
    filter[f >>> 5] = (filter[f >>> 5] as number) | (1 << (f & 31));
    let slot = slotOf(h, mask);
    while (slots[SLOT * slot + 1] !== 0) slot = (slot + 1) & mask;
    slots[SLOT * slot] = h;
    slots[SLOT * slot + 1] = idx + 1;
    slots[SLOT * slot + 2] = start;
    slots[SLOT * slot + 3] = pool.length;
  }
  return { slots, mask, keys, filter, fshift };
}

/**
 * Slot base (index into `slots`) of the entry for hash `h` whose key is the last
 * `suffixLen` characters of `name`, or -1.
 */
function probe(t: HashTable, h: number, name: string, suffixLen: number): number {
  const f = filterBit(h, t.fshift);
  if (((t.filter[f >>> 5] as number) & (1 << (f & 31))) === 0) return -1;
  const slots = t.slots;
  const mask = t.mask;
  for (let slot = slotOf(h, mask); ; slot = (slot + 1) & mask) {
    const b = SLOT * slot;
    const idx = slots[b + 1] as number;
    if (idx === 0) return -1;
    if (slots[b] === h) {
      const key = t.keys[idx - 1] as string;
      if (key.length === suffixLen && (suffixLen === name.length ? key === name : name.endsWith(key))) return b;
    }
  }
}

export function buildNameIndex(
  exactEntries: Iterable<{ readonly name: string; readonly order: number }>,
  wildcardEntries: Iterable<{ readonly suffix: string; readonly order: number }>,
): NameIndex {
  const poolList: number[] = [];
  const ex = hashTable([...exactEntries].map((e) => [e.name, e.order] as const), poolList);
  const wc = hashTable([...wildcardEntries].map((e) => [e.suffix, e.order] as const), poolList);
  const pool = Int32Array.from(poolList);
  const hasWildcards = wc.keys.length > 0;
  const hasExact = ex.keys.length > 0;
  const lookup = (t: HashTable, key: string): Int32Array | undefined => {
    if (t.keys.length === 0) return undefined;
    const b = probe(t, suffixHash(key), key, key.length);
    return b < 0 ? undefined : pool.subarray(t.slots[b + 2], t.slots[b + 3]);
  };
  const wslots = wc.slots;
  const eslots = ex.slots;
  return {
    exact: (name) => lookup(ex, name),
    wildcard: (suffix) => lookup(wc, suffix),
    pool,
    hasWildcards,
    collect(name: string, out: Int32Array): number {
      let n = 0;
      let h = FNV_OFFSET;
      const len = name.length;
      for (let i = len - 1; i >= 0; i--) {
        const c = name.charCodeAt(i);
        // h is the hash of name[i+1..]; a wildcard needs a dot here and a label before it
        if (c === 46) {
          if (i > 0 && hasWildcards) {
            const b = probe(wc, h, name, len - i - 1);
            if (b >= 0) {
              out[n++] = wslots[b + 2] as number;
              out[n++] = wslots[b + 3] as number;
            }
          }
        } else if (c <= 90 && c >= 65) return -1;
        h = Math.imul(h ^ c, FNV_PRIME);
      }
      if (hasExact) {
        const b = probe(ex, h, name, len);
        if (b >= 0) {
          out[n++] = eslots[b + 2] as number;
          out[n++] = eslots[b + 3] as number;
        }
      }
      return n >> 1;
    },
  };
}

/** The linear definition, for explain and tests: does `*.suffix` match `name`? */
export function wildcardMatches(suffix: string, name: string): boolean {
  return name.length > suffix.length + 1 && name.endsWith(suffix) && name[name.length - suffix.length - 1] === ".";
}
