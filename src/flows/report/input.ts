/**
 * flows/report/input — what a report is built from: counts grouped the way the flow store's
 * `countBy` returns them, per-bucket totals for the timeline, and the store's integrity facts.
 *
 * Map: two producers, one shape. `collectReportInput` (report/collect.ts) asks the store (SQL
 * GROUP BY: a million events cost one indexed scan per question); `reportInputFromEvents` here
 * computes the same groups from plain events in one pass (tests compare the two; the bench
 * uses it as a baseline). report.ts turns the input into the report; renderers print it.
 *
 * Pure: no I/O, no clock.
 */
import type { FlowEvent } from "../../runtime/events.ts";

/** Counts of one group of decisions. */
export interface Counted {
  readonly count: number;
  readonly firstMs: number;
  readonly lastMs: number;
}

export interface RuleGroup extends Counted {
  readonly rule: string;
  readonly verdict: string;
  readonly enforced: boolean;
}

export interface DeniedGroup extends Counted {
  readonly name: string | null;
  readonly dstIp: string | null;
  readonly dstPort: number | null;
  readonly proto: string | null;
  readonly enforced: boolean;
  readonly rule: string;
  readonly reason: string;
}

export interface KeyGroup extends Counted {
  /** null when the events had no value for the key */
  readonly key: string | null;
}

export interface Bucket {
  readonly startMs: number;
  readonly allow: number;
  readonly deny: number;
  readonly wouldDeny: number;
}

export interface ReportInput {
  /** the time range asked for (null: open) */
  readonly sinceMs: number | null;
  readonly untilMs: number | null;
  readonly total: number;
  readonly firstMs: number | null;
  readonly lastMs: number | null;
  readonly allow: number;
  readonly deny: number;
  readonly wouldDeny: number;
  /** events the writers had to drop (whole store) */
  readonly dropped: number;
  readonly byRule: readonly RuleGroup[];
  /** every deny, enforced or not, grouped by destination and rule */
  readonly denied: readonly DeniedGroup[];
  readonly policyHashes: readonly KeyGroup[];
  readonly sandboxes: readonly KeyGroup[];
  readonly kinds: readonly KeyGroup[];
  readonly bucketMs: number;
  readonly timeline: readonly Bucket[];
  /** the store's hash chain head when the report was made; null when not known */
  readonly chain: { readonly headId: number; readonly headHash: string; readonly genesis: string } | null;
  /** the result of walking the hash chain (--verify); null when not checked */
  readonly verified: { readonly ok: boolean; readonly rows: number; readonly detail?: string } | null;
}

const NICE_BUCKETS = [1_000, 5_000, 15_000, 30_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000, 604_800_000];

/** A bucket size giving at most `maxBuckets` buckets over [firstMs, lastMs]. */
export function chooseBucket(firstMs: number, lastMs: number, maxBuckets = 60): number {
  const span = Math.max(0, lastMs - firstMs);
  for (const b of NICE_BUCKETS) if (Math.floor(lastMs / b) - Math.floor(firstMs / b) + 1 <= maxBuckets) return b;
  const week = NICE_BUCKETS[NICE_BUCKETS.length - 1] as number;
  return Math.ceil(span / maxBuckets / week + 1) * week;
}

/** Bucket starts (multiples of bucketMs) covering [firstMs, lastMs]. */
export function bucketStarts(firstMs: number, lastMs: number, bucketMs: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(firstMs / bucketMs) * bucketMs; t <= lastMs; t += bucketMs) out.push(t);
  return out;
}

class Group {
  count = 0;
  firstMs = Number.POSITIVE_INFINITY;
  lastMs = Number.NEGATIVE_INFINITY;
  add(t: number): void {
    this.count++;
    if (t < this.firstMs) this.firstMs = t;
    if (t > this.lastMs) this.lastMs = t;
  }
}

function bump<K>(map: Map<K, Group>, key: K, t: number): void {
  let g = map.get(key);
  if (!g) map.set(key, (g = new Group()));
  g.add(t);
}

const byCount = <T extends Counted>(a: T, b: T): number => b.count - a.count;

/**
 * The report input from plain events in one pass (the in-memory twin of collect.ts). Events
 * outside [sinceMs, untilMs) are skipped.
 */
export function reportInputFromEvents(events: Iterable<FlowEvent>, opts: { sinceMs?: number; untilMs?: number; dropped?: number } = {}): ReportInput {
  const rules = new Map<string, Group>();
  const denied = new Map<string, Group>();
  const hashes = new Map<string | null, Group>();
  const sandboxes = new Map<string | null, Group>();
  const kinds = new Map<string | null, Group>();
  const times: Array<{ t: number; v: 0 | 1 | 2 }> = [];
  let allow = 0;
  let deny = 0;
  let wouldDeny = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const e of events) {
    const t = Date.parse(e.ts);
    if (!Number.isFinite(t)) continue;
    if (opts.sinceMs !== undefined && t < opts.sinceMs) continue;
    if (opts.untilMs !== undefined && t >= opts.untilMs) continue;
    if (t < first) first = t;
    if (t > last) last = t;
    const v = e.verdict === "allow" ? 0 : e.enforced ? 1 : 2;
    if (v === 0) allow++;
    else if (v === 1) deny++;
    else wouldDeny++;
    times.push({ t, v });
    bump(rules, JSON.stringify([e.rule, e.verdict, e.verdict === "allow" ? true : e.enforced]), t);
    if (e.verdict === "deny") bump(denied, JSON.stringify([e.name, e.dst_ip, e.dst_port, e.proto, e.enforced, e.rule, e.reason]), t);
    bump(hashes, e.policy_hash ?? null, t);
    bump(sandboxes, e.sandbox ?? null, t);
    bump(kinds, e.kind, t);
  }
  const total = allow + deny + wouldDeny;
  const firstMs = total > 0 ? first : null;
  const lastMs = total > 0 ? last : null;
  const bucketMs = firstMs !== null && lastMs !== null ? chooseBucket(firstMs, lastMs) : 60_000;
  const timeline: Bucket[] = [];
  if (firstMs !== null && lastMs !== null) {
    const starts = bucketStarts(firstMs, lastMs, bucketMs);
    const counts = starts.map(() => [0, 0, 0]);
    const base = starts[0] as number;
    for (const x of times) {
      const c = counts[Math.floor((x.t - base) / bucketMs)];
      if (c) c[x.v] = (c[x.v] as number) + 1;
    }
    starts.forEach((s, i) => {
      const c = counts[i] as number[];
      timeline.push({ startMs: s, allow: c[0] as number, deny: c[1] as number, wouldDeny: c[2] as number });
    });
  }
  const keyed = (m: Map<string | null, Group>): KeyGroup[] => [...m].map(([key, g]) => ({ key, count: g.count, firstMs: g.firstMs, lastMs: g.lastMs })).sort(byCount);
  return {
    sinceMs: opts.sinceMs ?? null,
    untilMs: opts.untilMs ?? null,
    total,
    firstMs,
    lastMs,
    allow,
    deny,
    wouldDeny,
    dropped: opts.dropped ?? 0,
    byRule: [...rules]
      .map(([k, g]) => {
        const [rule, verdict, enforced] = JSON.parse(k) as [string, string, boolean];
        return { rule, verdict, enforced, count: g.count, firstMs: g.firstMs, lastMs: g.lastMs };
      })
      .sort(byCount),
    denied: [...denied]
      .map(([k, g]) => {
        const [name, dstIp, dstPort, proto, enforced, rule, reason] = JSON.parse(k) as [string | null, string | null, number | null, string | null, boolean, string, string];
        return { name, dstIp, dstPort, proto, enforced, rule, reason, count: g.count, firstMs: g.firstMs, lastMs: g.lastMs };
      })
      .sort(byCount),
    policyHashes: keyed(hashes),
    sandboxes: keyed(sandboxes),
    kinds: keyed(kinds),
    bucketMs,
    timeline,
    chain: null,
    verified: null,
  };
}
