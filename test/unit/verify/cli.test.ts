/**
 * `clawfence verify` end to end: `node src/cli/main.ts verify ...` in a child process, against
 * the fixtures in test/fixtures/verify and files written to a temporary directory. Exit codes
 * (0 all hold, 1 a failure, 2 usage/IO/broken scenarios file/--live without root), the streamed table,
 * --format json, --junit, --skip, --no-builtin, --phase, --list, --schema, --var, and the
 * scenarios file's diagnostics with file:line:column.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseXml } from "./xml.ts";

const MAIN = join(import.meta.dirname, "../../../src/cli/main.ts");
const FIXTURES = join(import.meta.dirname, "../../fixtures/verify");

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "cf-verify-"));
  cpSync(FIXTURES, dir, { recursive: true });
  writeFileSync(
    join(dir, "scenarios.yaml"),
    `version: 1
builtin:
  disable: [doh]
scenarios:
  - id: api-reachable
    destination: api.example.com:443/tcp
    expect: allow
    rule: web
  - id: metadata-by-name
    destination: 169.254.169.254:80
    names: [api.example.com]
    expect: deny
    rule: deny-cloud-metadata
`,
  );
  writeFileSync(join(dir, "failing.yaml"), "version: 1\nscenarios:\n  - id: wrong\n    destination: api.example.com:80\n    expect: allow\n");
  writeFileSync(join(dir, "broken.yaml"), "version: 1\nscenarios:\n  - id: a\n    destination: api.example.com\n    expect: allow\n    rule: wbe\n");
  writeFileSync(join(dir, "coding.yaml"), "version: 1\nname: coding\nextends: [coding-agent]\n");
});
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: readonly string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, "verify", ...args], { cwd: dir, encoding: "utf8", env: { PATH: process.env["PATH"] ?? "", HOME: dir, ...env }, timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

void describe("clawfence verify (child process)", () => {
  void it("exits 0 on a closed policy and prints the table with passes, live-only skips and the summary", () => {
    const r = cli(["--policy", "base.yaml"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^clawfence verify: policy base \(base\.yaml, sha256 [0-9a-f]{12}\), static mode\n/);
    assert.match(r.out, /\nPASS {2}builtin {2}allowed-destinations:web +1 probe: /);
    assert.match(r.out, /\nSKIP {2}escape {3}sni-mismatch +live-only: /);
    assert.match(r.out, /\nok: every expectation holds\n$/);
  });

  void it("exits 1 on a policy with a hole and names the rule and the evidence", () => {
    const r = cli(["--policy", "holes/udp-quic.yaml"]);
    assert.equal(r.code, 1);
    assert.match(r.out, /\nFAIL {2}escape {3}udp-quic .*\n {8}x api\.example\.com:443\/udp: expected deny, got allow\. decide\(\): allow by example-quic \(rule-allow\); rule example-quic at holes\/udp-quic\.yaml:\d+:\d+/);
    assert.match(r.out, /\nFAILED: an expectation does not hold\n$/);
  });

  void it("--skip switches the failing scenario off (by family, comma-separated and repeatable) and the run passes", () => {
    const r = cli(["--policy", "holes/udp-quic.yaml", "--skip", "udp-quic,icmp", "--skip", "doh"]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\nSKIP {2}escape {3}udp-quic +disabled by --skip\n/);
  });

  void it("--skip with an unknown id is a usage error with a suggestion", () => {
    const r = cli(["--policy", "base.yaml", "--skip", "udp-qiuc"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /error CF_USAGE_SKIP: --skip udp-qiuc: no such scenario\n {2}fix: did you mean 'udp-quic'\?/);
  });

  void it("--scenarios adds the user's expectations and disables built-ins named in the file", () => {
    const r = cli(["--policy", "base.yaml", "--scenarios", "scenarios.yaml"]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\nPASS {2}user {5}api-reachable +1 probe: /);
    assert.match(r.out, /\nPASS {2}user {5}metadata-by-name +1 probe: /);
    assert.match(r.out, /\nSKIP {2}escape {3}doh +disabled in scenarios\.yaml:3:13\n/);
  });

  void it("the example scenarios file of docs/verify.md holds on the base policy", () => {
    const r = cli(["--policy", "base.yaml", "--scenarios", "example-scenarios.yaml", "--no-builtin"]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /\n7 scenarios: 7 passed, 0 failed, 0 skipped/);
  });

  void it("a failing user expectation exits 1 and points at the scenario", () => {
    const r = cli(["--policy", "base.yaml", "--scenarios", "failing.yaml", "--no-builtin"]);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.out, /\n(PASS|FAIL|SKIP) {2}(builtin|escape)/);
    assert.match(r.out, /\nscenarios: failing\.yaml\n/);
    assert.match(r.out, /\nFAIL {2}user {5}wrong .*\n {8}x api\.example\.com:80\/tcp: expected allow, got deny\. decide\(\): deny by default \(default-deny\)/);
    assert.match(r.out, /\(scenario at failing\.yaml:3:5\)/);
  });

  void it("a broken scenarios file exits 2 with file:line:column and a fix", () => {
    const r = cli(["--policy", "base.yaml", "--scenarios", "broken.yaml"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^broken\.yaml:6:11: error CF7012: rule `wbe` is not a rule of policy base\n {2}fix: did you mean `web`\?/);
    assert.match(r.err, /error CF_VERIFY_SCENARIOS: broken\.yaml has 1 problem/);
    assert.equal(r.out, "");
  });

  void it("--format json prints one JSON document with ok and the results", () => {
    const r = cli(["--policy", "holes/doh.yaml", "--format", "json"]);
    assert.equal(r.code, 1);
    const j = JSON.parse(r.out) as { ok: boolean; results: Array<{ id: string; status: string }> };
    assert.equal(j.ok, false);
    assert.equal(j.results.find((x) => x.id === "doh")?.status, "fail");
  });

  void it("--junit writes JUnit XML that parses, also when the run fails", () => {
    const file = join(dir, "out", "..", "junit.xml");
    const r = cli(["--policy", "holes/icmp.yaml", "--junit", "junit.xml"]);
    assert.equal(r.code, 1);
    assert.ok(existsSync(file));
    const doc = parseXml(readFileSync(file, "utf8"));
    assert.equal(doc.name, "testsuites");
    assert.equal(doc.attrs["failures"], "1");
  });

  void it("--junit into a missing directory is an I/O error (exit 2)", () => {
    const r = cli(["--policy", "base.yaml", "--junit", "no/such/dir/junit.xml"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /error CF_IO_WRITE: cannot write 'no\/such\/dir\/junit\.xml'/);
  });

  // live mode itself (namespaces, a real sandbox) is tested in test/integration/verify-live.test.ts
  void it("the live-only options are refused without --live, and --sandbox-mode takes monitor or enforce", () => {
    const a = cli(["--policy", "base.yaml", "--sandbox-mode", "monitor"]);
    assert.equal(a.code, 2);
    assert.match(a.err, /error CF_USAGE_ARGS: --sandbox-mode only applies to live mode\n {2}fix: add --live/);
    const b = cli(["--policy", "base.yaml", "--live", "--sandbox-mode", "off"]);
    assert.equal(b.code, 2);
    assert.match(b.err, /error CF_USAGE_ARGS: --sandbox-mode 'off' is not monitor or enforce/);
    assert.equal(b.out, "");
  });

  void it("--phase must be a phase of the policy", () => {
    const r = cli(["--policy", "base.yaml", "--phase", "bootstrap"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /error CF_USAGE_PHASE: --phase bootstrap: the policy declares no phases/);
  });

  void it("usage errors exit 2: no --policy, a bad --format, --no-builtin without --scenarios, a missing policy file", () => {
    assert.match(cli([]).err, /CF_USAGE_ARGS: verify needs --policy/);
    assert.equal(cli(["--policy", "base.yaml", "--format", "xml"]).code, 2);
    assert.match(cli(["--policy", "base.yaml", "--no-builtin"]).err, /CF_USAGE_ARGS: --no-builtin without --scenarios/);
    const missing = cli(["--policy", "nope.yaml"]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /CF_IO_READ/);
  });

  void it("--list shows every built-in id with its group, and marks live-only ones", () => {
    const r = cli(["--list"]);
    assert.equal(r.code, 0);
    for (const id of ["allowed-destinations", "blocked-shadow-model", "monitor-to-enforce", "dns-rebinding", "internal-ranges"]) assert.match(r.out, new RegExp(`\\b${id}\\b`));
    assert.match(r.out, /escape +ttl-reuse +\[live-only\]/);
  });

  void it("--schema prints the scenarios file's JSON Schema", () => {
    const r = cli(["--schema"]);
    assert.equal(r.code, 0);
    const s = JSON.parse(r.out) as Record<string, unknown>;
    assert.equal(s["$id"], "https://clawfence.dev/schema/verify-scenarios-v1.json");
  });

  void it("a preset that needs machine variables verifies with --var values", () => {
    const r = cli(["--policy", "coding.yaml", "--var", "npm_registry=npm.registry.test", "--var", "debian_mirror=deb.mirror.test"]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /\nPASS {2}builtin {2}allowed-destinations:allow-packages +1 probe: /);
  });
});
