/**
 * Reporters: JUnit XML parsed back (test/unit/verify/xml.ts) — one suite per group, a testcase
 * per scenario, <failure> naming the deciding rule with the evidence, <skipped> for live-only,
 * counts that add up, text that survives escaping; the JSON report's shape; the table's rows,
 * evidence lines and summary; and the exit rule (`succeeded`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Policy } from "../../../src/policy/ir.ts";
import { loadPolicyText } from "../../../src/policy/load.ts";
import { builtinScenarios } from "../../../src/verify/builtin.ts";
import { idWidth, jsonReport, junitReport, succeeded, summarize, tableHeader, tableRow, tableSummary, xmlEscape } from "../../../src/verify/report.ts";
import { createStaticRunner, runVerify } from "../../../src/verify/runner.ts";
import type { Scenario, ScenarioResult } from "../../../src/verify/scenario.ts";
import { parseXml, type XmlElement } from "./xml.ts";

const POLICY: Policy = loadPolicyText(
  `version: 1
name: report-demo
extends: [locked-down]
rules:
  - name: quic-anywhere
    allow: [any]
    ports: [443]
    protocol: udp
  - name: web
    allow: [api.example.com]
    ports: [443]
    protocol: tcp
`,
  "policy.yaml",
  () => assert.fail("no file reads"),
);

const USER: Scenario = {
  id: "tricky <&\"'> id",
  family: "tricky",
  group: "user",
  description: "text with <markup> & \"quotes\" and a control char \u0001 and a lone surrogate \ud800",
  probes: [{ destination: "api.example.com:80/tcp", check: { kind: "flow", flow: { protocol: "tcp", port: 80, names: ["api.example.com"] } }, expect: "allow", variant: { kind: "policy" } }],
  exempt: [],
  pos: { file: "sc.yaml", line: 4, column: 5 },
};

async function results(): Promise<ScenarioResult[]> {
  return runVerify([...builtinScenarios(POLICY), USER], createStaticRunner(POLICY), { disabled: new Map([["doh", "disabled by --skip"]]) });
}

function kids(e: XmlElement, name: string): XmlElement[] {
  return e.children.filter((c) => c.name === name);
}

void describe("JUnit XML", () => {
  void it("parses back into one testsuite per group with a testcase per scenario and counts that add up", async () => {
    const rs = await results();
    const doc = parseXml(junitReport({ policy: POLICY, mode: "static" }, rs));
    assert.equal(doc.name, "testsuites");
    const suites = kids(doc, "testsuite");
    assert.deepEqual(
      suites.map((s) => s.attrs["name"]),
      ["builtin", "escape", "user"],
    );
    let tests = 0;
    let failures = 0;
    let skipped = 0;
    for (const s of suites) {
      const cases = kids(s, "testcase");
      assert.equal(Number(s.attrs["tests"]), cases.length);
      assert.equal(Number(s.attrs["failures"]), cases.filter((c) => kids(c, "failure").length > 0).length);
      assert.equal(Number(s.attrs["skipped"]), cases.filter((c) => kids(c, "skipped").length > 0).length);
      for (const c of cases) assert.equal(c.attrs["classname"], `clawfence.verify.${s.attrs["name"] ?? ""}`);
      tests += cases.length;
      failures += Number(s.attrs["failures"]);
      skipped += Number(s.attrs["skipped"]);
    }
    assert.equal(Number(doc.attrs["tests"]), rs.length);
    assert.equal(tests, rs.length);
    assert.equal(Number(doc.attrs["failures"]), failures);
    assert.equal(Number(doc.attrs["skipped"]), skipped);
    const s = summarize(rs);
    assert.equal(failures, s.failed);
    assert.equal(skipped, s.skipped);
  });

  void it("names the deciding rule in <failure> and carries the evidence", async () => {
    const doc = parseXml(junitReport({ policy: POLICY, mode: "static" }, await results()));
    const escape = kids(doc, "testsuite").find((s) => s.attrs["name"] === "escape");
    const udp = escape ? kids(escape, "testcase").find((c) => c.attrs["name"] === "udp-quic") : undefined;
    const failure = udp ? kids(udp, "failure")[0] : undefined;
    assert.ok(failure);
    assert.match(failure.attrs["message"] ?? "", /expected deny, decided allow by rule quic-anywhere \(rule-allow\)/);
    assert.match(failure.text, /rule quic-anywhere at policy\.yaml:5:5: 'any' at policy\.yaml:6:13 matches any destination/);
  });

  void it("marks live-only and disabled scenarios <skipped> with the reason", async () => {
    const doc = parseXml(junitReport({ policy: POLICY, mode: "static" }, await results()));
    const escape = kids(doc, "testsuite").find((s) => s.attrs["name"] === "escape");
    assert.ok(escape);
    const sni = kids(escape, "testcase").find((c) => c.attrs["name"] === "sni-mismatch");
    assert.match(kids(sni as XmlElement, "skipped")[0]?.attrs["message"] ?? "", /^live-only: /);
    const doh = kids(escape, "testcase").find((c) => c.attrs["name"] === "doh");
    assert.equal(kids(doh as XmlElement, "skipped")[0]?.attrs["message"], "disabled by --skip");
  });

  void it("escapes names and text so they read back unchanged (characters XML cannot carry become U+FFFD)", async () => {
    const doc = parseXml(junitReport({ policy: POLICY, mode: "static" }, await results()));
    const user = kids(doc, "testsuite").find((s) => s.attrs["name"] === "user");
    const tc = user ? kids(user, "testcase")[0] : undefined;
    assert.equal(tc?.attrs["name"], "tricky <&\"'> id");
    assert.equal(tc?.attrs["file"], "sc.yaml");
    assert.equal(tc?.attrs["line"], "4");
    const out = tc ? kids(tc, "system-out")[0]?.text : "";
    assert.ok(out?.startsWith("text with <markup> & \"quotes\" and a control char \ufffd and a lone surrogate \ufffd"));
    assert.equal(xmlEscape("a<b>&'\""), "a&lt;b&gt;&amp;&apos;&quot;");
  });
});

void describe("the JSON report", () => {
  void it("has the policy, the summary, and per probe the expected and actual decision with evidence", async () => {
    const rs = await results();
    const j = JSON.parse(jsonReport({ policy: POLICY, mode: "static", scenariosFile: "sc.yaml" }, rs)) as Record<string, unknown> & {
      results: Array<{ id: string; status: string; probes: Array<Record<string, unknown>> }>;
      summary: Record<string, number>;
    };
    assert.equal(j["ok"], false);
    assert.equal(j["mode"], "static");
    assert.deepEqual(j["policy"], { name: "report-demo", file: "policy.yaml", hash: POLICY.hash, mode: "enforce" });
    assert.equal(j.summary["scenarios"], rs.length);
    const udp = j.results.find((r) => r.id === "udp-quic");
    assert.equal(udp?.status, "fail");
    const p = udp?.probes.find((x) => x["status"] === "fail");
    assert.deepEqual(p?.["expected"], { verdict: "deny" });
    assert.deepEqual(p?.["actual"], { verdict: "allow", enforced: true, rule: "quic-anywhere", reason: "rule-allow", as: "allow" });
    assert.equal(typeof p?.["evidence"], "string");
  });
});

void describe("the table", () => {
  void it("shows a row per scenario, evidence under failures with the scenario's position, and a summary", async () => {
    const rs = await results();
    const w = idWidth(rs.map((r) => r.scenario));
    const text = tableHeader({ policy: POLICY, mode: "static" }) + rs.map((r) => tableRow(r, w)).join("") + tableSummary(rs);
    assert.match(text, /^clawfence verify: policy report-demo \(policy\.yaml, sha256 [0-9a-f]{12}\), static mode\n/);
    assert.match(text, /\nPASS {2}escape {3}direct-ip +6 probes: /);
    assert.match(text, /\nFAIL {2}escape {3}udp-quic +\d+\/\d+ probes failed: .*\n {8}x quic-[0-9a-f]{8}\.attacker\.example:443\/udp: expected deny, got allow\. decide\(\): allow by quic-anywhere/);
    assert.match(text, /\nSKIP {2}escape {3}ttl-reuse +live-only: /);
    assert.match(text, /\n {8}\(scenario at sc\.yaml:4:5\)\n/);
    assert.match(text, /\n\d+ scenarios: \d+ passed, \d+ failed, \d+ skipped \(6 live-only\); \d+ probes judged, \d+ failed\nFAILED: an expectation does not hold\n$/);
  });
});

void describe("when verify succeeds", () => {
  const pass = { status: "pass" } as ScenarioResult;
  const fail = { status: "fail" } as ScenarioResult;
  const skip = { status: "skip" } as ScenarioResult;
  const cases: ReadonlyArray<[string, ScenarioResult[], boolean]> = [
    ["every scenario passed", [pass, pass], true],
    ["passes and skips", [pass, skip], true],
    ["one failure among passes", [pass, fail, skip], false],
    ["everything skipped: nothing was judged", [skip, skip], false],
    ["no scenarios at all", [], false],
  ];
  for (const [name, rs, want] of cases) void it(`${name}: ${want ? "exit 0" : "exit 1"}`, () => assert.equal(succeeded(rs), want));
});
