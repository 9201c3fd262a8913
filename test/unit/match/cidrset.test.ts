/**
 * Tests for match/cidrset: the interval forest finds exactly the CIDRs containing an
 * address (innermost first, through parent links), checked against a linear scan.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { buildCidrSet } from "../../../src/match/cidrset.ts";
import { ipInCidr, networkOf, parseCidr, parseIp, type IpAddr } from "../../../src/match/ip.ts";
import type { Cidr } from "../../../src/policy/ir.ts";

function containing(set: ReturnType<typeof buildCidrSet>, ip: IpAddr): string[] {
  const out: string[] = [];
  for (let n = set.lookup(ip); n >= 0; ) {
    const node = set.nodes[n];
    assert.ok(node);
    for (const o of node.orders) out.push(`${o}:${node.cidr.text}`);
    n = node.parent;
  }
  return out.sort();
}

void describe("cidrset", () => {
  const c = (t: string): Cidr => parseCidr(t)!;
  const set = buildCidrSet([
    { cidr: c("10.0.0.0/8"), order: 3 },
    { cidr: c("10.1.0.0/16"), order: 1 },
    { cidr: c("10.1.0.0/16"), order: 2 },
    { cidr: c("10.1.255.255/32"), order: 0 },
    { cidr: c("0.0.0.0/0"), order: 4 },
    { cidr: c("2001:db8::/32"), order: 5 },
    { cidr: c("::/0"), order: 6 },
  ]);
  const cases: Array<[string, string, string[]]> = [
    ["an address in three nested ranges finds all of them", "10.1.255.255", ["0:10.1.255.255/32", "1:10.1.0.0/16", "2:10.1.0.0/16", "3:10.0.0.0/8", "4:0.0.0.0/0"]],
    ["the address after a nested /16 falls back to the /8", "10.2.0.0", ["3:10.0.0.0/8", "4:0.0.0.0/0"]],
    ["the address after the /8 only has /0", "11.0.0.0", ["4:0.0.0.0/0"]],
    ["the highest IPv4 address has /0", "255.255.255.255", ["4:0.0.0.0/0"]],
    ["the lowest IPv4 address has /0", "0.0.0.0", ["4:0.0.0.0/0"]],
    ["IPv6 ranges are separate from IPv4", "2001:db8::1", ["5:2001:db8::/32", "6:::/0"]],
    ["the highest IPv6 address has ::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ["6:::/0"]],
  ];
  for (const [name, addr, want] of cases) void it(name, () => assert.deepEqual(containing(set, parseIp(addr)!), want));
  void it("an empty set finds nothing", () => assert.equal(buildCidrSet([]).lookup(parseIp("1.2.3.4")!), -1));

  void it("agrees with a linear scan on random nested ranges (property)", () => {
    const ipArb = fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((value): IpAddr => ({ family: 4, value })),
      fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((value): IpAddr => ({ family: 6, value })),
    );
    // cluster addresses around a few seeds so ranges nest and touch
    const seeds = [parseIp("10.0.0.0")!, parseIp("255.255.255.255")!, parseIp("0.0.0.0")!, parseIp("2001:db8::")!, parseIp("::")!];
    const nearArb = fc.tuple(fc.constantFrom(...seeds), fc.bigInt({ min: -70000n, max: 70000n })).map(([s, d]): IpAddr => {
      const max = s.family === 4 ? (1n << 32n) - 1n : (1n << 128n) - 1n;
      const v = s.value + d;
      return { family: s.family, value: v < 0n ? 0n : v > max ? max : v };
    });
    const addr = fc.oneof(ipArb, nearArb, nearArb);
    const cidrArb = fc.tuple(addr, fc.integer({ min: 0, max: 128 })).map(([ip, p]) => networkOf(ip, ip.family === 4 ? p % 33 : p));
    fc.assert(
      fc.property(fc.array(cidrArb, { maxLength: 60 }), fc.array(addr, { minLength: 1, maxLength: 30 }), (cidrs, ips) => {
        const s = buildCidrSet(cidrs.map((cidr, order) => ({ cidr, order })));
        for (const ip of ips) {
          const want = cidrs.flatMap((cidr, o) => (ipInCidr(ip, cidr) ? [`${o}:${cidr.text}`] : [])).sort();
          assert.deepEqual(containing(s, ip), want);
          // and the edges of every range
        }
        for (const cidr of cidrs) {
          for (const v of [cidr.addr, cidr.addr - 1n, cidr.addr + (1n << BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix))]) {
            const max = cidr.family === 4 ? (1n << 32n) - 1n : (1n << 128n) - 1n;
            if (v < 0n || v > max) continue;
            const ip: IpAddr = { family: cidr.family, value: v };
            const want = cidrs.flatMap((c2, o) => (ipInCidr(ip, c2) ? [`${o}:${c2.text}`] : [])).sort();
            assert.deepEqual(containing(s, ip), want);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
