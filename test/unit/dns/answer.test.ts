/** answer: CNAME chains, rebinding filter, HTTPS/SVCB rewriting, TTL math — by table. */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Answer, Packet } from "dns-packet";
import { ageRecords, elementTimeout, rewriteSvcb, shapeAnswer } from "../../../src/runtime/dns/answer.ts";
import { parseIp } from "../../../src/policy/addr.ts";
import { compileSpecialCheck } from "../../../src/match/special.ts";
import { cidr } from "../match/ir-builder.ts";

const opts = (qname: string, internal: string[] = []) => ({
  qname,
  qtype: 1,
  isSpecial: compileSpecialCheck(internal.map(cidr)),
  parseIp,
  maxTtl: 86_400,
  hintKnown: () => false,
});
const pkt = (answers: Answer[], extra: Partial<Packet> = {}): Packet => ({ type: "response", answers, ...extra }) as Packet;
const A = (name: string, data: string, ttl = 60): Answer => ({ type: "A", name, ttl, data, class: "IN" }) as Answer;
const CNAME = (name: string, data: string, ttl = 300): Answer => ({ type: "CNAME", name, ttl, data, class: "IN" }) as Answer;

void test("addresses at the end of a CNAME chain belong to the name asked", () => {
  const s = shapeAnswer(pkt([CNAME("www.example.com", "a.cdn.net"), CNAME("a.cdn.net", "b.cdn.net"), A("b.cdn.net", "93.184.216.34", 20)]), opts("www.example.com"));
  assert.deepEqual(s.chain, ["www.example.com", "a.cdn.net", "b.cdn.net"]);
  assert.deepEqual(s.addresses, [{ ip: "93.184.216.34", family: 4, ttl: 20 }]);
  assert.equal(s.ttl, 20);
});

void test("records off the chain are dropped", () => {
  const s = shapeAnswer(pkt([A("www.example.com", "93.184.216.34"), A("other.example.org", "93.184.216.99")]), opts("www.example.com"));
  assert.deepEqual(s.answers.map((a) => (a as { data?: unknown }).data), ["93.184.216.34"]);
});

void test("a CNAME loop is a problem, not a hang", () => {
  const s = shapeAnswer(pkt([CNAME("a.example", "b.example"), CNAME("b.example", "a.example")]), opts("a.example"));
  assert.match(s.problem ?? "", /loop/);
});

void test("a chain longer than 16 is a problem", () => {
  const chain = Array.from({ length: 20 }, (_, i) => CNAME(`n${i}.example`, `n${i + 1}.example`));
  assert.match(shapeAnswer(pkt(chain), opts("n0.example")).problem ?? "", /longer than 16/);
});

void test("loopback, metadata and private addresses are removed unless listed under internal", () => {
  const answers = [A("x.example", "127.0.0.1"), A("x.example", "169.254.169.254"), A("x.example", "10.1.2.3"), A("x.example", "93.184.216.34")];
  assert.deepEqual(shapeAnswer(pkt(answers), opts("x.example")).removed, ["127.0.0.1", "169.254.169.254", "10.1.2.3"]);
  const withInternal = shapeAnswer(pkt(answers), opts("x.example", ["10.0.0.0/8"]));
  assert.deepEqual(withInternal.removed, ["127.0.0.1", "169.254.169.254"]);
  assert.deepEqual(withInternal.addresses.map((a) => a.ip), ["10.1.2.3", "93.184.216.34"]);
});

void test("IPv4-mapped IPv6 loopback is removed from AAAA answers", () => {
  const s = shapeAnswer(pkt([{ type: "AAAA", name: "x.example", ttl: 60, data: "::ffff:127.0.0.1", class: "IN" } as Answer]), { ...opts("x.example"), qtype: 28 });
  assert.deepEqual(s.removed, ["::ffff:127.0.0.1"]);
});

void test("a negative answer's cache TTL is min(SOA TTL, SOA minimum)", () => {
  const soa = { type: "SOA", name: "example", ttl: 900, class: "IN", data: { mname: "ns.example", rname: "h.example", serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 } } as Answer;
  assert.equal(shapeAnswer(pkt([], { authorities: [soa], rcode: "NXDOMAIN" } as Partial<Packet>), opts("nope.example")).ttl, 60);
});

void test("element timeout is max(TTL, min_ttl), capped by max TTL", () => {
  assert.equal(elementTimeout(30, 5, 86_400), 30);
  assert.equal(elementTimeout(0, 5, 86_400), 5);
  assert.equal(elementTimeout(999_999, 5, 86_400), 86_400);
});

void test("cache hits age TTLs, never below zero", () => {
  assert.deepEqual(ageRecords([A("x", "1.1.1.1", 10)], 4).map((a) => (a as { ttl: number }).ttl), [6]);
  assert.deepEqual(ageRecords([A("x", "1.1.1.1", 10)], 40).map((a) => (a as { ttl: number }).ttl), [0]);
});

// SVCB rdata: priority 1, target ".", then params
const svcb = (...params: Array<[number, number[]]>): Uint8Array => new Uint8Array([0, 1, 0, ...params.flatMap(([k, v]) => [k >> 8, k & 255, v.length >> 8, v.length & 255, ...v])]);
const ALPN_H2: [number, number[]] = [1, [2, 104, 50]];
const V4HINT: [number, number[]] = [4, [93, 184, 216, 34, 93, 184, 216, 35]];
const ECH: [number, number[]] = [5, [1, 2, 3]];

void test("HTTPS records lose ech and unknown address hints", () => {
  const out = rewriteSvcb(svcb(ALPN_H2, V4HINT, ECH), () => false);
  assert.deepEqual(out, svcb(ALPN_H2));
});

void test("HTTPS address hints the firewall holds are kept", () => {
  const out = rewriteSvcb(svcb(ALPN_H2, V4HINT), (ip) => ip.value === 0x5db8d822n);
  assert.deepEqual(out, svcb(ALPN_H2, [4, [93, 184, 216, 34]]));
});

void test("an HTTPS record whose mandatory list names a removed key is dropped", () => {
  assert.equal(rewriteSvcb(svcb([0, [0, 5]], ALPN_H2, ECH), () => true), null);
});

void test("malformed SVCB rdata is dropped", () => {
  assert.equal(rewriteSvcb(new Uint8Array([0, 1]), () => true), null);
  assert.equal(rewriteSvcb(svcb(ALPN_H2, [1, [1]]), () => true), null, "keys must increase");
  assert.equal(rewriteSvcb(new Uint8Array([0, 1, 0, 0, 1, 0, 9, 1]), () => true), null, "value runs past the end");
});
