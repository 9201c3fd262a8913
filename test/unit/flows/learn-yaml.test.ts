/**
 * learn's YAML editing (flows/learn/yaml-edit.ts) and unified diff (flows/learn/diff.ts):
 * new rules are spliced in without changing a byte of the rest, and the diff is one that
 * patch(1) applies.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { unifiedDiff } from "../../../src/flows/learn/diff.ts";
import { insertRules, type NewRule } from "../../../src/flows/learn/yaml-edit.ts";
import { load } from "./learn-helpers.ts";

const hasPatch = spawnSync("sh", ["-c", "command -v patch"], { stdio: "ignore" }).status === 0;
/** patch(1) checks the diff independently; without it (and outside CI) those cases are skipped */
const noPatch = !hasPatch && process.env["CI"] !== "true" ? "patch(1) is not installed (apt-get install patch); CI=true makes this a failure" : false;

const RULE: NewRule = { name: "learned-tcp-443", description: "learned: 1 destination", allow: ["api.example.com", "*.example.org"], ports: [443, "8000-8002"], protocol: "tcp" };

/** The lines of `after` with the inserted ones removed must be `before`'s lines, in order. */
function onlyInserted(before: string, after: string): string[] {
  const diff = unifiedDiff(before, after);
  const body = diff.split("\n").filter((l) => !l.startsWith("---") && !l.startsWith("+++") && !l.startsWith("@@") && l !== "");
  assert.ok(
    body.every((l) => l.startsWith("+") || l.startsWith(" ")),
    `a line was changed or removed:\n${diff}`,
  );
  return body.filter((l) => l.startsWith("+")).map((l) => l.slice(1));
}

void describe("insertRules", () => {
  void test("goes before the catch-all, above the comment that belongs to it, and keeps every other byte", () => {
    const text = `# my policy
version: 1
name: p   # trailing comment
rules:
  - name: shadow
    deny: [catalog:shadow-model-providers]

  # the end: nothing else
  - name: deny-rest
    deny: [any]
default: deny
`;
    const r = insertRules(text, [RULE], "deny-rest", ["added by learn"]);
    assert.equal(r.reformatted, false);
    const added = onlyInserted(text, r.text);
    assert.deepEqual(added, [
      "  # added by learn",
      "  - name: learned-tcp-443",
      '    description: "learned: 1 destination"',
      "    allow:",
      "      - api.example.com",
      '      - "*.example.org"',
      "    ports: [443, 8000-8002]",
      "    protocol: tcp",
    ]);
    assert.ok(r.text.indexOf("learned-tcp-443") < r.text.indexOf("# the end"));
    const p = load(r.text, "p.yaml");
    assert.deepEqual(
      p.rules.map((x) => x.name),
      ["shadow", "learned-tcp-443", "deny-rest"],
    );
  });

  void test("appends after the last rule when there is no catch-all, with the file's own indentation", () => {
    const text = "version: 1\nname: p\nrules:\n    -   name: a\n        allow: [a.example.com]   # keep\n# after rules\ndefault: deny\n";
    const r = insertRules(text, [{ ...RULE, priority: 101 }]);
    const added = onlyInserted(text, r.text);
    assert.equal(added[0], "    - name: learned-tcp-443");
    assert.ok(added.includes("      priority: 101"));
    assert.deepEqual(
      load(r.text, "p.yaml").rules.map((x) => [x.name, x.priority]),
      [
        ["a", 100],
        ["learned-tcp-443", 101],
      ],
    );
    assert.ok(r.text.indexOf("learned-tcp-443") < r.text.indexOf("# after rules"));
  });

  void test("adds a rules block when the policy has none, also without a final newline", () => {
    const text = "version: 1\nname: p\nextends: [locked-down]";
    const r = insertRules(text, [RULE]);
    assert.equal(r.reformatted, false);
    assert.ok(r.text.startsWith(`${text}\nrules:\n  - name: learned-tcp-443\n`));
    assert.ok(load(r.text, "p.yaml").rules.some((x) => x.name === "learned-tcp-443"));
  });

  void test("a last rule without a final newline gets one before the new rule", () => {
    const text = "version: 1\nname: p\nrules:\n  - name: a\n    allow: [a.example.com] # c";
    const r = insertRules(text, [RULE]);
    assert.deepEqual(
      load(r.text, "p.yaml").rules.map((x) => x.name),
      ["a", "learned-tcp-443"],
    );
    assert.ok(r.text.includes("allow: [a.example.com] # c\n  - name: learned-tcp-443"));
  });

  void test("an empty flow list is edited through the document model and says so", () => {
    const text = "version: 1\nname: p # the name\nrules: []\n";
    const r = insertRules(text, [RULE]);
    assert.equal(r.reformatted, true);
    assert.match(r.text, /# the name/);
    assert.deepEqual(
      load(r.text, "p.yaml").rules.map((x) => x.name),
      ["learned-tcp-443"],
    );
  });

  void test("an ICMP rule has no ports key", () => {
    const r = insertRules("version: 1\nname: p\n", [{ name: "learned-icmp", allow: ["203.0.113.7"], ports: null, protocol: "icmp" }]);
    assert.doesNotMatch(r.text, /ports/);
    assert.equal(load(r.text, "p.yaml").rules[0]?.protocol, "icmp");
  });

  void test("no rules leaves the text as it is", () => {
    assert.deepEqual(insertRules("version: 1\nname: p\n", []), { text: "version: 1\nname: p\n", reformatted: false });
  });
});

void describe("unifiedDiff", () => {
  void test("equal texts have no diff", () => {
    assert.equal(unifiedDiff("a\nb\n", "a\nb\n"), "");
  });

  void test("an insertion in the middle is one hunk with three lines of context", () => {
    const a = "1\n2\n3\n4\n5\n6\n7\n8\n";
    const b = "1\n2\n3\n4\nnew\n5\n6\n7\n8\n";
    assert.equal(unifiedDiff(a, b, { oldName: "p.yaml", newName: "p.yaml" }), "--- p.yaml\n+++ p.yaml\n@@ -2,6 +2,7 @@\n 2\n 3\n 4\n+new\n 5\n 6\n 7\n");
  });

  void test("an insertion into an empty file names line 0", () => {
    assert.equal(unifiedDiff("", "x\n"), "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n");
  });

  const cases: Array<{ name: string; a: string; b: string }> = [
    { name: "lines added at the start and the end", a: "m\nn\n", b: "s\nm\nn\ne\n" },
    { name: "a line removed and another changed far apart", a: Array.from({ length: 30 }, (_, i) => `l${i}`).join("\n") + "\n", b: Array.from({ length: 30 }, (_, i) => (i === 3 ? null : i === 25 ? "changed" : `l${i}`)).filter((x) => x !== null).join("\n") + "\n" },
    { name: "repeated lines", a: "x\nx\ny\nx\n", b: "x\ny\nx\nx\ny\n" },
    { name: "everything replaced", a: "a\nb\n", b: "c\nd\ne\n" },
  ];
  for (const c of cases) {
    void test(`patch(1) turns the old text into the new one: ${c.name}`, { skip: noPatch }, () => {
      const dir = mkdtempSync(join(tmpdir(), "cf-diff-"));
      try {
        const file = join(dir, "f.txt");
        writeFileSync(file, c.a);
        const r = spawnSync("patch", ["-s", "-f", file], { input: unifiedDiff(c.a, c.b), encoding: "utf8" });
        assert.equal(r.status, 0, `${r.error?.message ?? ""} ${r.stdout ?? ""}${r.stderr ?? ""} (.ci/run must install patch)`);
        assert.equal(readFileSync(file, "utf8"), c.b);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
