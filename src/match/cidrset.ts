/**
 * match/cidrset — which rules' CIDR entries contain an address, in O(log n) and O(n) memory.
 *
 * Map: built once per policy from (Cidr, rule order) pairs. CIDRs never partially overlap
 * (prefix-aligned), so they form a forest: each distinct CIDR is a node holding the sorted
 * rule orders that list it, with a pointer to the next enclosing CIDR. The address line is
 * cut into elementary intervals, each naming its innermost node. A lookup binary-searches the
 * interval starts and returns that node; the caller walks `parent` links (at most 33 or 129).
 * Storing only the innermost node (not every covering rule per interval) keeps memory linear
 * even when one wide range encloses 100k narrow ones.
 *
 * Interval starts are 32-bit words in a Uint32Array (one per IPv4 start, four per IPv6
 * start), so lookups never compare bigints; the nodes are also laid out flat (parent and a
 * slice of one shared order pool per node) so the hot path touches no object. Pure: no I/O.
 */
import type { Cidr } from "../policy/ir.ts";
import type { IpAddr } from "../policy/addr.ts";

export interface CidrNode {
  readonly cidr: Cidr;
  /** rule orders listing exactly this CIDR, ascending, unique */
  readonly orders: Int32Array;
  /** index of the next enclosing node, or -1 */
  readonly parent: number;
}

export interface CidrSet {
  /** index into `nodes` of the innermost CIDR containing ip, or -1 */
  lookup(ip: IpAddr): number;
  /** the same for an IPv4 address given as a number (0 .. 2^32-1): no bigint on the hot path */
  lookup4(v: number): number;
  /** the same for an IPv6 address given as four 32-bit words, most significant first */
  lookup6(w0: number, w1: number, w2: number, w3: number): number;
  readonly nodes: readonly CidrNode[];
  /**
   * The nodes as flat arrays, for the hot path: per node i, `flat[3i]` is the parent (or -1)
   * and `pool[flat[3i+1] .. flat[3i+2])` are its orders (the same values as nodes[i]).
   */
  readonly flat: Int32Array;
  readonly pool: Int32Array;
}

interface FamilyIndex {
  /** words per start: 1 (IPv4) or 4 (IPv6) */
  readonly words: number;
  readonly starts: Uint32Array;
  /** node per interval, -1 for gaps */
  readonly node: Int32Array;
  readonly count: number;
  /** first-level index on the top 16 bits (see buildTop), for large sets */
  readonly top: Int32Array | null;
}

const M32 = 0xffffffffn;

function toWords(v: bigint, words: number, out: number[]): void {
  if (words === 1) {
    out[0] = Number(v);
    return;
  }
  out[0] = Number(v >> 96n);
  out[1] = Number((v >> 64n) & M32);
  out[2] = Number((v >> 32n) & M32);
  out[3] = Number(v & M32);
}

function buildFamily(family: 4 | 6, entries: Array<{ cidr: Cidr; orders: number[] }>, nodes: CidrNode[]): FamilyIndex {
  const bits = family === 4 ? 32 : 128;
  const max = (1n << BigInt(bits)) - 1n;
  const words = family === 4 ? 1 : 4;
  // parents first: ascending first address, then wider prefix first
  entries.sort((a, b) => (a.cidr.addr < b.cidr.addr ? -1 : a.cidr.addr > b.cidr.addr ? 1 : a.cidr.prefix - b.cidr.prefix));
  const starts: bigint[] = [];
  const ival: number[] = [];
  const emit = (start: bigint, node: number): void => {
    if (starts.length > 0 && starts[starts.length - 1] === start) ival[ival.length - 1] = node;
    else {
      starts.push(start);
      ival.push(node);
    }
  };
  const lastOf = (c: Cidr): bigint => c.addr | ((1n << BigInt(bits - c.prefix)) - 1n);
  const stack: Array<{ idx: number; last: bigint }> = [];
  const popTo = (first: bigint | null): void => {
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { idx: number; last: bigint };
      if (first !== null && top.last >= first) break;
      stack.pop();
      if (top.last < max) emit(top.last + 1n, stack.length > 0 ? (stack[stack.length - 1] as { idx: number }).idx : -1);
    }
  };
  if (entries.length === 0 || (entries[0] as { cidr: Cidr }).cidr.addr > 0n) emit(0n, -1);
  for (const e of entries) {
    popTo(e.cidr.addr);
    const parent = stack.length > 0 ? (stack[stack.length - 1] as { idx: number }).idx : -1;
    const idx = nodes.length;
    nodes.push({ cidr: e.cidr, orders: Int32Array.from([...new Set(e.orders)].sort((a, b) => a - b)), parent });
    emit(e.cidr.addr, idx);
    stack.push({ idx, last: lastOf(e.cidr) });
  }
  popTo(null);
  const count = starts.length;
  const startArr = new Uint32Array(count * words);
  const tmp: number[] = [0, 0, 0, 0];
  for (let i = 0; i < count; i++) {
    toWords(starts[i] as bigint, words, tmp);
    for (let w = 0; w < words; w++) startArr[i * words + w] = tmp[w] as number;
  }
  const base: FamilyIndex = { words, starts: startArr, node: Int32Array.from(ival), count, top: null };
  return count > 1024 ? { ...base, top: buildTop(base) } : base;
}

/**
 * First-level index on the top 16 bits: top[t] is the answer for the lowest address with
 * those bits, so any address with top bits t lies in intervals top[t]..top[t+1]. It turns a
 * 17-step binary search over a table too large for the cache into a few steps over a slice.
 */
function buildTop(ix: FamilyIndex): Int32Array {
  const top = new Int32Array(65537);
  const w: number[] = [0, 0, 0, 0];
  for (let t = 0; t < 65536; t++) {
    w[0] = ix.words === 1 ? t * 65536 : (t << 16) >>> 0;
    top[t] = searchRange(ix, w, 0, ix.count - 1);
  }
  top[65536] = ix.count - 1;
  return top;
}

function search(ix: FamilyIndex, w: readonly number[]): number {
  const top = ix.top;
  if (top === null) return searchRange(ix, w, 0, ix.count - 1);
  const t = (w[0] as number) >>> 16;
  const lo = top[t] as number;
  // the slice starts at `lo` itself (its start <= every address with these top bits); when
  // lo is -1 no interval starts at or below this block's first address
  const r = searchRange(ix, w, lo < 0 ? 0 : lo, top[t + 1] as number);
  return r < 0 ? lo : r;
}

/** Largest interval index in [lo0, hi0] whose start <= the address words, else lo0 - 1. */
function searchRange(ix: FamilyIndex, w: readonly number[], lo0: number, hi0: number): number {
  const s = ix.starts;
  let lo = lo0;
  let hi = hi0;
  let ans = lo0 - 1;
  if (ix.words === 1) {
    const x = w[0] as number;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((s[mid] as number) <= x) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }
  const w0 = w[0] as number;
  const w1 = w[1] as number;
  const w2 = w[2] as number;
  const w3 = w[3] as number;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const b = mid * 4;
    const s0 = s[b] as number;
    let le: boolean;
    if (s0 !== w0) le = s0 < w0;
    else {
      const s1 = s[b + 1] as number;
      if (s1 !== w1) le = s1 < w1;
      else {
        const s2 = s[b + 2] as number;
        le = s2 !== w2 ? s2 < w2 : (s[b + 3] as number) <= w3;
      }
    }
    if (le) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/** Build the set from (cidr, rule order) pairs; the same CIDR from several rules shares a node. */
export function buildCidrSet(pairs: Iterable<{ readonly cidr: Cidr; readonly order: number }>): CidrSet {
  const byKey: [Map<string, { cidr: Cidr; orders: number[] }>, Map<string, { cidr: Cidr; orders: number[] }>] = [new Map(), new Map()];
  for (const { cidr, order } of pairs) {
    const m = byKey[cidr.family === 4 ? 0 : 1];
    const key = `${cidr.addr}/${cidr.prefix}`;
    const e = m.get(key);
    if (e) e.orders.push(order);
    else m.set(key, { cidr, orders: [order] });
  }
  const nodes: CidrNode[] = [];
  const v4 = buildFamily(4, [...byKey[0].values()], nodes);
  const v6 = buildFamily(6, [...byKey[1].values()], nodes);
  const flat = new Int32Array(nodes.length * 3);
  const pool = new Int32Array(nodes.reduce((k, nd) => k + nd.orders.length, 0));
  let at = 0;
  nodes.forEach((nd, i) => {
    flat[3 * i] = nd.parent;
    flat[3 * i + 1] = at;
    pool.set(nd.orders, at);
    at += nd.orders.length;
    flat[3 * i + 2] = at;
  });
  // per-set scratch (lookups are synchronous): an IPv6 value is split into 32-bit words by
  // storing its halves into a BigUint64Array (which truncates mod 2^64) and reading a
  // Uint32Array view: one bigint shift instead of six
  const words: number[] = [0, 0, 0, 0];
  const b64 = new BigUint64Array(2);
  const u32 = new Uint32Array(b64.buffer);
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const lookup4 = (v: number): number => {
    if (v4.count === 0) return -1;
    words[0] = v;
    const i = search(v4, words);
    return i < 0 ? -1 : (v4.node[i] as number);
  };
  const lookup6 = (w0: number, w1: number, w2: number, w3: number): number => {
    if (v6.count === 0) return -1;
    words[0] = w0;
    words[1] = w1;
    words[2] = w2;
    words[3] = w3;
    const i = search(v6, words);
    return i < 0 ? -1 : (v6.node[i] as number);
  };
  return {
    nodes,
    flat,
    pool,
    lookup4,
    lookup6,
    lookup(ip: IpAddr): number {
      if (ip.family === 4) return lookup4(Number(ip.value));
      if (littleEndian) {
        b64[0] = ip.value >> 64n;
        b64[1] = ip.value;
        return lookup6(u32[1] as number, u32[0] as number, u32[3] as number, u32[2] as number);
      }
      const w: number[] = [0, 0, 0, 0];
      toWords(ip.value, 4, w);
      return lookup6(w[0] as number, w[1] as number, w[2] as number, w[3] as number);
    },
  };
}
