/**
 * No false positives on the built-in presets: every preset, extended by an empty policy as a
 * user would, passes `check --strict` (no finding of error or warning severity).
 * The registry variables get example values here (the CLI takes them from the machine).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadPolicyTextWithInfo } from "../../../../src/policy/load.ts";
import { PRESETS } from "../../../../src/policy/presets/index.ts";
import { failsCheck, lintPolicy } from "../../../../src/lint/index.ts";
import { formatDiagnostic } from "../../../../src/policy/errors.ts";

const VARS = { npm_registry: "registry.npm.example.org", debian_mirror: "debian.mirror.example.org", aws_region: "us-east-1" };
const noFiles = (p: string): string => {
  throw new Error(`no file ${p} in this test`);
};

for (const name of Object.keys(PRESETS)) {
  void test(`preset ${name} passes check --strict`, () => {
    const { policy, info } = loadPolicyTextWithInfo(`version: 1\nname: uses-${name}\nextends: [${name}]\nrules: []\n`, "/virtual/policy.yaml", noFiles, { vars: VARS });
    const findings = lintPolicy(policy, { positions: info.positions, vars: info.vars });
    assert.equal(failsCheck(findings, true), false, findings.map(formatDiagnostic).join("\n"));
  });
}
