/**
 * flows/report/collect — the report input from the flow store, as a handful of SQL questions.
 *
 * Map: one `FlowReader.countBy` over (rule, verdict, enforced, policy_hash, sandbox, kind)
 * gives the totals, hits per rule, policy hashes, sandboxes and kinds (rolled up here: those
 * groups are few); one `countBy` over the denied destinations; one `summary` per timeline
 * bucket (an indexed range scan of `ts_ms` each); the chain head from `meta()`; with `verify`,
 * the hash chain walk. Every question runs in SQLite, so a million events cost about three
 * scans, not a million JavaScript objects. report/input.ts computes the same from events.
 *
 * Reads the store only (no writes); no clock.
 */
import type { FlowFilter, FlowReader, GroupRow } from "../store.ts";
import { bucketStarts, chooseBucket, type Bucket, type KeyGroup, type ReportInput } from "./input.ts";

const str = (v: string | number | null | undefined): string | null => (v === null || v === undefined ? null : String(v));
const isTrue = (v: string | number | null | undefined): boolean => v !== 0 && v !== "0";

export interface CollectOptions {
  /** walk the hash chain (costs a SHA-256 per stored row) */
  readonly verify?: boolean;
  readonly maxBuckets?: number;
}

/** Sum grouped rows by one key (the groups of the combined query are small). */
function rollUp(rows: readonly GroupRow[], key: (r: GroupRow) => string | null): KeyGroup[] {
  const m = new Map<string | null, { count: number; firstMs: number; lastMs: number }>();
  for (const r of rows) {
    const k = key(r);
    const g = m.get(k);
    if (g) {
      g.count += r.count;
      g.firstMs = Math.min(g.firstMs, r.first_ms);
      g.lastMs = Math.max(g.lastMs, r.last_ms);
    } else m.set(k, { count: r.count, firstMs: r.first_ms, lastMs: r.last_ms });
  }
  return [...m].map(([k, g]) => ({ key: k, ...g })).sort((a, b) => b.count - a.count);
}

export function collectReportInput(reader: FlowReader, filter: FlowFilter, opts: CollectOptions = {}): ReportInput {
  // one scan answers the totals, the rules, the policy hashes, the sandboxes and the kinds
  const all = reader.countBy(["rule", "verdict", "enforced", "policy_hash", "sandbox", "kind"], filter);
  let allow = 0;
  let deny = 0;
  let wouldDeny = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const r of all) {
    if (r.verdict === "allow") allow += r.count;
    else if (isTrue(r.enforced)) deny += r.count;
    else wouldDeny += r.count;
    first = Math.min(first, r.first_ms);
    last = Math.max(last, r.last_ms);
  }
  const total = allow + deny + wouldDeny;
  const firstMs = total > 0 ? first : null;
  const lastMs = total > 0 ? last : null;
  const byRule = rollUp(all, (r) => JSON.stringify([str(r.rule) ?? "", str(r.verdict) ?? "deny", r.verdict === "allow" || isTrue(r.enforced)])).map((g) => {
    const [rule, verdict, enforced] = JSON.parse(g.key ?? "[]") as [string, string, boolean];
    return { rule, verdict, enforced, count: g.count, firstMs: g.firstMs, lastMs: g.lastMs };
  });
  const denied = reader.countBy(["name", "dst_ip", "dst_port", "proto", "enforced", "rule", "reason"], { ...filter, verdict: "deny" }).map((r) => ({
    name: str(r.name),
    dstIp: str(r.dst_ip),
    dstPort: r.dst_port === null || r.dst_port === undefined ? null : Number(r.dst_port),
    proto: str(r.proto),
    enforced: isTrue(r.enforced),
    rule: str(r.rule) ?? "",
    reason: str(r.reason) ?? "",
    count: r.count,
    firstMs: r.first_ms,
    lastMs: r.last_ms,
  }));
  const bucketMs = firstMs !== null && lastMs !== null ? chooseBucket(firstMs, lastMs, opts.maxBuckets) : 60_000;
  const timeline: Bucket[] = [];
  if (firstMs !== null && lastMs !== null) {
    for (const start of bucketStarts(firstMs, lastMs, bucketMs)) {
      // the bucket within the asked range: [max(start, since), min(start + bucket, until))
      const since = Math.max(start, filter.sinceMs ?? start);
      const until = Math.min(start + bucketMs, filter.untilMs ?? start + bucketMs);
      const b = reader.summary({ ...filter, sinceMs: since, untilMs: until });
      timeline.push({ startMs: start, allow: b.allow, deny: b.deny, wouldDeny: b.wouldDeny });
    }
  }
  const meta = reader.meta();
  let verified: ReportInput["verified"] = null;
  if (opts.verify) {
    const v = reader.verify();
    verified = v.ok ? { ok: true, rows: v.rows } : { ok: false, rows: v.rows, detail: `row ${v.id}: ${v.problem}: ${v.message}` };
  }
  return {
    sinceMs: filter.sinceMs ?? null,
    untilMs: filter.untilMs ?? null,
    total,
    firstMs,
    lastMs,
    allow,
    deny,
    wouldDeny,
    dropped: reader.droppedTotal(),
    byRule,
    denied,
    policyHashes: rollUp(all, (r) => str(r.policy_hash)),
    sandboxes: rollUp(all, (r) => str(r.sandbox)),
    kinds: rollUp(all, (r) => str(r.kind)),
    bucketMs,
    timeline,
    chain: { headId: meta.headId, headHash: meta.headHash, genesis: meta.genesis },
    verified,
  };
}
