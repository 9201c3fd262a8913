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
   * The hot path: writes into `out` the order lists of the exact entry and of every wildcard
   * entry matching `name`, returns how many. One pass over the name's characters, no
   * substring allocated (a rolling hash of each suffix, verified on a hit).
   */
  collect(name: string, out: Int32Array[]): number;
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
 * Open-addressing table from a key's hash to its entry: `slots` holds [hash, entry index + 1]
 * pairs (0: empty), so a miss costs one cache line and no object is touched. A hash hit is
 * verified against the key string by the caller: a collision never matches a wrong name.
 */
interface HashTable {
  readonly slots: Int32Array;
  readonly mask: number;
  readonly keys: readonly string[];
  readonly orders: readonly Int32Array[];
  readonly byKey: ReadonlyMap<string, Int32Array>;
}

function hashTable(entries: Iterable<readonly [string, number]>): HashTable {
  const lists = new Map<string, number[]>();
  for (const [k, o] of entries) {
    const l = lists.get(k);
    if (l) l.push(o);
    else lists.set(k, [o]);
  }
  let cap = 16;
  while (cap < lists.size * 2) cap *= 2;
  const mask = cap - 1;
  const slots = new Int32Array(cap * 2);
  const keys: string[] = [];
  const orders: Int32Array[] = [];
  const byKey = new Map<string, Int32Array>();
  for (const [k, l] of lists) {
    const o = Int32Array.from(new Set(l)).sort();
    const idx = keys.length;
    keys.push(k);
    orders.push(o);
    byKey.set(k, o);
    const h = suffixHash(k);
    let slot = slotOf(h, mask);
    while (slots[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
    slots[2 * slot] = h;
    slots[2 * slot + 1] = idx + 1;
  }
  return { slots, mask, keys, orders, byKey };
}

/** Entry index for hash `h` whose key satisfies `same`, or -1. */
function probe(t: HashTable, h: number, name: string, suffixLen: number): number {
  const slots = t.slots;
  for (let slot = slotOf(h, t.mask); ; slot = (slot + 1) & t.mask) {
    const idx = slots[2 * slot + 1] as number;
    if (idx === 0) return -1;
    if (slots[2 * slot] === h) {
      const key = t.keys[idx - 1] as string;
      if (key.length === suffixLen && (suffixLen === name.length ? key === name : name.endsWith(key))) return idx - 1;
    }
  }
}

export function buildNameIndex(
  exactEntries: Iterable<{ readonly name: string; readonly order: number }>,
  wildcardEntries: Iterable<{ readonly suffix: string; readonly order: number }>,
): NameIndex {
  const ex = hashTable([...exactEntries].map((e) => [e.name, e.order] as const));
  const wc = hashTable([...wildcardEntries].map((e) => [e.suffix, e.order] as const));
  const hasWildcards = wc.keys.length > 0;
  const hasExact = ex.keys.length > 0;
  return {
    exact: (name) => ex.byKey.get(name),
    wildcard: (suffix) => wc.byKey.get(suffix),
    hasWildcards,
    collect(name: string, out: Int32Array[]): number {
      let n = 0;
      let h = FNV_OFFSET;
      const len = name.length;
      for (let i = len - 1; i >= 0; i--) {
        const c = name.charCodeAt(i);
        // h is the hash of name[i+1..]; a wildcard needs a dot here and a label before it
        if (c === 46 && i > 0 && hasWildcards) {
          const e = probe(wc, h, name, len - i - 1);
          if (e >= 0) out[n++] = wc.orders[e] as Int32Array;
        }
        h = Math.imul(h ^ c, FNV_PRIME);
      }
      if (hasExact) {
        const e = probe(ex, h, name, len);
        if (e >= 0) out[n++] = ex.orders[e] as Int32Array;
      }
      return n;
    },
  };
}

/** The linear definition, for explain and tests: does `*.suffix` match `name`? */
export function wildcardMatches(suffix: string, name: string): boolean {
  return name.length > suffix.length + 1 && name.endsWith(suffix) && name[name.length - suffix.length - 1] === ".";
}
