/**
 * Tests for runtime/proxy/target: what a client asked for becomes a name or an address,
 * the same way every client library would read it, or is refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseAuthority, parseAbsoluteUrl, parseHost, hostText, TargetParseError } from "../../../src/runtime/proxy/target.ts";

const hosts: Array<[string, string, "name" | "ip"]> = [
  ["a plain name is lowercased", "Example.COM", "name"],
  ["a trailing dot is removed", "example.com.", "name"],
  ["an IDN becomes punycode", "bücher.example", "name"],
  ["an underscore label is a name", "_srv._tcp.example.com", "name"],
  ["a dotted quad is an address", "192.0.2.7", "ip"],
  ["a decimal integer is an address", "2130706433", "ip"],
  ["a hex integer is an address", "0x7f000001", "ip"],
  ["octal parts are an address", "0177.0.0.1", "ip"],
  ["a short form is an address", "127.1", "ip"],
  ["a dotted quad with a trailing dot is an address", "127.0.0.1.", "ip"],
  ["a bracketed IPv6 address is an address", "[2001:db8::1]", "ip"],
  ["an IPv4-mapped IPv6 address is an address", "[::ffff:127.0.0.1]", "ip"],
];
const expectText: Record<string, string> = {
  "Example.COM": "example.com",
  "example.com.": "example.com",
  "bücher.example": "xn--bcher-kva.example",
  "_srv._tcp.example.com": "_srv._tcp.example.com",
  "192.0.2.7": "192.0.2.7",
  "2130706433": "127.0.0.1",
  "0x7f000001": "127.0.0.1",
  "0177.0.0.1": "127.0.0.1",
  "127.1": "127.0.0.1",
  "127.0.0.1.": "127.0.0.1",
  "[2001:db8::1]": "2001:db8::1",
  "[::ffff:127.0.0.1]": "::ffff:127.0.0.1",
};
for (const [title, input, kind] of hosts) {
  void test(title, () => {
    const h = parseHost(input);
    assert.equal(h.kind, kind);
    assert.equal(hostText(h), expectText[input]);
  });
}

const refused: Array<[string, string, string]> = [
  ["an empty host is refused", "", "CF_PROXY_EMPTY_HOST"],
  ["a numeric last label that is no address is refused", "1.2.3.256", "CF_PROXY_BAD_HOST"],
  ["a name ending in a number is refused", "example.123", "CF_PROXY_BAD_HOST"],
  ["an empty label is refused", "a..b", "CF_PROXY_BAD_NAME"],
  ["a space is refused", "a b.com", "CF_PROXY_BAD_NAME"],
  ["a percent escape is refused", "evil%2ecom", "CF_PROXY_BAD_NAME"],
  ["a label over 63 characters is refused", `${"a".repeat(64)}.com`, "CF_PROXY_BAD_NAME"],
  ["an unclosed bracket is refused", "[::1", "CF_PROXY_BAD_IPV6"],
  ["a bracketed IPv4 address is refused", "[127.0.0.1]", "CF_PROXY_BAD_IPV6"],
  ["a zone id is refused", "[fe80::1%eth0]", "CF_PROXY_BAD_IPV6"],
  ["a colon in something that is no IPv6 address is refused", "example.com:x", "CF_PROXY_BAD_HOST"],
];
for (const [title, input, code] of refused) {
  void test(title, () => {
    assert.throws(() => parseHost(input), (e: unknown) => e instanceof TargetParseError && e.code === code);
  });
}

const authorities: Array<[string, string, number | null, string, number] | [string, string, number | null, { code: string }]> = [
  ["host:port is split at the colon", "example.com:8443", null, "example.com", 8443],
  ["a bracketed IPv6 address takes a port", "[2001:db8::1]:443", null, "2001:db8::1", 443],
  ["a missing port takes the default", "example.com", 80, "example.com", 80],
  ["CONNECT without a port is refused", "example.com", null, { code: "CF_PROXY_NO_PORT" }],
  ["port 0 is refused", "example.com:0", null, { code: "CF_PROXY_BAD_PORT" }],
  ["port 65536 is refused", "example.com:65536", null, { code: "CF_PROXY_BAD_PORT" }],
  ["a signed port is refused", "example.com:+443", null, { code: "CF_PROXY_BAD_PORT" }],
  ["credentials are refused", "user@example.com:443", null, { code: "CF_PROXY_USERINFO" }],
  ["two colons without brackets are refused", "2001:db8::1:443", null, { code: "CF_PROXY_BAD_AUTHORITY" }],
  ["text after a bracketed address is refused", "[::1]x:443", null, { code: "CF_PROXY_BAD_AUTHORITY" }],
  ["a decimal address with a port is an address", "2130706433:443", null, "127.0.0.1", 443],
];
for (const row of authorities) {
  void test(row[0], () => {
    if (typeof row[3] === "object") {
      const code = row[3].code;
      assert.throws(() => parseAuthority(row[1], row[2]), (e: unknown) => e instanceof TargetParseError && e.code === code);
    } else {
      const t = parseAuthority(row[1], row[2]);
      assert.equal(hostText(t.host), row[3]);
      assert.equal(t.port, row[4]);
    }
  });
}

void test("an absolute URL gives authority, port and origin-form path", () => {
  const t = parseAbsoluteUrl("http://Example.com:8080/a/b?c=d");
  assert.deepEqual([hostText(t.host), t.port, t.path, t.authority], ["example.com", 8080, "/a/b?c=d", "Example.com:8080"]);
});
void test("an absolute URL without a path asks for /", () => {
  assert.equal(parseAbsoluteUrl("HTTP://example.com").path, "/");
  assert.equal(parseAbsoluteUrl("http://example.com?x").path, "/?x");
});
void test("an https URL is refused in a plain request (CONNECT is the way)", () => {
  assert.throws(() => parseAbsoluteUrl("https://example.com/"), (e: unknown) => e instanceof TargetParseError && e.code === "CF_PROXY_SCHEME");
});
void test("an origin-form target is refused by a forward proxy", () => {
  assert.throws(() => parseAbsoluteUrl("/index.html"), (e: unknown) => e instanceof TargetParseError && e.code === "CF_PROXY_NOT_ABSOLUTE");
});
void test("an absolute URL with an address in hex is an address", () => {
  const t = parseAbsoluteUrl("http://0x7f.1/");
  assert.equal(t.host.kind, "ip");
  assert.equal(hostText(t.host), "127.0.0.1");
});

void test("parseAuthority never throws anything but TargetParseError (fuzz)", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.stringMatching(/^[0-9a-fx.:[\]%@]{0,40}$/)), (s) => {
      try {
        const t = parseAuthority(s, 80);
        assert.ok(t.port >= 1 && t.port <= 65535);
        // what was accepted prints back and parses to the same thing
        const again = parseHost(hostText(t.host).includes(":") ? `[${hostText(t.host)}]` : hostText(t.host));
        assert.equal(hostText(again), hostText(t.host));
      } catch (e) {
        if (!(e instanceof TargetParseError)) throw e;
      }
    }),
    { numRuns: 5000 },
  );
});
