/**
 * bench/learn — `clawfence learn` and `clawfence report` over 1M flow events (targets: < 10 s
 * each, the GitHub issue "Flow log").
 *
 * Setup (not timed): 1M seeded synthetic events written through the flow store itself
 * (openFlowStore, hash chain included) into a temp file: 7 days, 6 sandboxes, 3000 names
 * under 400 domains (traffic skewed towards a few) plus shadow-model, DoH, paste and
 * special-purpose destinations; DNS questions with answers, proxy requests, packets named only
 * by address; allow, deny and would-deny, each name with its own decision and usual port.
 * Set CF_BENCH_EVENTS to use another count.
 *
 * Measured in this run, on that file:
 *   learn   open the store, group (countBy), stream the DNS answers, learn(), lint the proposal
 *   report  open the store, collectReportInput (totals, groups, 60 timeline buckets), buildReport,
 *           render HTML and Markdown
 *   baseline: one plain `SELECT ..., count(*) FROM flows GROUP BY <learn's columns>` over the
 *           same rows on a fresh connection: the floor any grouped answer costs.
 * Each prints {"bench":"learn"|"report","metric":"seconds for N events","value":..,"baseline":..,"ratio":..}.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { DatabaseSync } from "node:sqlite";
import { LEARN_GROUP_COLUMNS, fromGroupRow, learn, resolutionFromRow, type Resolution } from "../src/flows/learn.ts";
import { buildReport, collectReportInput } from "../src/flows/report.ts";
import { renderHtml } from "../src/flows/report/html.ts";
import { renderMarkdown } from "../src/flows/report/markdown.ts";
import { openFlowReader, openFlowStore } from "../src/flows/store.ts";
import { lintPolicy } from "../src/lint/index.ts";
import { loadPolicyText } from "../src/policy/load.ts";
import type { FlowEvent } from "../src/runtime/events.ts";
import { emitter, prng } from "./lib.ts";

const N = Number(process.env["CF_BENCH_EVENTS"] ?? 1_000_000);
const TARGET_S = 10;
const dir = mkdtempSync(join(tmpdir(), "cf-learn-bench-"));
const db = join(dir, "flows.db");

const rnd = prng(0x1ea2);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;

const DOMAINS = Array.from({ length: 400 }, (_, i) => `svc${i}.example${i % 7 === 0 ? ".co.uk" : ".com"}`);
const NAMES = Array.from({ length: 3000 }, (_, i) => `h${i % 9}.${DOMAINS[i % DOMAINS.length] as string}`);
const BAD = ["api.openai.com", "api.anthropic.com", "pastebin.com", "dns.google", "transfer.sh"];
const SPECIAL = ["169.254.169.254", "10.0.3.4", "192.168.1.1"];
const SANDBOXES = ["sb-a", "sb-b", "sb-c", "sb-d", "sb-e", "sb-f"];
const PORTS = [443, 443, 443, 443, 80, 22, 8443];
const HASH = "ab".repeat(32);
const T0 = Date.parse("2026-01-05T00:00:00Z");
const SPAN = 7 * 86_400_000;
const ipOf = (name: string): string => {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (Math.imul(h, 31) + name.charCodeAt(i)) >>> 0;
  return `${(h % 200) + 20}.${(h >>> 8) % 256}.${(h >>> 16) % 256}.${(h >>> 24) % 250 + 1}`;
};

function hash(text: string): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) >>> 0;
  return h;
}

/**
 * Decisions are a function of the destination (as in a real log): each name has its own
 * verdict, rule and usual port; traffic is skewed towards a few names (rnd()^3).
 */
function makeEvent(i: number): FlowEvent {
  const ts = new Date(T0 + Math.floor((i / N) * SPAN)).toISOString();
  const sandbox = pick(SANDBOXES);
  const name = rnd() < 0.01 ? pick(BAD) : (NAMES[Math.floor(NAMES.length * rnd() ** 3)] as string);
  const h = hash(name);
  const allow = h % 100 < 55 && !BAD.includes(name);
  const monitor = h % 7 !== 0;
  const verdict = allow ? "allow" : "deny";
  const enforced = allow || !monitor;
  const rule = allow ? `allow-${h % 20}` : BAD.includes(name) ? "shadow-model-deny" : "default";
  const reason = allow ? "rule-allow" : rule === "default" ? "default-deny" : "rule-deny";
  const port = rnd() < 0.9 ? (PORTS[h % PORTS.length] as number) : pick(PORTS);
  const common = { ts, verdict, enforced, rule, reason, sandbox, policy_hash: HASH } as const;
  const k = rnd();
  if (k < 0.2) return { ...common, kind: "dns", name, dst_ip: null, dst_port: null, proto: "udp", qtype: "A", answers: [ipOf(name)] };
  if (k < 0.7) return { ...common, kind: "proxy", name, dst_ip: ipOf(name), dst_port: port, proto: "tcp" };
  if (k < 0.72) return { ...common, kind: "packet", name: null, dst_ip: pick(SPECIAL), dst_port: 80, proto: "tcp" };
  return { ...common, kind: "packet", name: null, dst_ip: ipOf(name), dst_port: port, proto: h % 10 === 0 ? "udp" : "tcp" };
}

const emitLearn = emitter("learn");
const emitReport = emitter("report");

try {
  // ---------------------------------------------------------------- setup
  const t0 = performance.now();
  const store = openFlowStore(db, { queueCapacity: 200_000, batchRows: 10_000 });
  for (let i = 0; i < N; i++) {
    store.emit(makeEvent(i));
    if (store.stats().queued >= 100_000) store.flush();
  }
  store.close();
  process.stdout.write(`setup: ${N} events written through the store in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

  // ---------------------------------------------------------------- baseline
  const base0 = performance.now();
  const raw = new DatabaseSync(db);
  const groups = raw.prepare(`SELECT ${LEARN_GROUP_COLUMNS.join(", ")}, count(*) AS n FROM flows GROUP BY ${LEARN_GROUP_COLUMNS.join(", ")}`).all().length;
  raw.close();
  const baseline = (performance.now() - base0) / 1000;
  process.stdout.write(`baseline: GROUP BY -> ${groups} groups in ${baseline.toFixed(2)} s\n`);

  // ---------------------------------------------------------------- learn
  const load = (text: string, file: string) =>
    loadPolicyText(text, file, () => {
      throw new Error("no extends in the bench");
    });
  const l0 = performance.now();
  const reader = openFlowReader(db);
  const flows = reader.countBy(LEARN_GROUP_COLUMNS, {}).map(fromGroupRow);
  const resolutions: Resolution[] = [];
  const seen = new Set<string>();
  for (const row of reader.rows({ kind: "dns" })) {
    if (row.answers === null || row.name === null) continue;
    const key = `${row.sandbox ?? ""}\u0000${row.name}\u0000${row.answers}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const r = resolutionFromRow(row);
    if (r) resolutions.push(r);
  }
  const result = learn(flows, resolutions, { load, source: "bench.db" });
  const findings = lintPolicy(result.policy);
  reader.close();
  const learnS = (performance.now() - l0) / 1000;
  process.stdout.write(
    `learn: ${flows.length} groups, ${result.rules.length} rules, ${result.suggestions.length} entries, ${result.notAdded.length} not added, ${result.problems.length} problems, ${findings.length} findings\n`,
  );
  emitLearn({ metric: `seconds for ${N} events`, value: learnS, unit: "s", baseline, baseline_name: "plain GROUP BY", ratio: learnS / baseline, target: `< ${TARGET_S} s`, pass: learnS < TARGET_S && result.problems.length === 0 });

  // ---------------------------------------------------------------- report
  const r0 = performance.now();
  const reader2 = openFlowReader(db);
  const input = collectReportInput(reader2, {});
  reader2.close();
  const report = buildReport(input, { source: "bench.db" });
  const html = renderHtml(report);
  const md = renderMarkdown(report);
  const reportS = (performance.now() - r0) / 1000;
  process.stdout.write(`report: ${report.totals.total} decisions, ${report.timeline.buckets.length} buckets, html ${html.length} bytes, md ${md.length} bytes\n`);
  emitReport({ metric: `seconds for ${N} events`, value: reportS, unit: "s", baseline, baseline_name: "plain GROUP BY", ratio: reportS / baseline, target: `< ${TARGET_S} s`, pass: reportS < TARGET_S && report.totals.total === N });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
