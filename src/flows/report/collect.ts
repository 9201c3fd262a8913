/**
 * flows/report/collect — the report input from the flow store, as a handful of SQL questions.
 *
 * Map: `FlowReader.summary` (totals), `countBy` over (rule, verdict, enforced), over the
 * denied destinations, policy hashes, sandboxes and kinds, then one `summary` per timeline
 * bucket (an indexed range scan of `ts_ms` each), and the chain head from `meta()`; with
 * `verify`, the hash chain walk. Every question runs in SQLite, so a million events cost a few
 * scans, not a million JavaScript objects. report/input.ts computes the same from events.
 *
 * Reads the store only (no writes); no clock.
 */
import type { FlowFilter, FlowReader, GroupRow } from "../store.ts";
import { bucketStarts, chooseBucket, type Bucket, type KeyGroup, type ReportInput } from "./input.ts";

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const isTrue = (v: unknown): boolean => v !== 0 && v !== "0" && v !== false;

function keyed(rows: readonly GroupRow[], col: "policy_hash" | "sandbox" | "kind"): KeyGroup[] {
  return rows.map((r) => ({ key: str(r[col]), count: r.count, firstMs: r.first_ms, lastMs: r.last_ms }));
}

export interface CollectOptions {
  /** walk the hash chain (costs a SHA-256 per stored row) */
  readonly verify?: boolean;
  readonly maxBuckets?: number;
}

export function collectReportInput(reader: FlowReader, filter: FlowFilter, opts: CollectOptions = {}): ReportInput {
  const s = reader.summary(filter);
  const firstMs = s.first === null ? null : Date.parse(s.first);
  const lastMs = s.last === null ? null : Date.parse(s.last);
  const byRule = reader.countBy(["rule", "verdict", "enforced"], filter).map((r) => ({
    rule: str(r.rule) ?? "",
    verdict: str(r.verdict) ?? "deny",
    enforced: isTrue(r.enforced),
    count: r.count,
    firstMs: r.first_ms,
    lastMs: r.last_ms,
  }));
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
    total: s.total,
    firstMs,
    lastMs,
    allow: s.allow,
    deny: s.deny,
    wouldDeny: s.wouldDeny,
    dropped: s.dropped,
    byRule,
    denied,
    policyHashes: keyed(reader.countBy(["policy_hash"], filter), "policy_hash"),
    sandboxes: keyed(reader.countBy(["sandbox"], filter), "sandbox"),
    kinds: keyed(reader.countBy(["kind"], filter), "kind"),
    bucketMs,
    timeline,
    chain: { headId: meta.headId, headHash: meta.headHash, genesis: meta.genesis },
    verified,
  };
}
