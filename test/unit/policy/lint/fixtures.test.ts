/**
 * Every guardrail finding has a fixture that triggers it and a fixed version
 * (test/fixtures/lint/<code>_<what>.yaml and .fixed.yaml). Each fixture is loaded with the
 * real loader (with the loader's positions and variable uses, as `check` does) and the
 * exact findings (code, line, column) are asserted; the fixed version passes `check --strict`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { loadPolicyTextWithInfo } from "../../../../src/policy/load.ts";
import { failsCheck, lintPolicy, LINT_RULES } from "../../../../src/lint/index.ts";
import type { Diagnostic } from "../../../../src/policy/errors.ts";

const DIR = join(import.meta.dirname, "../../../fixtures/lint");

function lintFixture(name: string): Diagnostic[] {
  const file = join(DIR, name);
  const read = (p: string): string => readFileSync(p, "utf8");
  const { policy, info } = loadPolicyTextWithInfo(read(file), file, read);
  return lintPolicy(policy, { positions: info.positions, vars: info.vars });
}

const at = (ds: readonly Diagnostic[]): string[] => ds.map((d) => `${d.code}@${d.pos?.line}:${d.pos?.column}`);

/** fixture -> exact findings of the broken version, and of the fixed version */
const CASES: ReadonlyArray<{ fixture: string; expect: string[]; fixed: string[] }> = [
  { fixture: "CF5001_covered-by-union", expect: ["CF5001@18:5"], fixed: [] },
  { fixture: "CF5002_deny-after-wildcard-allow", expect: ["CF5002@12:12"], fixed: ["CF5004@7:13"] },
  { fixture: "CF5003_shadow-model-allowed", expect: ["CF5001@9:5", "CF5003@10:13"], fixed: [] },
  { fixture: "CF5004_exception-before-deny", expect: ["CF5004@12:12"], fixed: [] },
  { fixture: "CF5010_dns-to-any", expect: ["CF5010@8:13"], fixed: [] },
  { fixture: "CF5011_wildcard-covers-doh", expect: ["CF5011@6:13"], fixed: ["CF5004@10:13"] },
  { fixture: "CF5020_any-without-ports", expect: ["CF5010@6:13", "CF5011@6:13", "CF5020@6:13"], fixed: [] },
  { fixture: "CF5020_large-cidr-without-ports", expect: ["CF5020@6:13"], fixed: [] },
  { fixture: "CF5021_allow-without-ports", expect: ["CF5021@5:5"], fixed: [] },
  { fixture: "CF5022_wildcard-over-storage", expect: ["CF5022@6:13"], fixed: [] },
  { fixture: "CF5023_internal-slash8", expect: ["CF5023@4:12"], fixed: [] },
  { fixture: "CF5024_metadata-literal", expect: ["CF5024@6:13"], fixed: [] },
  { fixture: "CF5024_internal-over-metadata", expect: ["CF5024@4:12"], fixed: [] },
  { fixture: "CF5030_http-mirror", expect: ["CF5030@5:5"], fixed: [] },
  { fixture: "CF5040_unused-group", expect: ["CF5040@5:3"], fixed: [] },
  { fixture: "CF5041_unused-variable", expect: ["CF5041@6:3"], fixed: [] },
  { fixture: "CF5042_duplicate-entry", expect: ["CF5042@6:30", "CF5042@6:59"], fixed: [] },
  { fixture: "CF5043_monitor-mode", expect: ["CF5043@4:7"], fixed: [] },
  { fixture: "CF5044_default-allow", expect: ["CF5044@7:10"], fixed: [] },
];

for (const c of CASES) {
  void test(`${c.fixture}.yaml reports exactly ${c.expect.join(", ")}`, () => {
    assert.deepEqual(at(lintFixture(`${c.fixture}.yaml`)), c.expect);
  });
  void test(`${c.fixture}.fixed.yaml reports ${c.fixed.length === 0 ? "nothing" : c.fixed.join(", ")} and passes --strict`, () => {
    const ds = lintFixture(`${c.fixture}.fixed.yaml`);
    assert.deepEqual(at(ds), c.fixed);
    assert.equal(failsCheck(ds, true), false);
  });
}

void test("every lint code has a triggering fixture, a fixed fixture and a case above", () => {
  const files = new Set(readdirSync(DIR));
  for (const r of LINT_RULES) {
    const triggers = [...files].filter((f) => f.startsWith(`${r.code}_`) && !f.endsWith(".fixed.yaml"));
    assert.ok(triggers.length > 0, `no fixture for ${r.code}`);
    for (const t of triggers) {
      assert.ok(files.has(t.replace(/\.yaml$/, ".fixed.yaml")), `no fixed version of ${t}`);
      assert.ok(
        CASES.some((c) => `${c.fixture}.yaml` === t && c.expect.some((e) => e.startsWith(`${r.code}@`))),
        `${t} is not asserted to report ${r.code}`,
      );
    }
  }
});

void test("every finding carries a message, a fix and a file:line:column, and its code's severity", () => {
  for (const c of CASES) {
    for (const d of lintFixture(`${c.fixture}.yaml`)) {
      const rule = LINT_RULES.find((r) => r.code === d.code);
      assert.ok(rule, d.code);
      assert.equal(d.severity, rule.severity);
      assert.ok(d.message.length > 20 && d.fix && d.fix.length > 10, d.code);
      assert.ok(d.pos && d.pos.file.endsWith(`${c.fixture}.yaml`) && d.pos.line > 0 && d.pos.column > 0, d.code);
    }
  }
});

void test("the shadow-model example names the covering rule and says why it wins", () => {
  const [unreachable, conflict] = lintFixture("CF5003_shadow-model-allowed.yaml");
  assert.match(unreachable?.message ?? "", /rule 'allow-models' never decides anything: every flow it matches is decided first by 'shadow-model-deny'/);
  assert.match(conflict?.message ?? "", /api\.openai\.com is allowed by 'allow-models' and denied by 'shadow-model-deny' .* the deny wins because its priority 10 is lower than 100/);
});
