/** Names and destination entries: what is accepted, how it is normalized, what is refused and why. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { normalizeName, parseDestEntry } from "../../../src/policy/names.ts";

const NORMALIZED: ReadonlyArray<readonly [string, string, string]> = [
  ["a plain name stays as it is", "example.com", "example.com"],
  ["uppercase is lowered", "API.Example.COM", "api.example.com"],
  ["one trailing dot is removed", "example.com.", "example.com"],
  ["an IDN becomes punycode", "bücher.example", "xn--bcher-kva.example"],
  ["an uppercase IDN with a trailing dot becomes punycode", "BÜCHER.Example.", "xn--bcher-kva.example"],
  ["a punycode name is kept", "xn--bcher-kva.example", "xn--bcher-kva.example"],
  ["_srv._tcp labels are allowed", "_sip._tcp.example.com", "_sip._tcp.example.com"],
  ["fullwidth dots of an IDN are mapped", "例え。jp", "xn--r8jz45g.jp"],
  ["a 63-character label is allowed", `${"a".repeat(63)}.example`, `${"a".repeat(63)}.example`],
  ["a single label is a name", "localhost", "localhost"],
  ["digits inside a name are fine", "123.example.com", "123.example.com"],
];

for (const [name, input, want] of NORMALIZED) {
  void test(`normalizeName: ${name}`, () => {
    const r = normalizeName(input);
    assert.ok(r.ok, r.ok ? "" : r.problem.message);
    assert.equal(r.value, want);
  });
}

const BAD_NAMES: ReadonlyArray<readonly [string, string, string]> = [
  ["an empty name is refused", "", "CF3002"],
  ["a lone dot is refused", ".", "CF3002"],
  ["two dots in a row are refused", "a..example.com", "CF3002"],
  ["two trailing dots are refused", "example.com..", "CF3002"],
  ["a 64-character label is refused", `${"a".repeat(64)}.example`, "CF3002"],
  ["a name over 253 characters is refused", `${"abcdefghi.".repeat(26)}com`, "CF3003"],
  ["a label starting with a hyphen is refused", "-a.example.com", "CF3004"],
  ["a label ending with a hyphen is refused", "a-.example.com", "CF3004"],
  ["a space is refused", "a b.example.com", "CF3001"],
  ["a '!' is refused", "ex!ample.com", "CF3001"],
  ["invalid punycode is refused", "xn--zz.example", "CF3005"],
  ["a name ending in a number is refused (it is an address)", "example.123", "CF3006"],
  ["fullwidth digits that map to an address are refused", "１２７.０.０.１", "CF3006"],
];

for (const [name, input, code] of BAD_NAMES) {
  void test(`normalizeName: ${name}`, () => {
    const r = normalizeName(input);
    assert.ok(!r.ok, `accepted as ${r.ok ? r.value : ""}`);
    assert.equal(r.problem.code, code, r.problem.message);
    assert.ok(r.problem.fix.length > 0);
  });
}

const ENTRIES: ReadonlyArray<readonly [string, string, unknown]> = [
  ["`any` is the keyword", "any", { kind: "any" }],
  ["group:NAME is a group reference", "group:model-gateways", { kind: "group", name: "model-gateways" }],
  ["catalog:NAME is a catalog reference", "catalog:github", { kind: "catalog", name: "github" }],
  ["a domain is an exact name", "Example.com.", { kind: "domain", name: "example.com" }],
  ["*.suffix is a wildcard", "*.Example.com", { kind: "wildcard", suffix: "example.com" }],
  ["a wildcard under a private, unlisted TLD is allowed", "*.corp.internal", { kind: "wildcard", suffix: "corp.internal" }],
  ["a wildcard under an unknown TLD is a private namespace", "*.internal", { kind: "wildcard", suffix: "internal" }],
];

for (const [name, input, want] of ENTRIES) {
  void test(`parseDestEntry: ${name}`, () => {
    const r = parseDestEntry(input);
    assert.ok(r.ok, r.ok ? "" : r.problem.message);
    assert.deepEqual(r.value, want);
  });
}

void test("parseDestEntry: addresses and CIDRs become canonical networks", () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ["192.0.2.7", "192.0.2.7/32"],
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["2001:DB8::1", "2001:db8::1/128"],
    ["2001:db8::/32", "2001:db8::/32"],
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1/128"],
  ];
  for (const [input, want] of cases) {
    const r = parseDestEntry(input);
    assert.ok(r.ok && r.value.kind === "cidr", `${input}: ${r.ok ? r.value.kind : r.problem.message}`);
    assert.equal(r.value.cidr.text, want);
  }
});

const REFUSED: ReadonlyArray<readonly [string, string, string, RegExp]> = [
  ["a bare * is refused and `any` suggested", "*", "CF3012", /`any`/],
  ["*.com is refused (public suffix)", "*.com", "CF3010", /\*\.example\.com/],
  ["*.co.uk is refused (public suffix)", "*.co.uk", "CF3010", /\*\.example\.co\.uk/],
  ["*.github.io is refused (shared hosting on the PSL)", "*.github.io", "CF3010", /github\.io/],
  ["*.s3.amazonaws.com is refused (shared hosting on the PSL)", "*.s3.amazonaws.com", "CF3010", /s3\.amazonaws\.com/],
  ["a trailing-dot public-suffix wildcard is refused too", "*.COM.", "CF3010", /example\.com/],
  ["*foo.com is refused (partial label)", "*foo.example.com", "CF3011", /\*\.example\.com/],
  ["api.*.com is refused (wildcard not leftmost)", "api.*.example.com", "CF3011", /\*\.example\.com/],
  ["**.x is refused (repeated wildcard)", "**.example.com", "CF3011", /\*\.example\.com/],
  ["*.*.x is refused (repeated wildcard)", "*.*.example.com", "CF3011", /\*\.example\.com/],
  ["a URL is refused with its host suggested", "https://api.example.com/v1", "CF3013", /`api\.example\.com`/],
  ["host:port is refused with ports: suggested", "api.example.com:443", "CF3014", /ports: \[443\]/],
  ["[v6]:port is refused with ports: suggested", "[2001:db8::1]:443", "CF3014", /ports: \[443\]/],
  ["a leading-zero IPv4 is refused", "010.0.0.1", "CF3015", /10\.0\.0\.1/],
  ["a short IPv4 form is refused", "127.1", "CF3015", /127\.0\.0\.1/],
  ["a hex IPv4 form is refused", "0x10.0.0.1", "CF3015", /16\.0\.0\.1/],
  ["a hex IPv4 form with letters is refused", "0x7f.0.0.1", "CF3015", /192\.0\.2\.7/],
  ["host bits in a CIDR are refused", "10.0.0.1/8", "CF3015", /10\.0\.0\.0\/8/],
  ["a wrongly cased keyword is refused", "ANY", "CF3016", /`any`/],
  ["a wrongly cased prefix is refused", "Group:x", "CF3016", /`group:x`/],
  ["whitespace inside an entry is refused", "a.example.com b.example.com", "CF3001", /one destination/],
  ["an empty entry is refused", "", "CF3002", /example\.com/],
];

for (const [name, input, code, fix] of REFUSED) {
  void test(`parseDestEntry: ${name}`, () => {
    const r = parseDestEntry(input);
    assert.ok(!r.ok, `accepted as ${JSON.stringify(r.ok ? r.value : null, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
    assert.equal(r.problem.code, code, r.problem.message);
    assert.match(r.problem.fix, fix);
  });
}
