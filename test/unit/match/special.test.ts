/**
 * Tests for match/special: every special-purpose range, the embedded-IPv4 forms, and how
 * `internal` exempts them.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { classifySpecial, compileSpecialCheck, isSpecial, SPECIAL_RANGES } from "../../../src/match/special.ts";
import { cidrRange, formatIp, parseCidr, parseIp, type IpAddr } from "../../../src/match/ip.ts";
import type { Cidr } from "../../../src/policy/ir.ts";

function ip(text: string): IpAddr {
  const a = parseIp(text);
  assert.ok(a, `bad test address ${text}`);
  return a;
}
function cidrs(...texts: string[]): Cidr[] {
  return texts.map((t) => {
    const c = parseCidr(t);
    assert.ok(c, `bad test CIDR ${t}`);
    return c;
  });
}

void describe("classifySpecial", () => {
  const cases: Array<[string, string, string | null, RegExp | null]> = [
    ["this network 0/8", "0.1.2.3", "0.0.0.0/8", /this network/],
    ["0.0.0.0 itself", "0.0.0.0", "0.0.0.0/32", /this host/],
    ["RFC 1918 10/8", "10.20.30.40", "10.0.0.0/8", /private-use \(RFC 1918\)/],
    ["RFC 1918 172.16/12 low end", "172.16.0.0", "172.16.0.0/12", /RFC 1918/],
    ["RFC 1918 172.16/12 high end", "172.31.255.255", "172.16.0.0/12", /RFC 1918/],
    ["just above 172.16/12 is public", "172.32.0.0", null, null],
    ["RFC 1918 192.168/16", "192.168.1.1", "192.168.0.0/16", /RFC 1918/],
    ["CGNAT 100.64/10", "100.127.255.255", "100.64.0.0/10", /CGNAT/],
    ["just above CGNAT is public", "100.128.0.0", null, null],
    ["Alibaba metadata inside CGNAT", "100.100.100.200", "100.100.100.200/32", /Alibaba/],
    ["loopback", "127.0.0.1", "127.0.0.0/8", /loopback/],
    ["loopback anywhere in 127/8", "127.255.1.2", "127.0.0.0/8", /loopback/],
    ["link-local", "169.254.1.1", "169.254.0.0/16", /link-local/],
    ["cloud metadata", "169.254.169.254", "169.254.169.254/32", /cloud metadata/],
    ["ECS task metadata", "169.254.170.2", "169.254.170.2/32", /ECS/],
    ["Azure WireServer", "168.63.129.16", "168.63.129.16/32", /Azure/],
    ["IETF protocol assignments", "192.0.0.100", "192.0.0.0/24", /IETF protocol/],
    ["NAT64 discovery", "192.0.0.170", "192.0.0.170/32", /NAT64/],
    ["TEST-NET-1", "192.0.2.7", "192.0.2.0/24", /documentation/],
    ["TEST-NET-2", "198.51.100.1", "198.51.100.0/24", /documentation/],
    ["TEST-NET-3", "203.0.113.255", "203.0.113.0/24", /documentation/],
    ["benchmarking low", "198.18.0.0", "198.18.0.0/15", /benchmarking/],
    ["benchmarking high", "198.19.255.255", "198.18.0.0/15", /benchmarking/],
    ["after benchmarking is public", "198.20.0.0", null, null],
    ["6to4 relay anycast", "192.88.99.1", "192.88.99.0/24", /6to4 relay/],
    ["multicast", "224.0.0.251", "224.0.0.0/4", /multicast/],
    ["multicast high end", "239.255.255.250", "224.0.0.0/4", /multicast/],
    ["reserved 240/4", "240.0.0.1", "240.0.0.0/4", /reserved/],
    ["broadcast", "255.255.255.255", "255.255.255.255/32", /broadcast/],
    ["just below broadcast is reserved", "255.255.255.254", "240.0.0.0/4", /reserved/],
    ["a public IPv4 address", "8.8.8.8", null, null],
    ["IPv6 unspecified", "::", "::/128", /unspecified/],
    ["IPv6 loopback", "::1", "::1/128", /loopback/],
    ["IPv4-mapped", "::ffff:8.8.8.8", "::ffff:0:0/96", /IPv4-mapped/],
    ["IPv4-compatible", "::8.8.8.8", "::/96", /IPv4-compatible/],
    ["NAT64 well-known prefix", "64:ff9b::8.8.8.8", "64:ff9b::/96", /NAT64/],
    ["local-use NAT64", "64:ff9b:1::1", "64:ff9b:1::/48", /local-use/],
    ["discard-only", "100::1", "100::/64", /discard/],
    ["Teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32", /Teredo/],
    ["IPv6 benchmarking", "2001:2::1", "2001:2::/48", /benchmarking/],
    ["ORCHIDv2", "2001:20::1", "2001:20::/28", /ORCHIDv2/],
    ["IETF protocol assignments v6", "2001:1ff::1", "2001::/23", /IETF protocol/],
    ["documentation 2001:db8::/32", "2001:db8::1", "2001:db8::/32", /documentation/],
    ["documentation 3fff::/20", "3fff:fff::1", "3fff::/20", /documentation/],
    ["just after 3fff::/20 is public", "3fff:1000::1", null, null],
    ["6to4", "2002:808:808::1", "2002::/16", /6to4/],
    ["segment routing SIDs", "5f00::1", "5f00::/16", /segment routing/],
    ["ULA", "fd12:3456::1", "fc00::/7", /unique-local/],
    ["AWS IMDS IPv6", "fd00:ec2::254", "fd00:ec2::254/128", /cloud metadata/],
    ["IPv6 link-local", "fe80::1", "fe80::/10", /link-local/],
    ["deprecated site-local", "fec0::1", "fec0::/10", /site-local/],
    ["IPv6 multicast", "ff02::fb", "ff00::/8", /multicast/],
    ["outside 2000::/3 is reserved", "4000::1", "4000::/3", /outside 2000::\/3/],
    ["low reserved IPv6", "::2:0:0:1", "::/8", /reserved/],
    ["a public IPv6 address", "2606:4700:4700::1111", null, null],
    ["the first public IPv6 after 2001::/23", "2001:200::1", null, null],
  ];
  for (const [name, addr, range, rx] of cases) {
    void it(`${name}: ${addr}`, () => {
      const r = classifySpecial(ip(addr));
      if (range === null) {
        assert.equal(r, null);
        return;
      }
      assert.ok(r);
      assert.equal(r.range, range);
      assert.match(r.name, rx ?? /./);
    });
  }

  const embedded: Array<[string, string, string]> = [
    ["IPv4-mapped embeds the IPv4", "::ffff:10.0.0.1", "10.0.0.1"],
    ["IPv4-compatible embeds the IPv4", "::10.0.0.1", "10.0.0.1"],
    ["NAT64 embeds the IPv4", "64:ff9b::a9fe:a9fe", "169.254.169.254"],
    ["6to4 embeds the relay IPv4 in bits 16..47", "2002:c000:0204::1", "192.0.2.4"],
    ["Teredo embeds the client IPv4 inverted", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"],
  ];
  for (const [name, addr, v4] of embedded) {
    void it(name, () => {
      const r = classifySpecial(ip(addr));
      assert.ok(r?.embedded);
      assert.equal(r.embedded.family, 4);
      assert.equal(formatIp(r.embedded), v4);
    });
  }
  void it("non-embedding ranges report no embedded address", () => assert.equal(classifySpecial(ip("10.0.0.1"))?.embedded, undefined));

  void it("every table range classifies its first and last address as itself or something more specific", () => {
    for (const e of SPECIAL_RANGES) {
      const { first, last } = cidrRange(e.cidr);
      for (const v of [first, last]) {
        const r = classifySpecial({ family: e.cidr.family, value: v });
        assert.ok(r, `${e.cidr.text}: ${v} not special`);
        const c = parseCidr(r.range);
        assert.ok(c && c.prefix >= e.cidr.prefix, `${e.cidr.text}: classified as wider ${r.range}`);
      }
    }
  });

  void it("agrees with a linear longest-prefix scan over the table (property)", () => {
    const linear = (a: IpAddr): string | null => {
      let best: Cidr | null = null;
      for (const e of SPECIAL_RANGES) {
        if (e.cidr.family !== a.family) continue;
        const shift = BigInt((a.family === 4 ? 32 : 128) - e.cidr.prefix);
        if (a.value >> shift === e.cidr.addr >> shift && (!best || e.cidr.prefix > best.prefix)) best = e.cidr;
      }
      return best ? best.text : null;
    };
    // bias toward the table: random addresses near range boundaries plus uniform ones
    const nearTable = fc.tuple(fc.constantFrom(...SPECIAL_RANGES), fc.bigInt({ min: -3n, max: 3n }), fc.boolean()).map(([e, d, end]) => {
      const { first, last } = cidrRange(e.cidr);
      const max = e.cidr.family === 4 ? (1n << 32n) - 1n : (1n << 128n) - 1n;
      let v = (end ? last : first) + d;
      if (v < 0n) v = 0n;
      if (v > max) v = max;
      return { family: e.cidr.family, value: v };
    });
    const uniform = fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((value) => ({ family: 4 as const, value })),
      fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((value) => ({ family: 6 as const, value })),
    );
    fc.assert(
      fc.property(fc.oneof(nearTable, uniform), (a) => {
        assert.equal(classifySpecial(a)?.range ?? null, linear(a));
      }),
      { numRuns: 3000 },
    );
  });
});

void describe("isSpecial with internal", () => {
  const cases: Array<[string, string, string[], boolean]> = [
    ["a public address is never special", "8.8.8.8", [], false],
    ["a private address is special", "10.0.0.1", [], true],
    ["a private address inside internal is not special", "10.0.0.1", ["10.0.0.0/8"], false],
    ["a private address outside a narrower internal is special", "10.1.0.1", ["10.0.0.0/16"], true],
    ["documentation space listed as internal is not special", "192.0.2.7", ["192.0.2.0/24"], false],
    ["metadata stays special when internal covers other ranges", "169.254.169.254", ["10.0.0.0/8"], true],
    ["a mapped private address is special", "::ffff:10.0.0.1", [], true],
    ["a mapped address whose IPv4 is internal is internal", "::ffff:10.0.0.1", ["10.0.0.0/8"], false],
    ["a mapped public address is still special (use IPv4)", "::ffff:8.8.8.8", [], true],
    ["a mapped address is internal when the mapped range is listed", "::ffff:8.8.8.8", ["::ffff:0:0/96"], false],
    ["NAT64 to an internal IPv4 is internal", "64:ff9b::10.0.0.1", ["10.0.0.0/8"], false],
    ["NAT64 to metadata stays special", "64:ff9b::169.254.169.254", ["10.0.0.0/8"], true],
    ["6to4 embedding an internal IPv4 is still special: it is a tunnel", "2002:a00:1::1", ["10.0.0.0/8"], true],
    ["6to4 embedding a public IPv4 is special", "2002:808:808::1", [], true],
    ["Teredo embedding an internal IPv4 is still special", "2001:0:4136:e378:8000:63bf:f5ff:fffe", ["10.0.0.0/8"], true],
    ["IPv4-compatible embedding an internal IPv4 is still special", "::10.0.0.1", ["10.0.0.0/8"], true],
    ["a ULA inside internal is not special", "fd00::1", ["fc00::/7"], false],
    ["an IPv4 internal range does not cover IPv6", "fd00::1", ["10.0.0.0/8"], true],
    ["loopback listed as internal is not special", "127.0.0.1", ["127.0.0.0/8"], false],
  ];
  for (const [name, addr, internal, want] of cases) {
    void it(name, () => {
      assert.equal(isSpecial(ip(addr), cidrs(...internal)), want);
      assert.equal(compileSpecialCheck(cidrs(...internal))(ip(addr)), want);
    });
  }
});
