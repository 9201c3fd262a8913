/**
 * Tests for runtime/proxy/http-head: finding the end of the first request head under the
 * size limit, splitting it strictly, and what a transparent request names.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { findHeadEnd, parseRequestHead, transparentTarget } from "../../../src/runtime/proxy/http-head.ts";
import { TargetParseError } from "../../../src/runtime/proxy/target.ts";

const b = (s: string): Buffer => Buffer.from(s, "latin1");

const ends: Array<[string, string, number, ReturnType<typeof findHeadEnd>]> = [
  ["a complete head ends after the empty line", "GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 100, { status: "ok", length: 27 }],
  ["a head without its empty line needs more bytes", "GET / HTTP/1.1\r\nHost: a\r\n", 100, { status: "more" }],
  ["a head that fits exactly is complete", "GET / HTTP/1.1\r\n\r\n", 18, { status: "ok", length: 18 }],
  ["a head one byte over the limit is too big", "GET / HTTP/1.1\r\n\r\n", 17, { status: "too-big" }],
  ["an unfinished head at the limit is too big", "GET / HTTP/1.1\r\nX: aaaa", 23, { status: "too-big" }],
];
for (const [title, text, max, want] of ends) {
  void test(title, () => assert.deepEqual(findHeadEnd(b(text), max), want));
}

void test("the end is found when the empty line arrives split across reads", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 30 }), (cut) => {
      const all = b("GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n");
      const first = all.subarray(0, Math.min(cut, all.length - 1));
      assert.equal(findHeadEnd(first, 1000).status, "more");
      assert.deepEqual(findHeadEnd(all, 1000, first.length), { status: "ok", length: all.length });
    }),
  );
});

void test("a head splits into method, target, version and fields", () => {
  const h = parseRequestHead(b("POST /a?b HTTP/1.0\r\nHost:  a.test \r\nX-Y:\r\n\r\n"));
  assert.deepEqual(h, { method: "POST", target: "/a?b", version: "1.0", fields: [["Host", "a.test"], ["X-Y", ""]] });
});

const bad: Array<[string, string, string]> = [
  ["a request line without a version is refused", "GET /\r\n\r\n", "CF_PROXY_BAD_REQUEST_LINE"],
  ["HTTP/2 in a request line is refused", "GET / HTTP/2.0\r\n\r\n", "CF_PROXY_BAD_REQUEST_LINE"],
  ["a folded header line is refused", "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", "CF_PROXY_BAD_HEADER"],
  ["a space before the colon is refused", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", "CF_PROXY_BAD_HEADER"],
  ["a bare LF inside a header value is refused", "GET / HTTP/1.1\r\nX: a\nHost: b\r\n\r\n", "CF_PROXY_BAD_HEADER"],
  ["a bare CR inside a header value is refused", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", "CF_PROXY_BAD_HEADER"],
];
for (const [title, text, code] of bad) {
  void test(title, () => assert.throws(() => parseRequestHead(b(text)), (e: unknown) => e instanceof TargetParseError && e.code === code));
}

const targets: Array<[string, string, { host: string; port: number } | string]> = [
  ["an origin-form request is named by its Host", "GET /p HTTP/1.1\r\nhost: A.Test\r\n\r\n", { host: "a.test", port: 80 }],
  ["a Host with a port keeps that port", "GET /p HTTP/1.1\r\nHost: a.test:8080\r\n\r\n", { host: "a.test", port: 8080 }],
  ["an absolute-form request is named by its URL, not its Host", "GET http://b.test/p HTTP/1.1\r\nHost: a.test\r\n\r\n", { host: "b.test", port: 80 }],
  ["a request without Host is refused", "GET /p HTTP/1.0\r\n\r\n", "CF_PROXY_NO_HOST"],
  ["an empty Host is refused", "GET /p HTTP/1.1\r\nHost:\r\n\r\n", "CF_PROXY_NO_HOST"],
  ["two Host headers are refused", "GET /p HTTP/1.1\r\nHost: a.test\r\nHOST: b.test\r\n\r\n", "CF_PROXY_DUP_HOST"],
  ["CONNECT is refused", "CONNECT a.test:80 HTTP/1.1\r\nHost: a.test:80\r\n\r\n", "CF_PROXY_CONNECT_TRANSPARENT"],
  ["an asterisk target is refused", "OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n", "CF_PROXY_NOT_ABSOLUTE"],
];
for (const [title, text, want] of targets) {
  void test(title, () => {
    const head = parseRequestHead(b(text));
    if (typeof want === "string") {
      assert.throws(() => transparentTarget(head, 80), (e: unknown) => e instanceof TargetParseError && e.code === want);
      return;
    }
    const t = transparentTarget(head, 80);
    assert.deepEqual([t.host.kind === "name" ? t.host.name : "ip", t.port], [want.host, want.port]);
  });
}

void test("any bytes give a head or a TargetParseError, nothing else", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const buf = Buffer.concat([Buffer.from(bytes), b("\r\n\r\n")]);
      try {
        transparentTarget(parseRequestHead(buf), 80);
      } catch (e) {
        assert.ok(e instanceof TargetParseError, String(e));
      }
    }),
  );
});
