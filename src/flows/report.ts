/**
 * flows/report — `clawfence report`: audit evidence for a time range of the flow log.
 *
 * Map: a `ReportInput` (report/input.ts: grouped counts, from the store by report/collect.ts
 * or from events) and optionally the policy -> `buildReport` -> a `Report` value: totals by
 * verdict, top denied destinations, hits per rule and the rules never hit, what monitor mode
 * let through that enforce mode would deny, the timeline, which policy hashes decided, and the
 * store's integrity facts (hash-chain head, dropped events, chain walk). The renderers print
 * it: report/markdown.ts, report/html.ts (one self-contained file with inline SVG charts), and
 * JSON (`JSON.stringify(report)`; the shape below is the contract).
 *
 * Pure: no I/O, no clock (the CLI passes the generation time).
 */
import type { Policy } from "../policy/ir.ts";
import type { DeniedGroup, ReportInput } from "./report/input.ts";

export { collectReportInput } from "./report/collect.ts";
export { reportInputFromEvents, chooseBucket, type ReportInput } from "./report/input.ts";

export const REPORT_VERSION = 1;

export interface DestinationRow {
  /** the name, else the address */
  readonly destination: string;
  /** "tcp/443", "udp/53", "icmp", "lookup" (a DNS question) */
  readonly ports: readonly string[];
  readonly count: number;
  readonly deny: number;
  readonly wouldDeny: number;
  readonly rules: readonly string[];
  readonly reasons: readonly string[];
  readonly first: string;
  readonly last: string;
}

export interface RuleRow {
  readonly rule: string;
  /** from the policy; null when the report has no policy or the rule is not in it */
  readonly action: "allow" | "deny" | null;
  /** null without a policy; false for a rule name the policy does not have (another version) */
  readonly inPolicy: boolean | null;
  readonly total: number;
  readonly allow: number;
  readonly deny: number;
  readonly wouldDeny: number;
  readonly first: string;
  readonly last: string;
}

export interface Report {
  readonly version: number;
  readonly source: string | null;
  readonly generatedAt: string | null;
  readonly range: { readonly since: string | null; readonly until: string | null; readonly first: string | null; readonly last: string | null };
  readonly policy: { readonly name: string; readonly hash: string; readonly mode: string; readonly rules: number } | null;
  readonly policyHashes: ReadonlyArray<{ readonly hash: string | null; readonly count: number; readonly first: string; readonly last: string; readonly current: boolean | null }>;
  readonly totals: { readonly total: number; readonly allow: number; readonly deny: number; readonly wouldDeny: number; readonly dropped: number };
  readonly sandboxes: ReadonlyArray<{ readonly sandbox: string | null; readonly count: number }>;
  readonly kinds: ReadonlyArray<{ readonly kind: string | null; readonly count: number }>;
  readonly topDenied: readonly DestinationRow[];
  /** distinct denied destinations in all (topDenied is the first `top` of them) */
  readonly deniedDestinations: number;
  readonly rules: readonly RuleRow[];
  /** rules of the policy no decision named; null without a policy */
  readonly neverHit: ReadonlyArray<{ readonly rule: string; readonly action: "allow" | "deny" }> | null;
  /** destinations monitor mode let through that enforce mode would deny */
  readonly wouldDeny: readonly DestinationRow[];
  readonly wouldDenyDestinations: number;
  readonly timeline: { readonly bucketMs: number; readonly buckets: ReadonlyArray<{ readonly start: string; readonly allow: number; readonly deny: number; readonly wouldDeny: number }> };
  readonly integrity: {
    readonly chainHeadId: number | null;
    readonly chainHeadHash: string | null;
    readonly genesis: string | null;
    readonly dropped: number;
    readonly verified: { readonly ok: boolean; readonly rows: number; readonly detail?: string } | null;
  };
}

export interface ReportOptions {
  readonly policy?: Policy;
  /** epoch ms the report was made (the CLI's clock) */
  readonly generatedAtMs?: number;
  readonly source?: string;
  /** rows in the top lists (default 20) */
  readonly top?: number;
}

const iso = (ms: number | null): string | null => (ms === null || !Number.isFinite(ms) ? null : new Date(ms).toISOString());
const isoOr = (ms: number): string => iso(ms) ?? "";

function portLabel(g: DeniedGroup): string {
  if (g.proto === "icmp") return "icmp";
  if (g.dstPort === null) return g.dstIp === null && g.name !== null ? "lookup" : (g.proto ?? "?");
  return `${g.proto ?? "?"}/${g.dstPort}`;
}

function destinations(groups: readonly DeniedGroup[]): DestinationRow[] {
  interface Acc {
    ports: Set<string>;
    count: number;
    deny: number;
    wouldDeny: number;
    rules: Set<string>;
    reasons: Set<string>;
    first: number;
    last: number;
  }
  const m = new Map<string, Acc>();
  for (const g of groups) {
    const dest = g.name ?? g.dstIp ?? "(unknown)";
    let a = m.get(dest);
    if (!a) m.set(dest, (a = { ports: new Set(), count: 0, deny: 0, wouldDeny: 0, rules: new Set(), reasons: new Set(), first: Number.POSITIVE_INFINITY, last: Number.NEGATIVE_INFINITY }));
    a.ports.add(portLabel(g));
    a.count += g.count;
    if (g.enforced) a.deny += g.count;
    else a.wouldDeny += g.count;
    a.rules.add(g.rule);
    a.reasons.add(g.reason);
    a.first = Math.min(a.first, g.firstMs);
    a.last = Math.max(a.last, g.lastMs);
  }
  return [...m]
    .map(([destination, a]) => ({
      destination,
      ports: [...a.ports].sort(),
      count: a.count,
      deny: a.deny,
      wouldDeny: a.wouldDeny,
      rules: [...a.rules].sort(),
      reasons: [...a.reasons].sort(),
      first: isoOr(a.first),
      last: isoOr(a.last),
    }))
    .sort((x, y) => y.count - x.count || x.destination.localeCompare(y.destination));
}

export function buildReport(input: ReportInput, opts: ReportOptions = {}): Report {
  const top = Math.max(1, opts.top ?? 20);
  const policy = opts.policy;
  const actions = new Map<string, "allow" | "deny">();
  for (const r of policy?.rules ?? []) actions.set(r.name, r.action);

  // hits per rule
  const rows = new Map<string, { allow: number; deny: number; wouldDeny: number; first: number; last: number }>();
  for (const g of input.byRule) {
    let r = rows.get(g.rule);
    if (!r) rows.set(g.rule, (r = { allow: 0, deny: 0, wouldDeny: 0, first: Number.POSITIVE_INFINITY, last: Number.NEGATIVE_INFINITY }));
    if (g.verdict === "allow") r.allow += g.count;
    else if (g.enforced) r.deny += g.count;
    else r.wouldDeny += g.count;
    r.first = Math.min(r.first, g.firstMs);
    r.last = Math.max(r.last, g.lastMs);
  }
  const rules: RuleRow[] = [...rows]
    .map(([rule, r]) => {
      const known = rule === "default" || actions.has(rule);
      const action = actions.get(rule) ?? (rule === "default" && policy ? policy.default : null);
      return {
        rule,
        action,
        inPolicy: policy ? known : null,
        total: r.allow + r.deny + r.wouldDeny,
        allow: r.allow,
        deny: r.deny,
        wouldDeny: r.wouldDeny,
        first: isoOr(r.first),
        last: isoOr(r.last),
      };
    })
    .sort((a, b) => b.total - a.total || a.rule.localeCompare(b.rule));
  const neverHit = policy ? policy.rules.filter((r) => !rows.has(r.name)).map((r) => ({ rule: r.name, action: r.action })) : null;

  const denied = destinations(input.denied);
  const would = destinations(input.denied.filter((g) => !g.enforced));

  return {
    version: REPORT_VERSION,
    source: opts.source ?? null,
    generatedAt: iso(opts.generatedAtMs ?? null),
    range: { since: iso(input.sinceMs), until: iso(input.untilMs), first: iso(input.firstMs), last: iso(input.lastMs) },
    policy: policy ? { name: policy.name, hash: policy.hash, mode: policy.mode, rules: policy.rules.length } : null,
    policyHashes: input.policyHashes.map((h) => ({ hash: h.key, count: h.count, first: isoOr(h.firstMs), last: isoOr(h.lastMs), current: policy ? h.key === policy.hash : null })),
    totals: { total: input.total, allow: input.allow, deny: input.deny, wouldDeny: input.wouldDeny, dropped: input.dropped },
    sandboxes: input.sandboxes.map((s) => ({ sandbox: s.key, count: s.count })),
    kinds: input.kinds.map((k) => ({ kind: k.key, count: k.count })),
    topDenied: denied.slice(0, top),
    deniedDestinations: denied.length,
    rules,
    neverHit,
    wouldDeny: would.slice(0, top),
    wouldDenyDestinations: would.length,
    timeline: { bucketMs: input.bucketMs, buckets: input.timeline.map((b) => ({ start: isoOr(b.startMs), allow: b.allow, deny: b.deny, wouldDeny: b.wouldDeny })) },
    integrity: {
      chainHeadId: input.chain?.headId ?? null,
      chainHeadHash: input.chain?.headHash ?? null,
      genesis: input.chain?.genesis ?? null,
      dropped: input.dropped,
      verified: input.verified,
    },
  };
}
