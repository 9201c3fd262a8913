/**
 * compile/common/addrset — exact sets of IP addresses (both families) as sorted,
 * disjoint, inclusive intervals, and their conversion back to CIDRs: plain CIDR lists, and
 * `{cidr, except}` blocks (NetworkPolicy `ipBlock`, Cilium `toCIDRSet`) chosen to keep the
 * output short.
 *
 * Map: backends turn rule entries into sets (`fromCidrs`), combine them in rule order
 * (union / subtract / intersect) and print the result (`toCidrs`, `toBlocks`). Shared by
 * the pf, kubernetes, cilium and aviatrix backends and common/slots.ts.
 *
 * Pure: no I/O, no clock; imports policy/ only. Sets are immutable values; every function
 * returns a new one.
 */
import type { Cidr } from "../../policy/ir.ts";
import { cidrRange, familyBits, makeCidr } from "../../policy/addr.ts";

/** Inclusive interval of addresses of one family. */
export interface Interval {
  readonly lo: bigint;
  readonly hi: bigint;
}

export interface AddrSet {
  readonly v4: readonly Interval[];
  readonly v6: readonly Interval[];
}

export const EMPTY: AddrSet = { v4: [], v6: [] };

const MAX4 = (1n << 32n) - 1n;
const MAX6 = (1n << 128n) - 1n;

export const FULL: AddrSet = { v4: [{ lo: 0n, hi: MAX4 }], v6: [{ lo: 0n, hi: MAX6 }] };

function maxOf(family: 4 | 6): bigint {
  return family === 4 ? MAX4 : MAX6;
}

/** Sort and merge touching or overlapping intervals. */
function normalize(ivs: Interval[]): Interval[] {
  ivs.sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const out: Interval[] = [];
  for (const iv of ivs) {
    const last = out[out.length - 1];
    if (last && iv.lo <= last.hi + 1n) {
      if (iv.hi > last.hi) out[out.length - 1] = { lo: last.lo, hi: iv.hi };
    } else out.push(iv);
  }
  return out;
}

export function fromCidrs(cidrs: Iterable<Cidr>): AddrSet {
  const v4: Interval[] = [];
  const v6: Interval[] = [];
  for (const c of cidrs) {
    const r = cidrRange(c);
    (c.family === 4 ? v4 : v6).push({ lo: r.first, hi: r.last });
  }
  return { v4: normalize(v4), v6: normalize(v6) };
}

function unionIv(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  if (a.length === 0) return [...b];
  if (b.length === 0) return [...a];
  return normalize([...a, ...b]);
}

function complementIv(a: readonly Interval[], max: bigint): Interval[] {
  const out: Interval[] = [];
  let next = 0n;
  for (const iv of a) {
    if (iv.lo > next) out.push({ lo: next, hi: iv.lo - 1n });
    next = iv.hi + 1n;
  }
  if (next <= max) out.push({ lo: next, hi: max });
  return out;
}

function intersectIv(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as Interval;
    const y = b[j] as Interval;
    const lo = x.lo > y.lo ? x.lo : y.lo;
    const hi = x.hi < y.hi ? x.hi : y.hi;
    if (lo <= hi) out.push({ lo, hi });
    if (x.hi < y.hi) i++;
    else j++;
  }
  return out;
}

export function union(a: AddrSet, b: AddrSet): AddrSet {
  return { v4: unionIv(a.v4, b.v4), v6: unionIv(a.v6, b.v6) };
}

export function intersect(a: AddrSet, b: AddrSet): AddrSet {
  return { v4: intersectIv(a.v4, b.v4), v6: intersectIv(a.v6, b.v6) };
}

export function subtract(a: AddrSet, b: AddrSet): AddrSet {
  return {
    v4: b.v4.length === 0 ? [...a.v4] : intersectIv(a.v4, complementIv(b.v4, MAX4)),
    v6: b.v6.length === 0 ? [...a.v6] : intersectIv(a.v6, complementIv(b.v6, MAX6)),
  };
}

export function isEmpty(a: AddrSet): boolean {
  return a.v4.length === 0 && a.v6.length === 0;
}

export function overlaps(a: AddrSet, b: AddrSet): boolean {
  return !isEmpty(intersect(a, b));
}

function eqIv(a: readonly Interval[], b: readonly Interval[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]?.lo !== b[i]?.lo || a[i]?.hi !== b[i]?.hi) return false;
  return true;
}

export function equals(a: AddrSet, b: AddrSet): boolean {
  return eqIv(a.v4, b.v4) && eqIv(a.v6, b.v6);
}

/** A stable text key for grouping equal sets. */
export function keyOf(a: AddrSet): string {
  const f = (ivs: readonly Interval[]): string => ivs.map((iv) => `${iv.lo.toString(16)}-${iv.hi.toString(16)}`).join(",");
  return `${f(a.v4)}|${f(a.v6)}`;
}

export function containsIp(a: AddrSet, family: 4 | 6, value: bigint): boolean {
  for (const iv of family === 4 ? a.v4 : a.v6) {
    if (value < iv.lo) return false;
    if (value <= iv.hi) return true;
  }
  return false;
}

/** The fewest CIDRs covering one interval exactly. */
function intervalCidrs(family: 4 | 6, iv: Interval, out: Cidr[]): void {
  const bits = familyBits(family);
  let lo = iv.lo;
  while (lo <= iv.hi) {
    // largest block aligned at lo that fits in [lo, hi]
    let size = 0;
    while (size < bits) {
      const next = 1n << BigInt(size + 1);
      if ((lo & (next - 1n)) !== 0n || lo + next - 1n > iv.hi) break;
      size++;
    }
    out.push(makeCidr(family, lo, bits - size));
    lo += 1n << BigInt(size);
  }
}

function ivCidrs(family: 4 | 6, ivs: readonly Interval[]): Cidr[] {
  const out: Cidr[] = [];
  for (const iv of ivs) intervalCidrs(family, iv, out);
  return out;
}

/** The fewest CIDRs that cover the set exactly, IPv4 first, each family in address order. */
export function toCidrs(a: AddrSet): Cidr[] {
  return [...ivCidrs(4, a.v4), ...ivCidrs(6, a.v6)];
}

/** A CIDR block minus some CIDRs strictly inside it (every `except` lies within `cidr`). */
export interface Block {
  readonly cidr: Cidr;
  readonly except: readonly Cidr[];
}

interface Plan {
  /** entries needed: blocks plus their excepts */
  readonly cost: number;
  readonly inCount: number;
  readonly outCount: number;
  readonly build: () => Block[];
}

/**
 * Blocks covering the set exactly, with `except` used where it is shorter: at every network
 * that the set covers partly, either split into the two halves or write the network once
 * with the missing parts as `except`, whichever needs fewer entries.
 */
export function toBlocks(a: AddrSet): Block[] {
  return [...familyBlocks(4, a.v4), ...familyBlocks(6, a.v6)];
}

function familyBlocks(family: 4 | 6, ivs: readonly Interval[]): Block[] {
  if (ivs.length === 0) return [];
  const bits = familyBits(family);
  const plan = (lo: bigint, prefix: number, sub: readonly Interval[]): Plan => {
    const size = 1n << BigInt(bits - prefix);
    const hi = lo + size - 1n;
    const clipped = intersectIv(sub, [{ lo, hi }]);
    if (clipped.length === 0) return { cost: 0, inCount: 0, outCount: 1, build: () => [] };
    const first = clipped[0] as Interval;
    if (clipped.length === 1 && first.lo === lo && first.hi === hi) {
      const cidr = makeCidr(family, lo, prefix);
      return { cost: 1, inCount: 1, outCount: 0, build: () => [{ cidr, except: [] }] };
    }
    const half = size / 2n;
    const left = plan(lo, prefix + 1, clipped);
    const right = plan(lo + half, prefix + 1, clipped);
    const inCount = left.inCount + right.inCount;
    const outCount = left.outCount + right.outCount;
    const split = left.cost + right.cost;
    const withExcept = 1 + outCount;
    if (withExcept < split) {
      return {
        cost: withExcept,
        inCount,
        outCount,
        build: () => [{ cidr: makeCidr(family, lo, prefix), except: ivCidrs(family, complementWithin(clipped, lo, hi)) }],
      };
    }
    return { cost: split, inCount, outCount, build: () => [...left.build(), ...right.build()] };
  };
  return plan(0n, 0, ivs).build();
}

function complementWithin(ivs: readonly Interval[], lo: bigint, hi: bigint): Interval[] {
  const out: Interval[] = [];
  let next = lo;
  for (const iv of ivs) {
    if (iv.lo > next) out.push({ lo: next, hi: iv.lo - 1n });
    next = iv.hi + 1n;
  }
  if (next <= hi) out.push({ lo: next, hi });
  return out;
}

/** The set a list of blocks denotes (for tests and round trips). */
export function fromBlocks(blocks: readonly Block[]): AddrSet {
  let s = EMPTY;
  for (const b of blocks) s = union(s, subtract(fromCidrs([b.cidr]), fromCidrs(b.except)));
  return s;
}

export { maxOf };
