/**
 * YAML parsing limits and positions: oversized text, alias bombs, absurd nesting and odd YAML
 * end in one clear, coded diagnostic (and return: no hang, no stack trace).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_POLICY_BYTES, parseYaml } from "../../../src/policy/parse.ts";
import { diagnosticsOfText } from "./helpers.ts";

void test("a 10 MB policy is refused by size before parsing, with the limit in the message", () => {
  const line = "  - name: r\n    allow: [example.com]\n";
  const text = `version: 1\nname: big\nrules:\n${line.repeat(Math.ceil((10 * 1024 * 1024) / line.length))}`;
  assert.ok(text.length > MAX_POLICY_BYTES);
  const ds = diagnosticsOfText(text);
  assert.deepEqual(
    ds.map((d) => d.code),
    ["CF1006"],
  );
  assert.match(ds[0]?.message ?? "", /8388608/);
});

void test("the size limit counts UTF-8 bytes, not characters", () => {
  const text = `version: 1\nname: big\ndescription: "${"é".repeat(MAX_POLICY_BYTES / 2 + 10)}"\n`;
  assert.ok(text.length < MAX_POLICY_BYTES);
  const r = parseYaml(text, "f.yaml");
  assert.ok(!r.ok);
  assert.equal(r.diagnostics[0]?.code, "CF1006");
});

void test("a YAML alias bomb ends in CF1005", () => {
  const levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
  for (let i = 1; i < 10; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    levels.push(`  ${cur}: &${cur} [${Array.from({ length: 9 }, () => `*${prev}`).join(", ")}]`);
  }
  const text = `version: 1\nname: bomb\nvars:\n  ${levels.join("\n")}\n`;
  const ds = diagnosticsOfText(text);
  assert.deepEqual(
    ds.map((d) => d.code),
    ["CF1005"],
  );
});

void test("a few ordinary aliases are fine", () => {
  const r = parseYaml("version: 1\nname: a\nx: &p [80, 443]\ny: *p\n", "f.yaml");
  assert.ok(r.ok);
  assert.deepEqual((r.doc.value as Record<string, unknown>)["y"], [80, 443]);
});

for (const [name, text] of [
  ["flow nesting a thousand levels deep", `version: 1\nname: x\nvars: ${"[".repeat(1000)}${"]".repeat(1000)}\n`],
  ["flow nesting a million levels deep", `version: 1\nname: x\nvars: ${"[".repeat(1_000_000)}\n`],
  ["block nesting two hundred levels deep", `version: 1\nname: x\nvars:\n${Array.from({ length: 200 }, (_, i) => `${" ".repeat(2 * (i + 1))}k:\n`).join("")}`],
] as const) {
  void test(`${name} ends in CF1010`, () => {
    const r = parseYaml(text, "f.yaml");
    assert.ok(!r.ok);
    assert.deepEqual(
      r.diagnostics.map((d) => d.code),
      ["CF1010"],
    );
  });
}

const ODD: ReadonlyArray<readonly [string, string, string]> = [
  ["an unknown tag is refused", "version: 1\nname: !secret x\n", "CF1008"],
  ["a mapping as a key is refused", "version: 1\nname: x\n? {a: 1}\n: v\n", "CF1009"],
  ["a scalar document is refused", "just text\n", "CF1004"],
  ["a null document is refused", "~\n", "CF1007"],
  ["an undefined alias is refused", "version: 1\nname: *nope\n", "CF1001"],
  ["tabs as indentation are refused", "version: 1\nrules:\n\t- name: x\n", "CF1001"],
];

for (const [name, text, code] of ODD) {
  void test(`parseYaml: ${name}`, () => {
    const r = parseYaml(text, "f.yaml");
    assert.ok(!r.ok, "accepted");
    assert.ok(
      r.diagnostics.some((d) => d.code === code),
      r.diagnostics.map((d) => `${d.code} ${d.message}`).join("; "),
    );
  });
}

void test("posAt points at values, at keys on request, and at the deepest existing node", () => {
  const r = parseYaml("version: 1\nrules:\n  - name: a\n    allow: [x.example.com, y.example.com]\n", "f.yaml");
  assert.ok(r.ok);
  const at = (path: Array<string | number>, key = false) => {
    const p = r.doc.posAt(path, { key });
    return [p.line, p.column];
  };
  assert.deepEqual(at(["rules", 0, "allow", 1]), [4, 28]);
  assert.deepEqual(at(["rules", 0, "allow"], true), [4, 5]);
  assert.deepEqual(at(["rules", 0, "ports", 3]), [3, 5]);
  assert.deepEqual(at([]), [1, 1]);
});
