/**
 * match/ports — inclusive port-range sets: membership, intersection, difference.
 *
 * Used by decide() (is this port in the rule's ranges) and decideName() (which ports are
 * left after earlier rules took theirs). Range lists are sorted, merged, non-overlapping,
 * as the IR guarantees for `Rule.ports`. Pure.
 */
import type { PortRange } from "../policy/ir.ts";

export const ALL_PORTS: readonly PortRange[] = Object.freeze([Object.freeze({ from: 1, to: 65535 })]);

/** Flatten to [from0, to0, from1, to1, ...] for a fast membership test. */
export function flattenPorts(ranges: readonly PortRange[]): Int32Array {
  const out = new Int32Array(ranges.length * 2);
  ranges.forEach((r, i) => {
    out[2 * i] = r.from;
    out[2 * i + 1] = r.to;
  });
  return out;
}

/** Is `port` inside the flattened ranges? Binary search over sorted ranges. */
export function portInFlat(flat: Int32Array, port: number): boolean {
  let lo = 0;
  let hi = flat.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (port < (flat[2 * mid] ?? 0)) hi = mid - 1;
    else if (port > (flat[2 * mid + 1] ?? 0)) lo = mid + 1;
    else return true;
  }
  return false;
}

export function portInRanges(ranges: readonly PortRange[], port: number): boolean {
  for (const r of ranges) if (port >= r.from && port <= r.to) return true;
  return false;
}

export function intersectPorts(a: readonly PortRange[], b: readonly PortRange[]): PortRange[] {
  const out: PortRange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as PortRange;
    const y = b[j] as PortRange;
    const from = Math.max(x.from, y.from);
    const to = Math.min(x.to, y.to);
    if (from <= to) out.push({ from, to });
    if (x.to < y.to) i++;
    else j++;
  }
  return out;
}

/** a minus b */
export function subtractPorts(a: readonly PortRange[], b: readonly PortRange[]): PortRange[] {
  const out: PortRange[] = [];
  for (const x of a) {
    let from = x.from;
    for (const y of b) {
      if (y.to < from || y.from > x.to) continue;
      if (y.from > from) out.push({ from, to: y.from - 1 });
      from = y.to + 1;
      if (from > x.to) break;
    }
    if (from <= x.to) out.push({ from, to: x.to });
  }
  return out;
}

export function isAllPorts(r: readonly PortRange[]): boolean {
  return r.length === 1 && r[0]?.from === 1 && r[0].to === 65535;
}

export function formatPorts(r: readonly PortRange[] | null): string {
  if (r === null) return "all ports";
  return r.map((x) => (x.from === x.to ? String(x.from) : `${x.from}-${x.to}`)).join(", ");
}
