/**
 * From NFLOG prefix to rule, mode and reason (prefixMapperFor), and from a logged packet to
 * its flow event (packetEvent), on policies loaded from YAML.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadPolicyText } from "../../../src/policy/load.ts";
import type { Policy } from "../../../src/policy/ir.ts";
import { logPrefix } from "../../../src/compile/nftables/layout.ts";
import { packetEvent, prefixMapperFor, UNLABELLED, type PrefixMapping } from "../../../src/runtime/nflog/map.ts";
import { parseIpPacket, parseNflog, type NflogPacket } from "../../../src/runtime/nflog/parse.ts";
import { ipv4, ipv6, l4, loggedPacket } from "./build.ts";

function policy(text: string): Policy {
  return loadPolicyText(text, "/test/nflog.yaml", (p) => {
    throw new Error(`no files here (${p})`);
  });
}

const ENFORCE = policy(`
version: 1
name: nflog-enforce
rules:
  - name: shadow-model-deny
    deny: [203.0.113.0/24]
  - name: staged-deny
    deny: [198.51.100.0/24]
    mode: monitor
  - name: allow-api
    allow: [192.0.2.0/24]
    ports: [443]
    protocol: tcp
default: deny
`);

const MONITOR_ALLOW = policy(`
version: 1
name: nflog-monitor
mode: monitor
rules:
  - name: blocked
    deny: [203.0.113.0/24]
  - name: dns-resolver-9
    deny: [198.51.100.9]
default: allow
`);

void describe("prefixMapperFor", () => {
  const cases: Array<{ name: string; p: Policy; prefix: string; want: PrefixMapping | null; extra?: Record<string, PrefixMapping> }> = [
    { name: "an enforced deny rule is an enforced rule-deny", p: ENFORCE, prefix: "shadow-model-deny", want: { rule: "shadow-model-deny", enforced: true, verdict: "deny" } },
    { name: "a monitor-mode deny rule is a would-deny", p: ENFORCE, prefix: "staged-deny", want: { rule: "staged-deny", enforced: false, verdict: "deny" } },
    { name: "an allow rule maps to an allow", p: ENFORCE, prefix: "allow-api", want: { rule: "allow-api", enforced: true, verdict: "allow" } },
    { name: "default in an enforcing deny-by-default policy is default-deny", p: ENFORCE, prefix: "default", want: { rule: "default", enforced: true, verdict: "deny", reason: "default-deny" } },
    { name: "dns is the chain's own deny of other resolvers", p: ENFORCE, prefix: "dns", want: { rule: "dns", enforced: true, verdict: "deny", reason: "rule-deny" } },
    { name: "default in an allow-by-default policy is default-allow", p: MONITOR_ALLOW, prefix: "default", want: { rule: "default", enforced: true, verdict: "allow", reason: "default-allow" } },
    { name: "dns in a monitor-mode policy is a would-deny", p: MONITOR_ALLOW, prefix: "dns", want: { rule: "dns", enforced: false, verdict: "deny", reason: "rule-deny" } },
    { name: "a rule in a monitor-mode policy is a would-deny", p: MONITOR_ALLOW, prefix: "blocked", want: { rule: "blocked", enforced: false, verdict: "deny" } },
    { name: "an unknown prefix is null", p: ENFORCE, prefix: "host-side", want: null },
    { name: "prefixes are exact (no case folding)", p: ENFORCE, prefix: "Shadow-Model-Deny", want: null },
    {
      name: "extra prefixes from the runner are known",
      p: ENFORCE,
      prefix: "host-side",
      extra: { "host-side": { rule: "host-side", enforced: true, reason: "special-range" } },
      want: { rule: "host-side", enforced: true, reason: "special-range" },
    },
    {
      name: "extra prefixes win over the policy's",
      p: ENFORCE,
      prefix: "default",
      extra: { default: { rule: "runner-default", enforced: true } },
      want: { rule: "runner-default", enforced: true },
    },
  ];
  for (const c of cases) void it(c.name, () => assert.deepEqual(prefixMapperFor(c.p, c.extra)(c.prefix), c.want));

  void it("every rule is found under the prefix the nftables backend writes for it", () => {
    const map = prefixMapperFor(ENFORCE);
    for (const r of ENFORCE.rules) assert.equal(map(logPrefix(r.name))?.rule, r.name);
  });
});

function pkt(prefix: string, payload: Buffer, uid?: number): NflogPacket {
  return parseNflog(loggedPacket(prefix, payload, uid === undefined ? {} : { uid }), true);
}

const UDP4 = ipv4({ src: "10.0.0.2", dst: "203.0.113.9", protocol: 17, body: l4("udp", 40000, 4433) });
const TCP6 = ipv6({ src: "2001:db8::2", dst: "2001:db8::99", protocol: 6, body: l4("tcp", 50000, 443) });
const PING = ipv4({ src: "10.0.0.2", dst: "203.0.113.9", protocol: 1, body: l4("icmp", 8, 0) });
const CTX = { fallbackTimeMs: Date.UTC(2025, 0, 2, 3, 4, 5, 678) };

void describe("packetEvent", () => {
  const map = prefixMapperFor(ENFORCE);

  void it("a deny rule's UDP packet is one enforced rule-deny event with address, port and client", () => {
    const p = pkt("shadow-model-deny", UDP4, 1000);
    const e = packetEvent(p, parseIpPacket(p.payload ?? Buffer.alloc(0)), map(p.prefix), { ...CTX, sandbox: "ab12", policyHash: "f00d" });
    assert.deepEqual(e, {
      ts: "2025-01-02T03:04:05.678Z",
      kind: "packet",
      name: null,
      dst_ip: "203.0.113.9",
      dst_port: 4433,
      proto: "udp",
      verdict: "deny",
      enforced: true,
      rule: "shadow-model-deny",
      reason: "rule-deny",
      client: "10.0.0.2:40000",
      detail: "uid 1000",
      sandbox: "ab12",
      policy_hash: "f00d",
    });
  });

  void it("an IPv6 client is written [addr]:port", () => {
    const p = pkt("staged-deny", TCP6);
    const e = packetEvent(p, parseIpPacket(p.payload ?? Buffer.alloc(0)), map(p.prefix), CTX);
    assert.equal(e.client, "[2001:db8::2]:50000");
    assert.equal(e.dst_ip, "2001:db8::99");
    assert.equal(e.proto, "tcp");
    assert.equal(e.enforced, false);
    assert.equal(e.reason, "rule-deny");
    assert.equal(e.detail, undefined);
  });

  void it("the default prefix gives default-deny and ICMP has no port but its type in detail", () => {
    const p = pkt("default", PING);
    const e = packetEvent(p, parseIpPacket(p.payload ?? Buffer.alloc(0)), map(p.prefix), CTX);
    assert.equal(e.rule, "default");
    assert.equal(e.reason, "default-deny");
    assert.equal(e.proto, "icmp");
    assert.equal(e.dst_port, null);
    assert.equal(e.client, "10.0.0.2");
    assert.equal(e.detail, "icmp type 8 code 0");
  });

  void it("a logged default allow is an allow event", () => {
    const p = pkt("default", UDP4);
    const e = packetEvent(p, parseIpPacket(p.payload ?? Buffer.alloc(0)), prefixMapperFor(MONITOR_ALLOW)(p.prefix), CTX);
    assert.equal(e.verdict, "allow");
    assert.equal(e.enforced, true);
    assert.equal(e.reason, "default-allow");
  });

  void it("an unknown prefix still gives an enforced deny event that names the prefix (fail closed)", () => {
    const p = pkt("host-side", UDP4);
    const e = packetEvent(p, parseIpPacket(p.payload ?? Buffer.alloc(0)), null, CTX);
    assert.equal(e.rule, "host-side");
    assert.equal(e.verdict, "deny");
    assert.equal(e.enforced, true);
    assert.equal(e.reason, "rule-deny");
    assert.match(e.detail ?? "", /NFLOG prefix 'host-side' is not known/);
  });

  void it("a log statement without a prefix is named 'unlabelled'", () => {
    const p = pkt("", UDP4);
    assert.equal(packetEvent(p, parseIpPacket(p.payload ?? Buffer.alloc(0)), null, CTX).rule, UNLABELLED);
  });

  void it("an unreadable payload keeps the rule and leaves address, port and protocol null", () => {
    const p = pkt("shadow-model-deny", Buffer.from([0x50, 1, 2]));
    const e = packetEvent(p, null, map(p.prefix), CTX, "payload is not IPv4 or IPv6 (version 5)");
    assert.equal(e.rule, "shadow-model-deny");
    assert.equal(e.dst_ip, null);
    assert.equal(e.dst_port, null);
    assert.equal(e.proto, null);
    assert.equal(e.client, undefined);
    assert.match(e.detail ?? "", /version 5/);
  });

  void it("another IP protocol has proto null and the protocol number in detail", () => {
    const sctp = ipv4({ src: "10.0.0.2", dst: "203.0.113.9", protocol: 132, body: l4("udp", 1, 2) });
    const p = pkt("shadow-model-deny", sctp);
    const e = packetEvent(p, parseIpPacket(p.payload ?? Buffer.alloc(0)), map(p.prefix), CTX);
    assert.equal(e.proto, null);
    assert.equal(e.dst_port, null);
    assert.equal(e.detail, "ip protocol 132");
  });

  const times: Array<{ name: string; kernel: number | null; fallback: number; want: string }> = [
    { name: "the kernel timestamp wins over the record time", kernel: Date.UTC(2024, 5, 1), fallback: CTX.fallbackTimeMs, want: "2024-06-01T00:00:00.000Z" },
    { name: "without a kernel timestamp the record time is used", kernel: null, fallback: CTX.fallbackTimeMs, want: "2025-01-02T03:04:05.678Z" },
    { name: "a kernel timestamp beyond Date's range falls back to the record time", kernel: 2 ** 62, fallback: CTX.fallbackTimeMs, want: "2025-01-02T03:04:05.678Z" },
    { name: "no usable time at all gives the epoch rather than throwing", kernel: Number.NaN, fallback: Number.POSITIVE_INFINITY, want: "1970-01-01T00:00:00.000Z" },
  ];
  for (const c of times) {
    void it(c.name, () => {
      const p = { ...pkt("default", UDP4), timeMs: c.kernel };
      assert.equal(packetEvent(p, parseIpPacket(p.payload ?? Buffer.alloc(0)), map("default"), { fallbackTimeMs: c.fallback }).ts, c.want);
    });
  }
});
