/**
 * `clawfence check` run as a real process (node src/cli/main.ts): exit codes 0/1/2, the text,
 * JSON and SARIF formats, --strict and --var.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const ROOT = join(import.meta.dirname, "../../..");
const FIXTURES = join(ROOT, "test/fixtures/policy");

function check(args: string[], cwd = FIXTURES) {
  const r = spawnSync(process.execPath, [join(ROOT, "src/cli/main.ts"), "check", ...args], { encoding: "utf8", cwd });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface JsonReport {
  version: number;
  file: string;
  ok: boolean;
  policy: { name: string; rules: number; hash: string } | null;
  summary: { errors: number; warnings: number; infos: number };
  diagnostics: Array<{ code: string; severity: string; message: string; fix: string | null; file: string | null; line: number | null; column: number | null; data: object }>;
}

void test("a clean policy exits 0 and the text output ends with the summary line", () => {
  const r = check(["clean.yaml"]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, "ok: clean (1 rule, 0 errors, 0 warnings)\n");
});

void test("a policy error exits 1 with file:line:col, code, message and fix in text", () => {
  const r = check(["reversed_port_range.yaml"]);
  assert.equal(r.status, 1);
  const lines = r.stdout.trimEnd().split("\n");
  assert.match(lines[0] ?? "", /^reversed_port_range\.yaml:6:18: error CF3021: .*reversed/);
  assert.match(lines[1] ?? "", /^ {2}fix: write "8000-8100"$/);
  assert.equal(lines.at(-1), "failed: reversed_port_range.yaml (1 error, 0 warnings)");
});

void test("a missing file exits 2 with CF_IO_READ and a fix", () => {
  const r = check(["no_such_policy.yaml"]);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /error CF_IO_READ: cannot read 'no_such_policy\.yaml': no such file\n {2}fix: /);
});

void test("usage errors exit 2: no file, two files, an unknown format, a malformed --var, an unknown option", () => {
  for (const args of [[], ["a.yaml", "b.yaml"], ["clean.yaml", "--format", "xml"], ["clean.yaml", "--var", "novalue"], ["clean.yaml", "--bogus"]]) {
    const r = check(args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /error CF_USAGE_[A-Z]+: .*\n {2}fix: /);
  }
});

void test("warnings pass without --strict and fail with it", () => {
  const plain = check(["warn_default_allow.yaml", "--format", "json"]);
  const report = JSON.parse(plain.stdout) as JsonReport;
  assert.ok(report.summary.warnings > 0 && report.summary.errors === 0, "the fixture has warnings and no errors");
  assert.equal(plain.status, 0);
  assert.equal(report.ok, true);
  const strict = check(["warn_default_allow.yaml", "--format", "json", "--strict"]);
  assert.equal(strict.status, 1);
  assert.equal((JSON.parse(strict.stdout) as JsonReport).ok, false);
});

void test("json output is the documented stable shape", () => {
  const r = check(["many_errors.yaml", "--format", "json"]);
  assert.equal(r.status, 1);
  const report = JSON.parse(r.stdout) as JsonReport;
  assert.equal(report.version, 1);
  assert.equal(report.file, "many_errors.yaml");
  assert.equal(report.ok, false);
  assert.equal(report.policy, null);
  assert.deepEqual(report.summary, { errors: 4, warnings: 0, infos: 0 });
  assert.deepEqual(
    report.diagnostics.map((d) => [d.code, d.severity, d.file, d.line, d.column]),
    [
      ["CF3010", "error", "many_errors.yaml", 6, 13],
      ["CF3021", "error", "many_errors.yaml", 9, 13],
      ["CF4020", "error", "many_errors.yaml", 11, 13],
      ["CF4040", "error", "many_errors.yaml", 12, 12],
    ],
  );
  for (const d of report.diagnostics) {
    assert.deepEqual(Object.keys(d), ["code", "severity", "message", "fix", "file", "line", "column", "data"]);
    assert.equal(typeof d.fix, "string");
  }
  const ok = JSON.parse(check(["clean.yaml", "--format", "json"]).stdout) as JsonReport;
  assert.equal(ok.policy?.name, "clean");
  assert.equal(ok.policy?.rules, 1);
  assert.match(ok.policy?.hash ?? "", /^[0-9a-f]{64}$/);
});

void test("sarif output is SARIF 2.1.0 with rules, levels and regions", () => {
  const r = check(["many_errors.yaml", "--format", "sarif"]);
  assert.equal(r.status, 1);
  const log = JSON.parse(r.stdout) as {
    version: string;
    $schema: string;
    runs: Array<{
      tool: { driver: { name: string; rules: Array<{ id: string; shortDescription: { text: string } }> } };
      results: Array<{ ruleId: string; ruleIndex: number; level: string; message: { text: string }; locations: Array<{ physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number; startColumn: number } } }> }>;
    }>;
  };
  assert.equal(log.version, "2.1.0");
  assert.match(log.$schema, /sarif-2\.1\.0/);
  const run = log.runs[0];
  assert.ok(run);
  assert.equal(run.tool.driver.name, "clawfence");
  assert.equal(run.results.length, 4);
  for (const res of run.results) {
    assert.equal(res.level, "error");
    assert.equal(run.tool.driver.rules[res.ruleIndex]?.id, res.ruleId);
    assert.ok(run.tool.driver.rules[res.ruleIndex]?.shortDescription.text);
    assert.equal(res.locations[0]?.physicalLocation.artifactLocation.uri, "many_errors.yaml");
    assert.match(res.message.text, /\nFix: /);
  }
  assert.deepEqual(run.results[1]?.locations[0]?.physicalLocation.region, { startLine: 9, startColumn: 13 });
  const warn = JSON.parse(check(["warn_default_allow.yaml", "--format", "sarif"]).stdout) as typeof log;
  assert.ok(warn.runs[0]?.results.some((x) => x.level === "warning"));
});

void test("--var overrides a policy variable and defines a missing one", () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-check-"));
  try {
    writeFileSync(
      join(dir, "p.yaml"),
      "version: 1\nname: p\nvars:\n  host: 'bad host'\nrules:\n  - name: r\n    allow: [\"${host}\", \"${other}\"]\n    ports: [443]\n    protocol: tcp\n",
    );
    const bad = check(["p.yaml", "--format", "json"], dir);
    assert.equal(bad.status, 1);
    assert.deepEqual(
      (JSON.parse(bad.stdout) as JsonReport).diagnostics.map((d) => [d.code, d.line, d.column]),
      [
        ["CF3001", 7, 13],
        ["CF4001", 7, 24],
      ],
    );
    const good = check(["p.yaml", "--var", "host=api.example.com", "--var=other=cdn.example.com"], dir);
    assert.equal(good.status, 0, good.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test("an extended file that cannot be read is a policy error at its extends entry (exit 1)", () => {
  const r = check(["extends_missing_file.yaml"]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^extends_missing_file\.yaml:3:11: error CF4011: .*no such file/m);
});
