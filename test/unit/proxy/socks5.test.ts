/**
 * Tests for runtime/proxy/socks5: greeting, request, reply and UDP header parsing, by table
 * and by fuzzing (never throws, never claims more bytes than it was given).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeReply, encodeUdpHeader, parseGreeting, parseRequest, parseUdpDatagram, REP } from "../../../src/runtime/proxy/socks5.ts";
import { hostText } from "../../../src/runtime/proxy/target.ts";

const b = (...x: number[]): Uint8Array => Uint8Array.from(x);
const domainReq = (cmd: number, name: string, port: number): Uint8Array => b(5, cmd, 0, 3, name.length, ...Buffer.from(name, "latin1"), port >> 8, port & 255);

void test("a greeting offering no-auth parses", () => {
  const g = parseGreeting(b(5, 2, 0, 2));
  assert.deepEqual(g, { status: "ok", value: { methods: [0, 2] }, used: 4 });
});
void test("a partial greeting asks for more", () => {
  assert.equal(parseGreeting(b(5)).status, "more");
  assert.equal(parseGreeting(b(5, 3, 0)).status, "more");
});
void test("a SOCKS4 greeting is refused", () => {
  const g = parseGreeting(b(4, 1, 0, 80));
  assert.equal(g.status, "error");
});
void test("a greeting with no methods is refused", () => {
  assert.equal(parseGreeting(b(5, 0)).status, "error");
});

const requests: Array<[string, Uint8Array, string, number]> = [
  ["a CONNECT to an IPv4 address parses", b(5, 1, 0, 1, 192, 0, 2, 7, 1, 187), "192.0.2.7", 443],
  ["a CONNECT to a domain parses and normalizes the name", domainReq(1, "Example.COM.", 443), "example.com", 443],
  ["a domain that is an address in hex becomes an address", domainReq(1, "0x7f000001", 80), "127.0.0.1", 80],
  ["a CONNECT to an IPv6 address parses", b(5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 22), "2001:db8::1", 22],
];
for (const [title, buf, host, port] of requests) {
  void test(title, () => {
    const r = parseRequest(buf);
    assert.equal(r.status, "ok");
    if (r.status !== "ok") return;
    assert.equal(hostText(r.value.target.host), host);
    assert.equal(r.value.target.port, port);
    assert.equal(r.used, buf.length);
  });
}

const bad: Array<[string, Uint8Array, number]> = [
  ["an unknown address type answers 0x08", b(5, 1, 0, 9, 1, 2, 3, 4, 0, 80), REP.addressTypeNotSupported],
  ["an unknown command answers 0x07", b(5, 9, 0, 1, 1, 2, 3, 4, 0, 80), REP.commandNotSupported],
  ["an empty domain is refused", b(5, 1, 0, 3, 0, 0, 80), REP.generalFailure],
  ["a domain with a space is refused", domainReq(1, "a b.com", 80), REP.generalFailure],
  ["a domain ending in a bad number is refused", domainReq(1, "1.2.3.999", 80), REP.generalFailure],
  ["a non-zero reserved byte is refused", b(5, 1, 1, 1, 1, 2, 3, 4, 0, 80), REP.generalFailure],
];
for (const [title, buf, rep] of bad) {
  void test(title, () => {
    const r = parseRequest(buf);
    assert.equal(r.status, "error");
    if (r.status === "error") assert.equal(r.rep, rep);
  });
}

void test("a request cut anywhere asks for more", () => {
  const full = domainReq(1, "example.com", 443);
  for (let i = 0; i < full.length; i++) assert.equal(parseRequest(full.subarray(0, i)).status, "more", `cut at ${i}`);
});

void test("a reply carries the code and the bound address", () => {
  assert.deepEqual([...encodeReply(REP.notAllowed)], [5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeReply(0, { ip: { family: 4, value: 0x0a000001n }, port: 1080 })], [5, 0, 0, 1, 10, 0, 0, 1, 4, 56]);
});

void test("a UDP datagram header round-trips", () => {
  const hdr = encodeUdpHeader({ ip: { family: 4, value: 0xc0000207n }, port: 53 });
  const p = parseUdpDatagram(Buffer.concat([hdr, Buffer.from("hi")]));
  assert.equal(p.status, "ok");
  if (p.status !== "ok") return;
  assert.equal(hostText(p.value.target.host), "192.0.2.7");
  assert.equal(Buffer.from(p.value.data).toString(), "hi");
});
void test("a fragmented UDP datagram is refused", () => {
  assert.equal(parseUdpDatagram(b(0, 0, 1, 1, 1, 2, 3, 4, 0, 53)).status, "error");
});

void test("the SOCKS parsers never throw and never use more than they were given (fuzz)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (raw, real) => {
      const buf = real && raw.length > 0 ? Uint8Array.from([5, ...raw]) : raw;
      for (const r of [parseGreeting(buf), parseRequest(buf), parseUdpDatagram(buf)]) {
        assert.ok(["more", "ok", "error"].includes(r.status));
        if (r.status === "ok") assert.ok(r.used <= buf.length);
      }
    }),
    { numRuns: 20000 },
  );
});
