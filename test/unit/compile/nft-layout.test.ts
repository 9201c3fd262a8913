/**
 * The nftables layout helpers the DNS guard uses, and the interval arithmetic behind the
 * special-purpose sets.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { counterName, dynamicSetNames, elementsForGrant, logPrefix, renderSetElements, tableNameFor } from "../../../src/compile/nftables/layout.ts";
import { intervalToCidrs, mergeIntervals, specialMinusInternal, subtractIntervals } from "../../../src/compile/common/plan.ts";
import { irPolicy } from "../../../src/compile/conformance.ts";

const policy = irPolicy({
  name: "coding-agent",
  rules: [
    { name: "deny-evil", deny: ["evil.example"] },
    { name: "staged", deny: ["*.watch.example"], mode: "monitor" },
    { name: "models", allow: ["api.example.com", "203.0.113.0/24"], ports: [443, "8000-8100"], protocol: "tcp" },
    { name: "ping", allow: ["*.example.org"] },
    { name: "addresses-only", allow: ["192.0.2.0/24"] },
  ],
});
const rule = (i: number) => policy.rules[i] ?? assert.fail(`no rule ${i}`);

void describe("nftables layout names", () => {
  void it("names the table after the policy unless told otherwise", () => {
    assert.equal(tableNameFor(policy, {}), "clawfence_coding_agent");
    assert.equal(tableNameFor(policy, { tableName: "cf_sandbox_1" }), "cf_sandbox_1");
  });
  void it("uses the rule name as the counter name when nft accepts it", () => {
    assert.equal(counterName({ name: "allow-models.v2", order: 3 }), "allow-models.v2");
    assert.equal(counterName({ name: "0day", order: 3 }), "r3_0day");
    assert.equal(counterName({ name: "default", order: 1 }), "r1_default");
  });
  void it("makes log prefixes safe and at most 127 bytes", () => {
    assert.equal(logPrefix('a"b\\c\nd'), "a_b_c_d");
    assert.equal(logPrefix("x".repeat(300)).length, 127);
  });
  void it("gives dynamic sets to allow rules and monitor denies with names only", () => {
    assert.equal(dynamicSetNames(policy, rule(0)), null);
    assert.deepEqual(dynamicSetNames(policy, rule(1)), { v4: "d1_4", v6: "d1_6", icmp4: "d1_4i", icmp6: "d1_6i" });
    assert.deepEqual(dynamicSetNames(policy, rule(2)), { v4: "d2_4", v6: "d2_6", icmp4: null, icmp6: null });
    assert.equal(dynamicSetNames(policy, rule(4)), null);
  });
});

void describe("elementsForGrant and renderSetElements", () => {
  void it("opens one element per port range of a tcp grant", () => {
    const els = elementsForGrant(policy, { rule: "models", order: 2, protocol: "tcp", ports: [{ from: 443, to: 443 }, { from: 8000, to: 8100 }] }, { family: 4, text: "192.0.2.7" }, 29.5);
    assert.deepEqual(renderSetElements("t", els), "add element inet t d2_4 { 192.0.2.7 . tcp . 443 timeout 30s }\nadd element inet t d2_4 { 192.0.2.7 . tcp . 8000-8100 timeout 30s }\n");
  });
  void it("opens every port for a grant without ports", () => {
    const els = elementsForGrant(policy, { rule: "ping", order: 3, protocol: "udp", ports: null }, { family: 6, text: "2001:db8::7" }, 5);
    assert.deepEqual(els, [{ set: "d3_6", family: 6, ip: "2001:db8::7", protocol: "udp", portRange: { from: 1, to: 65535 }, timeoutSeconds: 5 }]);
  });
  void it("puts an icmp grant in the address-only set", () => {
    const els = elementsForGrant(policy, { rule: "ping", order: 3, protocol: "icmp", ports: null }, { family: 4, text: "192.0.2.9" }, 60);
    assert.equal(renderSetElements("t", els), "add element inet t d3_4i { 192.0.2.9 timeout 60s }\n");
  });
  void it("returns nothing for the default, for rules without sets, and for a stale rule order", () => {
    assert.deepEqual(elementsForGrant(policy, { rule: "default", order: 5, protocol: "tcp", ports: null }, { family: 4, text: "192.0.2.1" }, 5), []);
    assert.deepEqual(elementsForGrant(policy, { rule: "addresses-only", order: 4, protocol: "tcp", ports: null }, { family: 4, text: "192.0.2.1" }, 5), []);
    assert.deepEqual(elementsForGrant(policy, { rule: "renamed", order: 2, protocol: "tcp", ports: null }, { family: 4, text: "192.0.2.1" }, 5), []);
  });
});

void describe("interval arithmetic for the special-purpose sets", () => {
  void it("merges overlapping and adjacent intervals", () => {
    assert.deepEqual(mergeIntervals([[5n, 9n], [1n, 3n], [4n, 4n], [20n, 30n]]), [[1n, 9n], [20n, 30n]]);
  });
  void it("subtracts holes", () => {
    assert.deepEqual(subtractIntervals([[0n, 100n]], [[10n, 19n], [50n, 200n]]), [[0n, 9n], [20n, 49n]]);
  });
  void it("turns an interval into the fewest CIDRs", () => {
    assert.deepEqual(intervalToCidrs(4, [0x0a000001n, 0x0a000006n]).map((c) => c.text), ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]);
  });
  void it("leaves internal ranges (and their IPv4-mapped and NAT64 forms) out of the special set", () => {
    const internal = [irPolicy({ internal: ["10.0.0.0/8"], rules: [] }).internal[0] ?? assert.fail("no cidr")];
    const v4 = specialMinusInternal(4, internal);
    assert.ok(!v4.some(([a, b]) => a <= 0x0a000001n && 0x0a000001n <= b), "10.0.0.1 is not special");
    assert.ok(v4.some(([a, b]) => a <= 0xc0a80001n && 0xc0a80001n <= b), "192.168.0.1 still is");
    const mapped = (0xffffn << 32n) | 0x0a000001n;
    assert.ok(!specialMinusInternal(6, internal).some(([a, b]) => a <= mapped && mapped <= b), "::ffff:10.0.0.1 is not special");
  });
});
