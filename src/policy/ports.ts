/**
 * policy/ports — port entries (`443`, `"8000-8100"`) to sorted, merged, non-overlapping ranges.
 *
 * Map: the normalizer checks each entry with `parsePortEntry` (after `${var}` substitution
 * for strings) and merges a rule's ranges with `mergePortRanges`. Overlapping and adjacent
 * ranges are merged (80, 81 -> 80-81), so two spellings of the same set give the same IR
 * and the same hash.
 *
 * Pure: no I/O.
 */
import { problem, type Checked } from "./codes.ts";
import type { PortRange } from "./ir.ts";

const MAX_PORT = 65535;

function checkPort(n: number, shown: string): Checked<number> {
  if (!Number.isInteger(n) || n < 1 || n > MAX_PORT) {
    return problem("CF3020", `port ${shown} is out of range; ports are 1..${MAX_PORT}`, n === 0 ? "port 0 is not a real port: remove it, or omit `ports:` for all ports" : `write a port from 1 to ${MAX_PORT}`);
  }
  return { ok: true, value: n };
}

/** One entry: an integer, a digit string, or "from-to" (inclusive, from <= to). */
export function parsePortEntry(entry: number | string): Checked<PortRange> {
  if (typeof entry === "number") {
    const p = checkPort(entry, String(entry));
    return p.ok ? { ok: true, value: { from: p.value, to: p.value } } : p;
  }
  const t = entry.trim();
  const single = /^[0-9]{1,6}$/.exec(t);
  if (single) {
    const p = checkPort(Number(t), t);
    return p.ok ? { ok: true, value: { from: p.value, to: p.value } } : p;
  }
  const range = /^([0-9]{1,6})\s*-\s*([0-9]{1,6})$/.exec(t);
  if (!range) {
    const shown = entry.length > 40 ? `${entry.slice(0, 37)}...` : entry;
    return problem("CF3022", `'${shown}' is not a port or port range`, 'write a port number (443) or an inclusive range in quotes ("8000-8100")');
  }
  const a = checkPort(Number(range[1]), range[1] ?? "");
  if (!a.ok) return a;
  const b = checkPort(Number(range[2]), range[2] ?? "");
  if (!b.ok) return b;
  if (a.value > b.value) {
    return problem("CF3021", `the port range '${entry}' is reversed (${a.value} > ${b.value})`, `write "${b.value}-${a.value}"`);
  }
  return { ok: true, value: { from: a.value, to: b.value } };
}

/** Sorted by `from`, overlapping and adjacent ranges merged. */
export function mergePortRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((x, y) => x.from - y.from || x.to - y.to);
  const out: Array<{ from: number; to: number }> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
    else out.push({ from: r.from, to: r.to });
  }
  return out;
}
