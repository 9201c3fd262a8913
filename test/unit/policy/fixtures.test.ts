/**
 * Golden fixtures: each invalid file in test/fixtures/policy/ is named after what it breaks and
 * must be refused with exactly this code at exactly this place; valid files load.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { diagnosticsOf, FIXTURES } from "./helpers.ts";

// [fixture, code, file of the position (fixture itself when omitted), line, column]
const REFUSED: ReadonlyArray<readonly [string, string, number, number, string?]> = [
  ["unknown_key.yaml", "CF2001", 5, 5],
  ["partial_wildcard.yaml", "CF3011", 5, 30],
  ["wildcard_public_suffix.yaml", "CF3010", 6, 9],
  ["undefined_var.yaml", "CF4001", 7, 30],
  ["extends_cycle_a.yaml", "CF4012", 4, 5, "extends_cycle_b.yaml"],
  ["reversed_port_range.yaml", "CF3021", 6, 18],
  ["leading_zero_ip.yaml", "CF3015", 5, 13],
  ["phase_not_declared.yaml", "CF4040", 7, 12],
  ["duplicate_rule_name.yaml", "CF4030", 6, 5],
  ["reserved_rule_name.yaml", "CF4031", 7, 5],
  ["unknown_version.yaml", "CF2011", 2, 10],
  ["missing_version.yaml", "CF2010", 1, 1],
  ["duplicate_key.yaml", "CF1002", 4, 1],
  ["multiple_documents.yaml", "CF1003", 3, 1],
  ["root_not_mapping.yaml", "CF1004", 1, 1],
  ["empty.yaml", "CF1007", 1, 1],
  ["yaml_syntax.yaml", "CF1001", 6, 1],
  ["bare_wildcard.yaml", "CF3012", 5, 13],
  ["allow_and_deny.yaml", "CF2007", 4, 5],
  ["icmp_with_ports.yaml", "CF3023", 7, 12],
  ["unknown_group.yaml", "CF4020", 8, 13],
  ["unknown_catalog.yaml", "CF4022", 5, 13],
  ["unknown_preset.yaml", "CF4010", 3, 11],
  ["url_destination.yaml", "CF3013", 5, 13],
  ["host_port_destination.yaml", "CF3014", 5, 13],
  ["port_zero.yaml", "CF3020", 6, 13],
  ["missing_rule_name.yaml", "CF2002", 4, 5],
  ["bad_protocol.yaml", "CF2004", 6, 15],
  ["bad_policy_name.yaml", "CF2005", 2, 7],
  ["wrong_type.yaml", "CF2003", 5, 15],
  ["host_bits_set.yaml", "CF3015", 3, 12],
  ["group_conflict.yaml", "CF4021", 4, 3, "group_conflict_base.yaml"],
  ["extends_missing_file.yaml", "CF4011", 3, 11],
  ["bad_dns_upstream.yaml", "CF3030", 4, 25],
];

for (const [file, code, line, column, posFile] of REFUSED) {
  void test(`${file} is refused with ${code} at ${posFile ?? file}:${line}:${column}`, () => {
    const ds = diagnosticsOf(file);
    const d = ds.find((x) => x.code === code);
    assert.ok(d, `expected ${code}, got ${ds.map((x) => `${x.code} ${x.message}`).join("; ")}`);
    assert.equal(d.severity, "error");
    assert.ok(d.pos, "the diagnostic has a position");
    assert.equal(d.pos.file, join(FIXTURES, posFile ?? file));
    assert.deepEqual([d.pos.line, d.pos.column], [line, column]);
    assert.ok(d.fix && d.fix.length > 10, "an error says how to fix it");
    for (const other of ds) assert.ok(other.fix, `${other.code} has a fix`);
  });
}

void test("a policy with several independent mistakes reports all of them, in file order", () => {
  const ds = diagnosticsOf("many_errors.yaml");
  assert.deepEqual(
    ds.map((d) => [d.code, d.pos?.line, d.pos?.column]),
    [
      ["CF3010", 6, 13],
      ["CF3021", 9, 13],
      ["CF4020", 11, 13],
      ["CF4040", 12, 12],
    ],
  );
});

void test("an unknown key suggests the key that was probably meant", () => {
  const d = diagnosticsOf("unknown_key.yaml").find((x) => x.code === "CF2001");
  assert.match(d?.fix ?? "", /did you mean `allow`\?/);
});

void test("an extends cycle names every file in the cycle", () => {
  const d = diagnosticsOf("extends_cycle_a.yaml").find((x) => x.code === "CF4012");
  assert.match(d?.message ?? "", /extends_cycle_a\.yaml -> .*extends_cycle_b\.yaml -> .*extends_cycle_a\.yaml/);
});

void test("a public-suffix wildcard says what to write instead", () => {
  const d = diagnosticsOf("wildcard_public_suffix.yaml")[0];
  assert.equal(d?.code, "CF3010");
  assert.match(d?.fix ?? "", /\*\.example\.co\.uk/);
});

void test("a leading-zero address says both readings", () => {
  const d = diagnosticsOf("leading_zero_ip.yaml")[0];
  assert.match(d?.fix ?? "", /10\.0\.0\.1 \(decimal\)/);
  assert.match(d?.fix ?? "", /8\.0\.0\.1 \(octal/);
});

void test("a duplicate rule name names the first place too", () => {
  const d = diagnosticsOf("duplicate_rule_name.yaml")[0];
  assert.match(d?.message ?? "", /duplicate_rule_name\.yaml:4:5/);
});
