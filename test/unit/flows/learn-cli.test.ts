/**
 * `clawfence learn` and `clawfence report` run as real processes (node src/cli/main.ts) on a
 * real flow store: outputs, formats, the edited policy passing `clawfence check`, exit codes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import type { FlowEvent } from "../../../src/runtime/events.ts";
import { T0, VARS, makeEvents, tempStore } from "./learn-helpers.ts";

const ROOT = join(import.meta.dirname, "../../..");
const VAR_ARGS = Object.entries(VARS).flatMap(([k, v]) => ["--var", `${k}=${v}`]);

function cli(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [join(ROOT, "src/cli/main.ts"), ...args], { encoding: "utf8", cwd });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function events(): FlowEvent[] {
  const ev = makeEvents();
  return [
    ev({ name: "api.github.com", verdict: "allow", enforced: true, rule: "gh", reason: "rule-allow" }),
    ev({ name: "a.example.org" }),
    ev({ name: "b.example.org" }),
    ev({ name: "c.example.org" }),
    ev({ name: "api.openai.com" }),
    ev({ name: "pastebin.com" }),
    ev({ kind: "dns", name: "git.example.net", proto: "udp", dst_port: null, answers: ["140.82.112.3"] }),
    ev({ kind: "packet", dst_ip: "140.82.112.3", dst_port: 22 }),
    ev({ kind: "packet", dst_ip: "169.254.169.254", dst_port: 80 }),
  ];
}

const POLICY = `# team policy: keep this comment
version: 1
name: team
mode: monitor
rules:
  - name: gh   # source control
    allow: [api.github.com]
    ports: [443]
    protocol: tcp
  # nothing else
  - name: deny-rest
    deny: [any]
`;

void describe("clawfence learn", () => {
  let s: ReturnType<typeof tempStore>;
  before(() => {
    s = tempStore(events());
    writeFileSync(join(s.dir, "team.yaml"), POLICY);
  });
  after(() => s.done());

  void test("without a policy: the proposal goes to -o, the report to stdout, and the file passes check", () => {
    const r = cli(["learn", "--db", "flows.db", "-o", "proposed.yaml", "--explain"], s.dir);
    assert.equal(r.status, 0, r.stderr);
    const proposed = readFileSync(join(s.dir, "proposed.yaml"), "utf8");
    assert.match(proposed, /- "\*\.example\.org"/);
    assert.match(proposed, /- git\.example\.net/);
    assert.doesNotMatch(proposed, /openai|pastebin|169\.254/);
    assert.match(r.stdout, /api\.openai\.com\s+shadow-model-provider/);
    assert.match(r.stdout, /pastebin\.com\s+paste-site/);
    assert.match(r.stdout, /169\.254\.169\.254\s+special-range/);
    assert.match(r.stdout, /sandboxes: sb1/);
    assert.match(r.stdout, /names: a\.example\.org, b\.example\.org, c\.example\.org/);
    const check = cli(["check", "proposed.yaml"], s.dir);
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  void test("without -o the policy goes to stdout and the report to stderr", () => {
    const r = cli(["learn", "--db", "flows.db"], s.dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^# Proposed by `clawfence learn`/);
    assert.match(r.stderr, /^learn: 9 flows from flows\.db/);
  });

  void test("with --policy: the rules go in before the catch-all, everything else is kept, and a diff is shown", () => {
    const r = cli(["learn", "--db", "flows.db", "--policy", "team.yaml", "-o", "team.new.yaml"], s.dir);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const out = readFileSync(join(s.dir, "team.new.yaml"), "utf8");
    assert.ok(out.startsWith(POLICY.slice(0, POLICY.indexOf("  # nothing else"))));
    assert.ok(out.endsWith("  # nothing else\n  - name: deny-rest\n    deny: [any]\n"));
    assert.match(r.stdout, /^--- team\.yaml\n\+\+\+ team\.yaml\n@@ /m);
    assert.match(r.stdout, /^\+ {2}- name: learned-tcp-443$/m);
    assert.match(r.stdout, /already allowed: 1 flows to 1 destinations/);
    const check = cli(["check", "team.new.yaml"], s.dir);
    assert.equal(check.status, 0, check.stdout + check.stderr);
  });

  void test("--format json carries the policy text, the suggestions and what was not added", () => {
    const r = cli(["learn", "--db", "flows.db", "--format", "json", "--min-subdomains", "0"], s.dir);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { ok: boolean; policy: string; suggestions: Array<{ entry: string }>; notAdded: Array<{ destination: string; category: string }>; lint: unknown[] };
    assert.equal(j.ok, true);
    assert.deepEqual(
      j.suggestions.map((x) => x.entry).sort(),
      ["a.example.org", "api.github.com", "b.example.org", "c.example.org", "git.example.net"],
    );
    assert.ok(j.notAdded.some((n) => n.destination === "api.openai.com" && n.category === "shadow-model-provider"));
    assert.match(j.policy, /^version: 1$/m);
  });

  void test("--since narrows the flows", () => {
    const since = new Date(T0 + 6 * 60_000).toISOString();
    const r = cli(["learn", "--db", "flows.db", "--since", since, "--format", "json"], s.dir);
    const j = JSON.parse(r.stdout) as { totalFlows: number; suggestions: Array<{ entry: string }> };
    assert.equal(j.totalFlows, 3);
    assert.deepEqual(
      j.suggestions.map((x) => x.entry),
      ["git.example.net"],
    );
  });

  const usage: Array<{ name: string; args: string[]; code: string }> = [
    { name: "no --db", args: ["learn"], code: "CF_USAGE_ARGS" },
    { name: "a missing store", args: ["learn", "--db", "nope.db"], code: "CF_FLOWS_NO_DB" },
    { name: "a bad --min-subdomains", args: ["learn", "--db", "flows.db", "--min-subdomains", "two"], code: "CF_USAGE_VALUE" },
    { name: "a bad --since", args: ["learn", "--db", "flows.db", "--since", "yesterday"], code: "CF_USAGE_SINCE" },
    { name: "an unknown format", args: ["learn", "--db", "flows.db", "--format", "xml"], code: "CF_USAGE_FORMAT" },
    { name: "a missing policy", args: ["learn", "--db", "flows.db", "--policy", "nope.yaml"], code: "CF_IO_READ" },
  ];
  for (const u of usage) {
    void test(`${u.name} exits 2 with ${u.code} and a fix`, () => {
      const r = cli(u.args, s.dir);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`error ${u.code}: .*\\n {2}fix: `));
    });
  }
});

void describe("clawfence report", () => {
  let s: ReturnType<typeof tempStore>;
  before(() => {
    s = tempStore(events());
    writeFileSync(join(s.dir, "team.yaml"), POLICY);
  });
  after(() => s.done());

  void test("markdown by default, with the policy's rules never hit", () => {
    const r = cli(["report", "--db", "flows.db", "--policy", "team.yaml"], s.dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^# clawfence flow report/);
    assert.match(r.stdout, /\| would deny \(monitor\) \| 8 \| 88\.9% \|/);
    assert.match(r.stdout, /### Rules never hit\n\n- deny-rest \(deny\)/);
    assert.match(r.stdout, /chain walk: not run/);
  });

  void test("json and html formats, html to a file", () => {
    const j = cli(["report", "--db", "flows.db", "--format", "json", ...VAR_ARGS], s.dir);
    assert.equal(j.status, 0, j.stderr);
    const report = JSON.parse(j.stdout) as { totals: { total: number }; integrity: { chainHeadId: number } };
    assert.equal(report.totals.total, 9);
    assert.equal(report.integrity.chainHeadId, 9);
    const h = cli(["report", "--db", "flows.db", "--format", "html", "-o", "r.html"], s.dir);
    assert.equal(h.status, 0, h.stderr);
    assert.equal(h.stdout, "");
    assert.match(readFileSync(join(s.dir, "r.html"), "utf8"), /<svg class="chart" id="chart-timeline"/);
  });

  void test("--verify walks the hash chain: ok on the store as written, exit 1 after a row was edited", () => {
    const ok = cli(["report", "--db", "flows.db", "--verify", "--format", "json"], s.dir);
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual((JSON.parse(ok.stdout) as { integrity: { verified: unknown } }).integrity.verified, { ok: true, rows: 9 });
    const db = new DatabaseSync(join(s.dir, "flows.db"));
    db.prepare("UPDATE flows SET name = 'innocent.example.com' WHERE name = 'pastebin.com'").run();
    db.close();
    const bad = cli(["report", "--db", "flows.db", "--verify"], s.dir);
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /chain walk: BROKEN after 5 rows/);
    assert.match(bad.stderr, /hash chain is broken/);
  });

  void test("usage errors exit 2", () => {
    for (const args of [["report"], ["report", "--db", "flows.db", "--format", "pdf"], ["report", "--db", "flows.db", "--top", "0"]]) {
      const r = cli(args, s.dir);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    }
  });
});
