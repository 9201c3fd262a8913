/** Port entries and merging; `${var}` substitution. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { mergePortRanges, parsePortEntry } from "../../../src/policy/ports.ts";
import { substitute } from "../../../src/policy/vars.ts";

const PORTS: ReadonlyArray<readonly [string, number | string, { from: number; to: number } | string]> = [
  ["a number is a single port", 443, { from: 443, to: 443 }],
  ["a digit string is a single port", "8443", { from: 8443, to: 8443 }],
  ["a range is inclusive", "8000-8100", { from: 8000, to: 8100 }],
  ["a one-port range is fine", "53-53", { from: 53, to: 53 }],
  ["the extremes are fine", "1-65535", { from: 1, to: 65535 }],
  ["port 0 is refused", 0, "CF3020"],
  ["port 65536 is refused", 65536, "CF3020"],
  ["a negative port is refused", -1, "CF3020"],
  ["a range ending past 65535 is refused", "1-70000", "CF3020"],
  ["a range starting at 0 is refused", "0-10", "CF3020"],
  ["a reversed range is refused", "100-10", "CF3021"],
  ["text is refused", "https", "CF3022"],
  ["an open range is refused", "8000-", "CF3022"],
];

for (const [name, input, want] of PORTS) {
  void test(`parsePortEntry: ${name}`, () => {
    const r = parsePortEntry(input);
    if (typeof want === "string") {
      assert.ok(!r.ok);
      assert.equal(r.problem.code, want);
    } else {
      assert.ok(r.ok, r.ok ? "" : r.problem.message);
      assert.deepEqual(r.value, want);
    }
  });
}

void test("mergePortRanges: sorted, overlapping and adjacent ranges merged, disjoint ones kept", () => {
  assert.deepEqual(
    mergePortRanges([
      { from: 443, to: 443 },
      { from: 80, to: 80 },
      { from: 8000, to: 8100 },
      { from: 8050, to: 8200 },
      { from: 81, to: 81 },
      { from: 22, to: 22 },
    ]),
    [
      { from: 22, to: 22 },
      { from: 80, to: 81 },
      { from: 443, to: 443 },
      { from: 8000, to: 8200 },
    ],
  );
  assert.deepEqual(mergePortRanges([]), []);
  assert.deepEqual(mergePortRanges([{ from: 1, to: 65535 }, { from: 5, to: 6 }]), [{ from: 1, to: 65535 }]);
});

const SUBST: ReadonlyArray<readonly [string, string, string]> = [
  ["a string without $ is unchanged", "api.example.com", "api.example.com"],
  ["${name} is replaced", "${host}", "api.example.com"],
  ["several references are replaced", "${host}/${len}", "api.example.com/24"],
  ["$${ writes a literal ${", "$${host}", "${host}"],
  ["a lone $ stays", "costs $5", "costs $5"],
  ["a value is not expanded again", "${loop}", "${host}"],
];

for (const [name, input, want] of SUBST) {
  void test(`substitute: ${name}`, () => {
    const r = substitute(input, { host: "api.example.com", len: "24", loop: "${host}" });
    assert.ok(r.ok);
    assert.equal(r.value, want);
  });
}

void test("substitute: undefined names are all reported; malformed references are reported", () => {
  const r = substitute("${a}.${b}.${a}", {});
  assert.ok(!r.ok);
  assert.deepEqual(r.missing, ["a", "b"]);
  const m = substitute("${not closed", {});
  assert.ok(!m.ok && m.malformed !== null);
  const bad = substitute("${1abc}", {});
  assert.ok(!bad.ok && bad.malformed === "${1abc}");
});
