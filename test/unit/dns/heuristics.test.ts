/** heuristics: which names under allowed wildcards look like data, by table; the unique-name counter. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkName, checkTxt, createUniqueNameCounter, DEFAULT_HEURISTICS, registrableDomain, shannonEntropy, subdomainPart } from "../../../src/runtime/dns/heuristics.ts";

const C = DEFAULT_HEURISTICS;
const cases: Array<[string, string, number, string | null]> = [
  ["an ordinary CDN host passes", "d111111abcdef8.cloudfront.net", 1, null],
  ["a registry host passes", "registry-1.docker.io", 1, null],
  ["a _srv._tcp name passes", "_https._tcp.api.example.com", 33, null],
  ["a punycode host passes", "xn--bcher-kva.example.com", 1, null],
  ["a word-like 24-character subdomain passes", "production-eu-west-objects.githubusercontent.com", 1, null],
  ["a 41-character label is data", `${"a1b2c3d4e5".repeat(4)}x.example.com`, 1, "label-length"],
  ["a 91-character name is data", `${"abcdefghij.".repeat(8)}example.com`, 1, "name-length"],
  ["a random base32 subdomain of 30 characters is data", "mzxw6ytboi4dgnbvgy3tqojqgezdgnr.example.com", 1, "entropy"],
  ["a NULL query is data", "a.example.com", 10, "query-type"],
  ["iodine's private type 65399 is data", "a.example.com", 65399, "query-type"],
  ["a short random label is not judged by entropy", "x7k2q9.example.com", 1, null],
];
for (const [name, qname, qtype, want] of cases) {
  void test(name, () => {
    assert.equal(checkName(qname, qtype, C)?.check ?? null, want);
  });
}

void test("entropy is bits per character", () => {
  assert.equal(shannonEntropy(""), 0);
  assert.equal(shannonEntropy("aaaa"), 0);
  assert.equal(shannonEntropy("abcd"), 2);
});

void test("the registrable domain follows the Public Suffix List", () => {
  assert.equal(registrableDomain("a.b.example.co.uk"), "example.co.uk");
  assert.equal(subdomainPart("a.b.example.co.uk"), "ab");
  assert.equal(subdomainPart("example.co.uk"), "");
});

void test("TXT answers over the size limit are data", () => {
  assert.equal(checkTxt([new Uint8Array(300), new Uint8Array(213)], C)?.check, "txt-size");
  assert.equal(checkTxt([new Uint8Array(512)], C), null);
});

void test("more distinct names under one registrable domain than the limit in the window is data, and the window slides", () => {
  const c = createUniqueNameCounter({ ...C, maxUniquePerDomain: 3, uniqueWindowSec: 10 });
  assert.equal(c.observe("a.example.com", 0), null);
  assert.equal(c.observe("b.example.com", 1000), null);
  assert.equal(c.observe("c.x.example.com", 2000), null);
  assert.equal(c.observe("d.example.com", 3000)?.check, "unique-subdomains");
  assert.equal(c.observe("a.example.com", 3000), null, "a name already seen is not new");
  assert.equal(c.observe("e.other.org", 3000), null, "other domains have their own count");
  assert.equal(c.observe("d.example.com", 12_000), null, "b and c left the window");
});

void test("the counter's memory is bounded by maxTrackedDomains", () => {
  const c = createUniqueNameCounter({ ...C, maxTrackedDomains: 100 });
  for (let i = 0; i < 1000; i++) c.observe(`x.d${i}.example`, i);
  assert.equal(c.size(), 100);
});
