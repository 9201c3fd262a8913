/**
 * `report` (flows/report.ts and report/*): the report value from grouped counts, the store's
 * SQL answers agreeing with the in-memory aggregation of the same events, the time range,
 * and the renderers escaping what came from the flow log.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildReport, chooseBucket, collectReportInput, reportInputFromEvents, type ReportInput } from "../../../src/flows/report.ts";
import { renderHtml } from "../../../src/flows/report/html.ts";
import { md, renderMarkdown } from "../../../src/flows/report/markdown.ts";
import { openFlowReader } from "../../../src/flows/store.ts";
import type { FlowEvent } from "../../../src/runtime/events.ts";
import { T0, load, makeEvents, tempStore } from "./learn-helpers.ts";

const POLICY = load(
  `version: 1
name: audited
mode: monitor
rules:
  - name: shadow-model-deny
    deny: [catalog:shadow-model-providers]
    mode: enforce
  - name: allow-github
    allow: [api.github.com]
    ports: [443]
    protocol: tcp
  - name: allow-pypi
    allow: [pypi.org]
    ports: [443]
    protocol: tcp
`,
  "audited.yaml",
);

function sample(): FlowEvent[] {
  const ev = makeEvents();
  const h = POLICY.hash;
  return [
    ev({ name: "api.github.com", verdict: "allow", enforced: true, rule: "allow-github", reason: "rule-allow", policy_hash: h }),
    ev({ name: "api.github.com", verdict: "allow", enforced: true, rule: "allow-github", reason: "rule-allow", policy_hash: h }),
    ev({ name: "api.openai.com", enforced: true, rule: "shadow-model-deny", reason: "rule-deny", policy_hash: h }),
    ev({ name: "api.openai.com", enforced: true, rule: "shadow-model-deny", reason: "rule-deny", policy_hash: h, sandbox: "sb2" }),
    ev({ name: "api.openai.com", enforced: true, rule: "shadow-model-deny", reason: "rule-deny", policy_hash: h }),
    ev({ name: "new.example.com", policy_hash: h }),
    ev({ name: "new.example.com", dst_port: 80, policy_hash: h }),
    ev({ kind: "dns", name: "lookup.example.com", proto: "udp", dst_port: null, policy_hash: h }),
    ev({ kind: "packet", dst_ip: "169.254.169.254", dst_port: 80, reason: "special-range", enforced: true, policy_hash: "0".repeat(64) }),
    ev({ name: "old.example.com", rule: "retired-rule", reason: "rule-deny", enforced: true }),
  ];
}

/** Comparable: groups sorted by a stable key (ties in count may come in any order). */
function normalize(i: ReportInput): unknown {
  const sortBy = <T>(xs: readonly T[]): T[] => [...xs].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return { ...i, byRule: sortBy(i.byRule), denied: sortBy(i.denied), policyHashes: sortBy(i.policyHashes), sandboxes: sortBy(i.sandboxes), kinds: sortBy(i.kinds), chain: null, verified: null };
}

void describe("report input", () => {
  void test("the store's SQL answers equal the in-memory aggregation of the same events", () => {
    const events = sample();
    const s = tempStore(events);
    try {
      const reader = openFlowReader(s.path);
      try {
        for (const range of [{}, { sinceMs: T0 + 2 * 60_000 }, { sinceMs: T0 + 60_000, untilMs: T0 + 6 * 60_000 }]) {
          const fromStore = collectReportInput(reader, range);
          const fromEvents = reportInputFromEvents(events, range);
          assert.deepEqual(normalize(fromStore), normalize(fromEvents), JSON.stringify(range));
          assert.equal(fromStore.chain?.headId, events.length);
        }
      } finally {
        reader.close();
      }
    } finally {
      s.done();
    }
  });

  void test("since is inclusive and until exclusive", () => {
    const events = sample();
    const i = reportInputFromEvents(events, { sinceMs: T0 + 60_000, untilMs: T0 + 3 * 60_000 });
    assert.equal(i.total, 2);
    assert.equal(i.firstMs, T0 + 60_000);
    assert.equal(i.lastMs, T0 + 2 * 60_000);
  });

  const buckets: Array<{ name: string; span: number; bucket: number }> = [
    { name: "ten minutes in 15-second buckets", span: 10 * 60_000, bucket: 15_000 },
    { name: "59 minutes in one-minute buckets", span: 59 * 60_000, bucket: 60_000 },
    { name: "an hour (61 minute marks) in five-minute buckets", span: 3_600_000, bucket: 300_000 },
    { name: "a day in 30-minute buckets", span: 86_400_000, bucket: 1_800_000 },
    { name: "a month in one-day buckets", span: 30 * 86_400_000, bucket: 86_400_000 },
    { name: "one instant in one-second buckets", span: 0, bucket: 1_000 },
  ];
  for (const b of buckets) {
    void test(`the timeline covers ${b.name}`, () => {
      assert.equal(chooseBucket(T0, T0 + b.span), b.bucket);
    });
  }

  void test("the timeline's buckets add up to the totals", () => {
    const i = reportInputFromEvents(sample());
    const sum = i.timeline.reduce((a, b) => a + b.allow + b.deny + b.wouldDeny, 0);
    assert.equal(sum, i.total);
    assert.ok(i.timeline.length <= 60);
  });
});

void describe("buildReport", () => {
  const r = buildReport(reportInputFromEvents(sample(), { dropped: 3 }), { policy: POLICY, generatedAtMs: T0 + 86_400_000, source: "flows.db" });

  void test("totals by verdict, with would-deny apart and the dropped count", () => {
    assert.deepEqual(r.totals, { total: 10, allow: 2, deny: 5, wouldDeny: 3, dropped: 3 });
  });

  void test("the top denied destinations come by count, with their ports, rules and a DNS question as a lookup", () => {
    assert.deepEqual(
      r.topDenied.map((d) => [d.destination, d.ports, d.count, d.deny, d.wouldDeny, d.rules]),
      [
        ["api.openai.com", ["tcp/443"], 3, 3, 0, ["shadow-model-deny"]],
        ["new.example.com", ["tcp/443", "tcp/80"], 2, 0, 2, ["default"]],
        ["169.254.169.254", ["tcp/80"], 1, 1, 0, ["default"]],
        ["lookup.example.com", ["lookup"], 1, 0, 1, ["default"]],
        ["old.example.com", ["tcp/443"], 1, 1, 0, ["retired-rule"]],
      ],
    );
  });

  void test("would-deny lists only what monitor mode let through", () => {
    assert.deepEqual(
      r.wouldDeny.map((d) => d.destination),
      ["new.example.com", "lookup.example.com"],
    );
  });

  void test("hits per rule, the rules never hit, and a rule the policy no longer has", () => {
    assert.deepEqual(
      r.rules.map((x) => [x.rule, x.action, x.inPolicy, x.allow, x.deny, x.wouldDeny]),
      [
        ["default", "deny", true, 0, 1, 3],
        ["shadow-model-deny", "deny", true, 0, 3, 0],
        ["allow-github", "allow", true, 2, 0, 0],
        ["retired-rule", null, false, 0, 1, 0],
      ],
    );
    assert.deepEqual(r.neverHit, [{ rule: "allow-pypi", action: "allow" }]);
  });

  void test("the policy hashes that decided, marked when they are the given policy's", () => {
    const rows = r.policyHashes.map((h) => [h.hash === POLICY.hash ? "this" : h.hash, h.count, h.current]);
    assert.deepEqual(rows[0], ["this", 8, true]);
    assert.deepEqual(
      rows.slice(1).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      [
        ["0".repeat(64), 1, false],
        [null, 1, false],
      ],
    );
  });

  void test("without a policy there is no never-hit list and no action", () => {
    const plain = buildReport(reportInputFromEvents(sample()));
    assert.equal(plain.neverHit, null);
    assert.ok(plain.rules.every((x) => x.action === null && x.inPolicy === null));
  });

  void test("an empty range renders in every format", () => {
    const empty = buildReport(reportInputFromEvents([]));
    assert.equal(empty.totals.total, 0);
    assert.match(renderMarkdown(empty), /Nothing was denied/);
    assert.match(renderHtml(empty), /no decisions in this range/);
  });
});

void describe("renderers", () => {
  const hostile = "evil|name<script>alert(1)</script>[x](http://e.example)`";
  const ev = makeEvents();
  const r = buildReport(reportInputFromEvents([ev({ name: hostile, rule: "r|<b>", reason: "rule-deny", enforced: true })]), { source: "f.db" });

  void test("Markdown escapes table cells, links, HTML and code from the log", () => {
    const text = renderMarkdown(r);
    assert.ok(!text.includes("<script>"));
    assert.ok(!text.includes("](http"));
    assert.ok(text.includes(md(hostile)));
    const row = text.split("\n").find((l) => l.includes("evil"));
    // the row has exactly the table's 9 cell separators: none came from the name or the rule
    assert.equal((row?.replace(/\\\|/g, "").match(/\|/g) ?? []).length, 9, row);
  });

  void test("HTML escapes everything from the log and loads nothing from outside", () => {
    const html = renderHtml(r);
    assert.ok(!/<script/i.test(html));
    assert.ok(html.includes("evil|name&#60;script&#62;"));
    assert.ok(!/\b(src|href)=/i.test(html));
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  });

  void test("HTML has the four charts, with a bar for every non-zero series", () => {
    const html = renderHtml(buildReport(reportInputFromEvents(sample())));
    for (const id of ["chart-verdicts", "chart-timeline", "chart-rules", "chart-denied"]) assert.match(html, new RegExp(`<svg class="chart" id="${id}"`));
    const verdicts = /<svg class="chart" id="chart-verdicts".*?<\/svg>/s.exec(html)?.[0] ?? "";
    assert.equal((verdicts.match(/<rect class="bar/g) ?? []).length, 3);
  });
});
