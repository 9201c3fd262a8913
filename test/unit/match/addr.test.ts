/**
 * Tests for policy/addr (via match/ip): strict and loose parsing, RFC 5952 formatting,
 * policy entry checks with their fixes, containment.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  checkAddressEntry,
  endsInNumber,
  formatIp,
  ipInCidr,
  parseCidr,
  parseIp,
  parseIpLoose,
  unmapV4,
  type IpAddr,
} from "../../../src/match/ip.ts";

const fmt = (ip: IpAddr | null): string | null => (ip ? `v${ip.family} ${formatIp(ip)}` : null);

void describe("parseIp (strict, for policies)", () => {
  const cases: Array<[string, string, string | null]> = [
    ["a dotted quad parses", "192.0.2.7", "v4 192.0.2.7"],
    ["zero parses", "0.0.0.0", "v4 0.0.0.0"],
    ["the broadcast address parses", "255.255.255.255", "v4 255.255.255.255"],
    ["an octet over 255 is refused", "256.0.0.1", null],
    ["a leading zero is refused as ambiguous", "010.0.0.1", null],
    ["a short form is refused", "1.2.3", null],
    ["a single number is refused", "2130706433", null],
    ["hex is refused", "0x7f.0.0.1", null],
    ["a trailing dot is refused", "1.2.3.4.", null],
    ["five parts are refused", "1.2.3.4.5", null],
    ["an empty part is refused", "1..3.4", null],
    ["whitespace is refused", " 1.2.3.4", null],
    ["an empty string is refused", "", null],
    ["a name is refused", "example.com", null],
    ["the IPv6 unspecified address parses", "::", "v6 ::"],
    ["IPv6 loopback parses", "::1", "v6 ::1"],
    ["uppercase IPv6 parses and formats lowercase", "2001:DB8::A", "v6 2001:db8::a"],
    ["full IPv6 form parses and compresses", "2001:0db8:0000:0000:0000:0000:0000:0001", "v6 2001:db8::1"],
    ["IPv4-mapped IPv6 parses in mixed notation", "::ffff:192.0.2.1", "v6 ::ffff:192.0.2.1"],
    ["IPv4-mapped IPv6 in hex formats in mixed notation", "::ffff:c000:201", "v6 ::ffff:192.0.2.1"],
    ["a trailing IPv4 in a full form parses", "0:0:0:0:0:ffff:1.2.3.4", "v6 ::ffff:1.2.3.4"],
    ["NAT64 with an embedded IPv4 parses", "64:ff9b::192.0.2.33", "v6 64:ff9b::c000:221"],
    ["two :: are refused", "1::2::3", null],
    ["nine groups are refused", "1:2:3:4:5:6:7:8:9", null],
    ["seven groups without :: are refused", "1:2:3:4:5:6:7", null],
    ["a :: standing for nothing is refused when 8 groups remain", "1:2:3:4::5:6:7:8", null],
    ["a five-digit group is refused", "12345::1", null],
    ["a zone id is refused", "fe80::1%eth0", null],
    ["brackets are refused", "[::1]", null],
    ["an embedded IPv4 not at the end is refused", "1.2.3.4::1", null],
    ["a leading-zero embedded IPv4 is refused", "::ffff:01.2.3.4", null],
    ["a single leading colon is refused", ":1::2", null],
    ["a trailing single colon is refused", "1::2:", null],
    ["three colons are refused", ":::", null],
  ];
  for (const [name, text, want] of cases) {
    void it(name, () => assert.equal(fmt(parseIp(text)), want));
  }
});

void describe("formatIp (RFC 5952)", () => {
  const cases: Array<[string, string, string]> = [
    ["the longest zero run is compressed", "2001:db8:0:0:1:0:0:0", "2001:db8:0:0:1::"],
    ["the first of two equal runs is compressed", "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["a single zero group is not compressed", "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["leading zeros in groups are dropped", "2001:0db8:00aa::0001", "2001:db8:aa::1"],
    ["all zeros is ::", "0:0:0:0:0:0:0:0", "::"],
    ["the mapped network itself stays in hex", "::ffff:0:0", "::ffff:0:0"],
  ];
  for (const [name, text, want] of cases) {
    void it(name, () => {
      const ip = parseIp(text);
      assert.ok(ip);
      assert.equal(formatIp(ip), want);
    });
  }
  void it("formatting then parsing gives back the same address (property)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), (v6, v4) => {
        for (const ip of [{ family: 6 as const, value: v6 }, { family: 4 as const, value: v4 }]) {
          const back = parseIp(formatIp(ip));
          assert.deepEqual(back, ip);
        }
      }),
    );
  });
});

void describe("parseIpLoose (what clients accept)", () => {
  const cases: Array<[string, string, string | null]> = [
    ["a decimal integer is an IPv4 address", "2130706433", "v4 127.0.0.1"],
    ["a hex integer is an IPv4 address", "0x7f000001", "v4 127.0.0.1"],
    ["uppercase hex is an IPv4 address", "0X7F000001", "v4 127.0.0.1"],
    ["an octal first part is an IPv4 address", "0177.0.0.1", "v4 127.0.0.1"],
    ["two parts fill the last three bytes", "127.1", "v4 127.0.0.1"],
    ["three parts fill the last two bytes", "127.0.1", "v4 127.0.0.1"],
    ["mixed hex parts are read", "0x7f.0x0.0x0.0x1", "v4 127.0.0.1"],
    ["a bare 0x is zero", "0x.0.0.1", "v4 0.0.0.1"],
    ["a trailing dot is accepted", "127.0.0.1.", "v4 127.0.0.1"],
    ["a metadata address in decimal is found", "2852039166", "v4 169.254.169.254"],
    ["bracketed IPv6 is accepted", "[::1]", "v6 ::1"],
    ["bare IPv6 is accepted", "::1", "v6 ::1"],
    ["IPv4-mapped IPv6 is accepted", "[::ffff:127.0.0.1]", "v6 ::ffff:127.0.0.1"],
    ["an IPv6 zone id is dropped", "[fe80::1%25eth0]", "v6 fe80::1"],
    ["a name is not an address", "example.com", null],
    ["a name with digits is not an address", "1.example", null],
    ["an octet over 255 is not an address", "256.1.1.1", null],
    ["a last part too large for its bytes is not an address", "1.2.3.256", null],
    ["a number over 32 bits is not an address", "4294967296", null],
    ["an 8 in an octal part is not an address", "08.0.0.1", null],
    ["five parts are not an address", "1.2.3.4.5", null],
    ["an empty part is not an address", "1..2.3", null],
    ["brackets around IPv4 are not an address", "[127.0.0.1]", null],
    ["an empty string is not an address", "", null],
  ];
  for (const [name, text, want] of cases) {
    void it(name, () => assert.equal(fmt(parseIpLoose(text)), want));
  }
  void it("never throws on arbitrary text (property)", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const r = parseIpLoose(s);
        assert.ok(r === null || r.family === 4 || r.family === 6);
      }),
    );
  });
});

void describe("endsInNumber", () => {
  const cases: Array<[string, string, boolean]> = [
    ["an invalid numeric host ends in a number", "1.2.3.256", true],
    ["a hex last label ends in a number", "foo.0x1", true],
    ["a trailing dot is ignored", "1.2.3.4.", true],
    ["a name does not end in a number", "example.com", false],
    ["a label with letters and digits does not", "host.1a", false],
  ];
  for (const [name, text, want] of cases) void it(name, () => assert.equal(endsInNumber(text), want));
});

void describe("checkAddressEntry (policy entries)", () => {
  const ok: Array<[string, string, string]> = [
    ["an IPv4 address becomes a /32", "192.0.2.7", "192.0.2.7/32"],
    ["an IPv6 address becomes a /128", "2001:db8::7", "2001:db8::7/128"],
    ["an IPv4 network is kept", "10.0.0.0/8", "10.0.0.0/8"],
    ["an IPv6 network is canonicalized", "2001:DB8:0::/32", "2001:db8::/32"],
    ["/0 is accepted", "0.0.0.0/0", "0.0.0.0/0"],
    ["an explicit /32 is accepted", "192.0.2.7/32", "192.0.2.7/32"],
  ];
  for (const [name, text, want] of ok) {
    void it(name, () => {
      const r = checkAddressEntry(text);
      if (!r.ok) assert.fail(`refused: ${r.message}`);
      assert.equal(r.cidr.text, want);
    });
  }
  const bad: Array<[string, string, RegExp, RegExp]> = [
    ["host bits set are refused with the network as the fix", "10.0.0.1/8", /host bits/, /^write 10\.0\.0\.0\/8\b/],
    ["an IPv6 network with host bits is refused", "2001:db8::1/32", /host bits/, /^write 2001:db8::\/32\b/],
    ["a prefix over 32 is refused", "10.0.0.0/33", /0\.\.32/, /10\.0\.0\.0\/24/],
    ["a prefix over 128 is refused", "2001:db8::/129", /0\.\.128/, /2001:db8::\/64/],
    ["a prefix with a leading zero is refused", "10.0.0.0/08", /prefix length/, /write/],
    ["an empty prefix is refused", "10.0.0.0/", /prefix length/, /write/],
    ["a short form is refused with what it means", "1.2.3", /short/, /write 1\.2\.0\.3/],
    ["a leading zero is refused with both readings", "010.0.0.1", /ambiguous/, /write 10\.0\.0\.1 \(decimal\) or 8\.0\.0\.1 \(octal/],
    ["an octet over 255 is refused", "300.1.1.1", /0\.\.255/, /write four decimal numbers/],
    ["brackets are refused", "[2001:db8::1]", /brackets/, /^write 2001:db8::1$/],
    ["a zone id is refused", "fe80::1%eth0", /zone/, /write fe80::1/],
    ["bad IPv6 is refused", "2001:db8:::1", /not an IPv6 address/, /2001:db8::1/],
    ["a name is refused", "example.com", /not an IP address/, /192\.0\.2\.7/],
  ];
  for (const [name, text, msg, fix] of bad) {
    void it(name, () => {
      const r = checkAddressEntry(text);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.match(r.message, msg);
      assert.match(r.fix, fix);
    });
  }
});

void describe("ipInCidr and parseCidr", () => {
  const cases: Array<[string, string, string, boolean]> = [
    ["the first address of a network is inside", "10.0.0.0", "10.0.0.0/8", true],
    ["the last address of a network is inside", "10.255.255.255", "10.0.0.0/8", true],
    ["the address after a network is outside", "11.0.0.0", "10.0.0.0/8", false],
    ["the address before a network is outside", "9.255.255.255", "10.0.0.0/8", false],
    ["everything is inside /0", "203.0.113.9", "0.0.0.0/0", true],
    ["a /32 holds only itself", "192.0.2.8", "192.0.2.7/32", false],
    ["an IPv6 address inside its /32", "2001:db8:ffff::1", "2001:db8::/32", true],
    ["families never mix", "::ffff:10.0.0.1", "10.0.0.0/8", false],
  ];
  for (const [name, ip, cidr, want] of cases) {
    void it(name, () => {
      const a = parseIp(ip);
      const c = parseCidr(cidr);
      assert.ok(a && c);
      assert.equal(ipInCidr(a, c), want);
    });
  }
  void it("parseCidr refuses host bits", () => assert.equal(parseCidr("10.0.0.1/8"), null));
  void it("unmapV4 reads the IPv4 of a mapped address", () => assert.equal(fmt(unmapV4(parseIp("::ffff:10.1.2.3")!)), "v4 10.1.2.3"));
  void it("unmapV4 ignores other IPv6 addresses", () => assert.equal(unmapV4(parseIp("64:ff9b::10.1.2.3")!), null));
});
