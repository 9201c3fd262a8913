/**
 * lint/addrset — exact address-set arithmetic for the guardrails lint: a binary prefix trie
 * that records, for every inserted network, the first rule (by order) that covers it, and
 * interval helpers to build "what `any` means" (every address minus the special-purpose
 * ranges outside `internal`).
 *
 * Map: lint/space.ts inserts each rule's CIDR entries (and the CIDR decomposition of `any`)
 * in rule order, and asks which earlier rules decide a network (`RecordTrie.decide`) over a
 * union of accumulators (boxes of ports/protocols/phases), so a /8 is covered by two /9s
 * from different rules. Containment is exact (bit by bit), never textual.
 *
 * Must not import anything with I/O. Records must be inserted in non-decreasing rule order:
 * the first matching rule of a region decides it.
 */
import type { Cidr } from "../policy/ir.ts";
import { makeCidr } from "../policy/addr.ts";

const NONE = -1;
const INF = 0x7fffffff;

/** The address of a network as 32-bit words, most significant first (1 word v4, 4 words v6). */
export function wordsOf(c: { readonly family: 4 | 6; readonly addr: bigint }): Uint32Array {
  if (c.family === 4) return Uint32Array.of(Number(c.addr));
  const w = new Uint32Array(4);
  for (let i = 0; i < 4; i++) w[i] = Number((c.addr >> BigInt(96 - 32 * i)) & 0xffffffffn);
  return w;
}

function bitAt(words: Uint32Array, i: number): number {
  return ((words[i >>> 5] ?? 0) >>> (31 - (i & 31))) & 1;
}

/**
 * One family's prefix trie whose nodes carry insertion records (rule order, key). A key
 * names a (box, action) accumulator; a query passes a mask of the keys that count, so one
 * trie answers for any union of boxes. Node 0 is the root; child index 0 means "no child".
 * Records of a node are kept in increasing order (inserts come in rule order).
 */
export class RecordTrie {
  private left: Int32Array;
  private right: Int32Array;
  private head: Int32Array;
  private subMin: Int32Array;
  private size = 1;
  private recOrder: Int32Array;
  private recKey: Int32Array;
  private recNext: Int32Array;
  private nRec = 0;

  constructor(initial = 256) {
    this.left = new Int32Array(initial);
    this.right = new Int32Array(initial);
    this.head = new Int32Array(initial).fill(NONE);
    this.subMin = new Int32Array(initial).fill(INF);
    this.recOrder = new Int32Array(initial);
    this.recKey = new Int32Array(initial);
    this.recNext = new Int32Array(initial);
  }

  private static grown(a: Int32Array, fill: number): Int32Array {
    const b = new Int32Array(a.length * 2);
    if (fill !== 0) b.fill(fill);
    b.set(a);
    return b;
  }

  private newNode(order: number): number {
    if (this.size === this.left.length) {
      this.left = RecordTrie.grown(this.left, 0);
      this.right = RecordTrie.grown(this.right, 0);
      this.head = RecordTrie.grown(this.head, NONE);
      this.subMin = RecordTrie.grown(this.subMin, INF);
    }
    const n = this.size++;
    this.subMin[n] = order;
    return n;
  }

  /** Record that rule `order` (in accumulator `key`) matches every address of the network. */
  insert(words: Uint32Array, prefix: number, order: number, key: number): void {
    let n = 0;
    if ((this.subMin[0] ?? INF) > order) this.subMin[0] = order;
    for (let i = 0; i < prefix; i++) {
      const b = bitAt(words, i);
      let c = (b ? this.right[n] : this.left[n]) ?? 0;
      if (c === 0) {
        c = this.newNode(order);
        if (b) this.right[n] = c;
        else this.left[n] = c;
      }
      n = c;
    }
    let r = this.head[n] ?? NONE;
    let last = NONE;
    for (; r !== NONE; r = this.recNext[r] ?? NONE) {
      if (this.recKey[r] === key) return; // the first rule of this accumulator already covers it
      last = r;
    }
    if (this.nRec === this.recOrder.length) {
      this.recOrder = RecordTrie.grown(this.recOrder, 0);
      this.recKey = RecordTrie.grown(this.recKey, 0);
      this.recNext = RecordTrie.grown(this.recNext, 0);
    }
    const k = this.nRec++;
    this.recOrder[k] = order;
    this.recKey[k] = key;
    this.recNext[k] = NONE;
    if (last === NONE) this.head[n] = k;
    else this.recNext[last] = k;
  }

  private firstMatch(n: number, mask: Uint8Array): number {
    for (let r = this.head[n] ?? NONE; r !== NONE; r = this.recNext[r] ?? NONE) if (mask[this.recKey[r] ?? 0] === 1) return this.recOrder[r] ?? INF;
    return INF;
  }

  /**
   * The rules (orders) that decide the addresses of `words/prefix` over the accumulators in
   * `mask`, and whether some address of it is matched by none. With `stopEarly`, returns as
   * soon as an uncovered part is found (owners are then incomplete; complete when covered).
   */
  decide(words: Uint32Array, prefix: number, mask: Uint8Array, stopEarly: boolean): NetworkDecision {
    const out: NetworkDecision = { owners: new Set(), uncovered: false };
    let n = 0;
    let cur = INF;
    for (let i = 0; i < prefix; i++) {
      cur = Math.min(cur, this.firstMatch(n, mask));
      const c = (bitAt(words, i) ? this.right[n] : this.left[n]) ?? 0;
      if (c === 0) {
        if (cur < INF) out.owners.add(cur);
        else out.uncovered = true;
        return out;
      }
      n = c;
    }
    this.visit(n, cur, mask, out, stopEarly);
    return out;
  }

  private visit(n: number, inherited: number, mask: Uint8Array, out: NetworkDecision, stopEarly: boolean): void {
    const cur = Math.min(inherited, this.firstMatch(n, mask));
    const l = this.left[n] ?? 0;
    const r = this.right[n] ?? 0;
    if (cur < INF) {
      // prune: nothing below was inserted by an earlier rule, so `cur` decides the region
      const below = Math.min(l === 0 ? INF : (this.subMin[l] ?? INF), r === 0 ? INF : (this.subMin[r] ?? INF));
      if (below >= cur) {
        out.owners.add(cur);
        return;
      }
    }
    for (const c of [l, r]) {
      if (c === 0) {
        if (cur < INF) out.owners.add(cur);
        else {
          out.uncovered = true;
          if (stopEarly) return;
        }
      } else {
        this.visit(c, cur, mask, out, stopEarly);
        if (stopEarly && out.uncovered) return;
      }
    }
  }
}

/** Who decides a network: the first-matching rules of its parts, and whether a part is left. */
export interface NetworkDecision {
  readonly owners: Set<number>;
  uncovered: boolean;
}

// ---------------------------------------------------------------- intervals

/** Inclusive interval of addresses. */
export interface Interval {
  readonly lo: bigint;
  readonly hi: bigint;
}

export function familyMax(family: 4 | 6): bigint {
  return family === 4 ? 0xffffffffn : (1n << 128n) - 1n;
}

export function cidrInterval(c: Cidr): Interval {
  const host = (1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix)) - 1n;
  return { lo: c.addr, hi: c.addr | host };
}

/** Sorted, merged union. */
export function normalizeIntervals(xs: readonly Interval[]): Interval[] {
  const s = [...xs].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const out: Interval[] = [];
  for (const x of s) {
    const last = out[out.length - 1];
    if (last && x.lo <= last.hi + 1n) {
      if (x.hi > last.hi) out[out.length - 1] = { lo: last.lo, hi: x.hi };
    } else out.push(x);
  }
  return out;
}

/** a minus b, both normalized. */
export function subtractIntervals(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const x of a) {
    let lo = x.lo;
    for (const y of b) {
      if (y.hi < lo || y.lo > x.hi) continue;
      if (y.lo > lo) out.push({ lo, hi: y.lo - 1n });
      lo = y.hi + 1n;
      if (lo > x.hi) break;
    }
    if (lo <= x.hi) out.push({ lo, hi: x.hi });
  }
  return out;
}

/** The fewest CIDRs whose union is exactly the interval list. */
export function intervalsToCidrs(family: 4 | 6, xs: readonly Interval[]): Cidr[] {
  const bits = family === 4 ? 32 : 128;
  const out: Cidr[] = [];
  for (const x of xs) {
    let lo = x.lo;
    while (lo <= x.hi) {
      let size = 0; // host bits of the block
      while (size < bits) {
        const next = size + 1;
        const mask = (1n << BigInt(next)) - 1n;
        if ((lo & mask) !== 0n || lo + mask > x.hi) break;
        size = next;
      }
      out.push(makeCidr(family, lo, bits - size));
      lo += 1n << BigInt(size);
    }
  }
  return out;
}
