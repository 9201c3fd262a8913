/**
 * Tests for match/decide: decide(), decideName() grants, decideAddress(), explainFlow(),
 * as sentence-named tables, plus a property test against the linear reference matcher.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { compileDecider, type NameGrant } from "../../../src/match/decide.ts";
import type { Decision, Flow } from "../../../src/match/decision.ts";
import { networkOf, parseIp } from "../../../src/match/ip.ts";
import type { FlowProtocol, Mode, Protocol } from "../../../src/policy/ir.ts";
import { allow, deny, policy, type PolicySpec, type RuleSpec } from "./ir-builder.ts";
import { referenceDecide } from "./reference.ts";

interface F {
  readonly p?: FlowProtocol;
  readonly port?: number;
  readonly ip?: string;
  readonly name?: string | readonly string[];
  readonly phase?: string;
}
function flow(f: F): Flow {
  const ip = f.ip === undefined ? undefined : parseIp(f.ip);
  if (f.ip !== undefined && !ip) throw new Error(`bad test ip ${f.ip}`);
  const names = f.name === undefined ? undefined : typeof f.name === "string" ? [f.name] : f.name;
  return {
    protocol: f.p ?? "tcp",
    ...(f.p === "icmp" ? {} : { port: f.port ?? 443 }),
    ...(ip ? { ip } : {}),
    ...(names ? { names } : {}),
    ...(f.phase !== undefined ? { phase: f.phase } : {}),
  };
}
/** "allow rule-x rule-allow", "deny default default-deny", "would-deny r rule-deny" */
function fmt(d: Decision): string {
  const v = d.verdict === "deny" && !d.enforced ? "would-deny" : d.verdict;
  return `${v} ${d.rule} ${d.reason}`;
}

type Case = [name: string, spec: PolicySpec, flow: F, want: string];

function runTable(cases: readonly Case[]): void {
  for (const [name, spec, f, want] of cases) {
    void it(name, () => {
      const p = policy(spec);
      const d = compileDecider(p);
      const fl = flow(f);
      assert.equal(fmt(d.decide(fl)), want);
      assert.equal(fmt(referenceDecide(p, fl)), want, "reference matcher disagrees");
      assert.equal(fmt(d.explainFlow(fl).decision), want, "explainFlow disagrees");
    });
  }
}

const web = (dests: string[], extra: Omit<PolicySpec, "rules"> = {}): PolicySpec => ({ ...extra, rules: [allow("web", dests)] });

void describe("decide: names", () => {
  runTable([
    ["an exact name matches", web(["api.example.com"]), { name: "api.example.com" }, "allow web rule-allow"],
    ["another name does not match", web(["api.example.com"]), { name: "www.example.com" }, "deny default default-deny"],
    ["a subdomain does not match an exact name", web(["example.com"]), { name: "a.example.com" }, "deny default default-deny"],
    ["an uppercase flow name matches", web(["api.example.com"]), { name: "API.Example.COM" }, "allow web rule-allow"],
    ["a trailing dot on the flow name matches", web(["api.example.com"]), { name: "api.example.com." }, "allow web rule-allow"],
    ["an _srv._tcp name matches exactly", web(["_ldap._tcp.example.com"]), { name: "_ldap._tcp.example.com" }, "allow web rule-allow"],
    ["a wildcard matches an _srv._tcp name below it", web(["*.example.com"]), { name: "_ldap._tcp.example.com" }, "allow web rule-allow"],
    ["a punycode name matches its punycode entry", web(["xn--bcher-kva.example"]), { name: "xn--bcher-kva.example" }, "allow web rule-allow"],
    ["a wildcard matches one label below", web(["*.example.com"]), { name: "a.example.com" }, "allow web rule-allow"],
    ["a wildcard matches several labels below", web(["*.example.com"]), { name: "a.b.c.example.com" }, "allow web rule-allow"],
    ["a wildcard never matches its apex", web(["*.example.com"]), { name: "example.com" }, "deny default default-deny"],
    ["a wildcard does not match a name that only ends in the same letters", web(["*.example.com"]), { name: "badexample.com" }, "deny default default-deny"],
    ["a wildcard does not match a sibling domain", web(["*.example.com"]), { name: "a.example.org" }, "deny default default-deny"],
    ["a wildcard over a punycode suffix matches", web(["*.xn--bcher-kva.example"]), { name: "www.xn--bcher-kva.example" }, "allow web rule-allow"],
    ["one of several flow names matching is enough", web(["cdn.example.net"]), { name: ["api.example.com", "cdn.example.net"] }, "allow web rule-allow"],
    ["a name entry does not match a flow with only an address", web(["api.example.com"]), { ip: "8.8.8.8" }, "deny default default-deny"],
    ["a name entry matches a name with a public address", web(["api.example.com"]), { name: "api.example.com", ip: "8.8.8.8" }, "allow web rule-allow"],
    ["any matches a flow with only a name", web(["any"]), { name: "whatever.example" }, "allow web rule-allow"],
    ["any matches a flow with neither name nor address", web(["any"]), {}, "allow web rule-allow"],
  ]);
});

void describe("decide: addresses", () => {
  runTable([
    ["an address inside a CIDR matches", web(["203.0.113.0/24"]), { ip: "203.0.113.9" }, "allow web rule-allow"],
    ["the first address of a CIDR matches", web(["8.8.8.0/24"]), { ip: "8.8.8.0" }, "allow web rule-allow"],
    ["the last address of a CIDR matches", web(["8.8.8.0/24"]), { ip: "8.8.8.255" }, "allow web rule-allow"],
    ["the address after a CIDR does not match", web(["8.8.8.0/24"]), { ip: "8.8.9.0" }, "deny default default-deny"],
    ["the address before a CIDR does not match", web(["8.8.8.0/24"]), { ip: "8.8.7.255" }, "deny default default-deny"],
    ["a single address entry matches itself", web(["8.8.4.4"]), { ip: "8.8.4.4" }, "allow web rule-allow"],
    ["a single address entry does not match its neighbour", web(["8.8.4.4"]), { ip: "8.8.4.5" }, "deny default default-deny"],
    ["an IPv6 CIDR matches", web(["2606:4700::/32"]), { ip: "2606:4700:ffff::1" }, "allow web rule-allow"],
    ["the last IPv6 address of a CIDR matches", web(["2606:4700::/32"]), { ip: "2606:4700:ffff:ffff:ffff:ffff:ffff:ffff" }, "allow web rule-allow"],
    ["the IPv6 address after a CIDR does not match", web(["2606:4700::/32"]), { ip: "2606:4701::" }, "deny default default-deny"],
    ["an IPv4 CIDR does not match an IPv6 address", web(["8.8.8.0/24"]), { ip: "2606:4700::1" }, "deny default default-deny"],
    ["an IPv4 CIDR matches the IPv4-mapped form of its address", web(["8.8.8.0/24"]), { ip: "::ffff:8.8.8.8" }, "allow web rule-allow"],
    [
      "an IPv4 deny also denies the IPv4-mapped form",
      { rules: [deny("no-dns", ["8.8.8.8"]), allow("v6", ["::ffff:0:0/96"])], internal: ["::ffff:0:0/96"] },
      { ip: "::ffff:8.8.8.8" },
      "deny no-dns rule-deny",
    ],
    ["nested CIDRs: the narrow one of an earlier rule decides", { rules: [deny("narrow", ["8.8.8.8"]), allow("wide", ["8.0.0.0/8"])] }, { ip: "8.8.8.8" }, "deny narrow rule-deny"],
    ["nested CIDRs: the wide one of an earlier rule decides", { rules: [allow("wide", ["8.0.0.0/8"]), deny("narrow", ["8.8.8.8"])] }, { ip: "8.8.8.8" }, "allow wide rule-allow"],
    ["0.0.0.0/0 matches every IPv4 address", web(["0.0.0.0/0"]), { ip: "1.2.3.4" }, "allow web rule-allow"],
    ["::/0 matches every IPv6 address", web(["::/0"]), { ip: "2606:4700::1" }, "allow web rule-allow"],
  ]);
});

void describe("decide: special-purpose addresses and internal", () => {
  runTable([
    ["any never matches a private address", web(["any"]), { ip: "10.0.0.1" }, "deny default special-range"],
    ["any never matches cloud metadata", web(["any"]), { ip: "169.254.169.254" }, "deny default special-range"],
    ["any never matches loopback", web(["any"]), { ip: "127.0.0.1" }, "deny default special-range"],
    ["any never matches IPv6 loopback", web(["any"]), { ip: "::1" }, "deny default special-range"],
    ["any never matches a ULA", web(["any"]), { ip: "fd00::1" }, "deny default special-range"],
    ["any never matches the IPv4-mapped form of a public address", web(["any"]), { ip: "::ffff:8.8.8.8" }, "deny default special-range"],
    ["any never matches NAT64", web(["any"]), { ip: "64:ff9b::808:808" }, "deny default special-range"],
    ["any never matches 6to4", web(["any"]), { ip: "2002:808:808::1" }, "deny default special-range"],
    ["any never matches Teredo", web(["any"]), { ip: "2001:0:4136:e378:8000:63bf:3fff:fdd2" }, "deny default special-range"],
    ["any never matches documentation space", web(["any"]), { ip: "192.0.2.7" }, "deny default special-range"],
    ["any never matches multicast", web(["any"]), { ip: "224.0.0.251", p: "udp", port: 5353 }, "deny default special-range"],
    ["any matches a public address", web(["any"]), { ip: "8.8.8.8" }, "allow web rule-allow"],
    ["a name resolving into a private range does not match (rebinding)", web(["api.example.com"]), { name: "api.example.com", ip: "10.0.0.5" }, "deny default special-range"],
    ["a wildcard name resolving to metadata does not match", web(["*.example.com"]), { name: "x.example.com", ip: "169.254.169.254" }, "deny default special-range"],
    ["a literal private CIDR matches what it says", web(["10.0.0.0/8"]), { ip: "10.0.0.5" }, "allow web rule-allow"],
    ["a literal metadata address matches what it says", { rules: [deny("imds", ["169.254.169.254"])], default: "allow" }, { ip: "169.254.169.254" }, "deny imds rule-deny"],
    ["any matches a private address listed under internal", web(["any"], { internal: ["10.0.0.0/8"] }), { ip: "10.1.2.3" }, "allow web rule-allow"],
    ["a name resolving into internal matches", web(["db.corp.example"], { internal: ["10.0.0.0/8"] }), { name: "db.corp.example", ip: "10.1.2.3" }, "allow web rule-allow"],
    ["internal does not cover metadata", web(["any"], { internal: ["10.0.0.0/8"] }), { ip: "169.254.169.254" }, "deny default special-range"],
    ["a mapped address whose IPv4 is internal counts as internal", web(["any"], { internal: ["10.0.0.0/8"] }), { ip: "::ffff:10.0.0.1" }, "allow web rule-allow"],
    ["6to4 embedding an internal IPv4 stays special", web(["any"], { internal: ["10.0.0.0/8"] }), { ip: "2002:a00:1::1" }, "deny default special-range"],
    ["documentation space listed as internal matches any", web(["any"], { internal: ["192.0.2.0/24"] }), { ip: "192.0.2.7" }, "allow web rule-allow"],
    ["a special address under default allow is allowed by the default", web(["example.com"], { default: "allow" }), { ip: "10.0.0.1" }, "allow default default-allow"],
    ["a public address nothing matches is a plain default deny", web(["example.com"]), { ip: "8.8.8.8" }, "deny default default-deny"],
  ]);
});

void describe("decide: ports and protocols", () => {
  const p443 = (protocol: Protocol = "any"): PolicySpec => ({ rules: [allow("web", ["any"], { ports: [443, "8000-8100"], protocol })] });
  runTable([
    ["a listed port matches", p443(), { ip: "8.8.8.8", port: 443 }, "allow web rule-allow"],
    ["an unlisted port does not match", p443(), { ip: "8.8.8.8", port: 80 }, "deny default default-deny"],
    ["the first port of a range matches", p443(), { ip: "8.8.8.8", port: 8000 }, "allow web rule-allow"],
    ["the last port of a range matches", p443(), { ip: "8.8.8.8", port: 8100 }, "allow web rule-allow"],
    ["the port after a range does not match", p443(), { ip: "8.8.8.8", port: 8101 }, "deny default default-deny"],
    ["a rule with ports does not match ICMP", p443(), { ip: "8.8.8.8", p: "icmp" }, "deny default default-deny"],
    ["a rule without ports matches ICMP", web(["any"]), { ip: "8.8.8.8", p: "icmp" }, "allow web rule-allow"],
    ["a tcp rule matches tcp", p443("tcp"), { ip: "8.8.8.8", port: 443 }, "allow web rule-allow"],
    ["a tcp rule does not match udp", p443("tcp"), { ip: "8.8.8.8", port: 443, p: "udp" }, "deny default default-deny"],
    ["a udp rule matches udp (QUIC)", p443("udp"), { ip: "8.8.8.8", port: 443, p: "udp" }, "allow web rule-allow"],
    ["an icmp rule matches icmp", { rules: [allow("ping", ["any"], { protocol: "icmp" })] }, { ip: "8.8.8.8", p: "icmp" }, "allow ping rule-allow"],
    ["an icmp rule does not match tcp", { rules: [allow("ping", ["any"], { protocol: "icmp" })] }, { ip: "8.8.8.8" }, "deny default default-deny"],
  ]);
  void it("a flow without a port skips ported rules and reaches portless ones", () => {
    const p = policy({ rules: [allow("web", ["any"], { ports: [443] }), deny("rest", ["any"])] });
    const f: Flow = { protocol: "tcp", ip: parseIp("8.8.8.8")! };
    assert.equal(fmt(compileDecider(p).decide(f)), "deny rest rule-deny");
  });
});

void describe("decide: ordering, default, monitor", () => {
  runTable([
    ["the first matching rule decides: deny before allow", { rules: [deny("block", ["example.com"]), allow("open", ["example.com"])] }, { name: "example.com" }, "deny block rule-deny"],
    ["the first matching rule decides: allow before deny", { rules: [allow("open", ["example.com"]), deny("block", ["example.com"])] }, { name: "example.com" }, "allow open rule-allow"],
    [
      "a wildcard deny before an exact allow decides",
      { rules: [deny("block", ["*.example.com"]), allow("open", ["api.example.com"])] },
      { name: "api.example.com" },
      "deny block rule-deny",
    ],
    [
      "a name rule before an address rule decides for a flow with both",
      { rules: [deny("byname", ["api.example.com"]), allow("byaddr", ["8.8.8.8"])] },
      { name: "api.example.com", ip: "8.8.8.8" },
      "deny byname rule-deny",
    ],
    [
      "a port-restricted earlier rule is skipped for another port",
      { rules: [deny("no-443", ["example.com"], { ports: [443] }), allow("open", ["example.com"])] },
      { name: "example.com", port: 80 },
      "allow open rule-allow",
    ],
    ["default allow allows what nothing matched", web(["example.com"], { default: "allow" }), { name: "other.example" }, "allow default default-allow"],
    ["default deny denies what nothing matched", web(["example.com"]), { name: "other.example" }, "deny default default-deny"],
    ["an empty policy denies by default", { rules: [] }, { ip: "8.8.8.8" }, "deny default default-deny"],
    ["a deny in a monitor policy would deny", { mode: "monitor", rules: [deny("block", ["example.com"])] }, { name: "example.com" }, "would-deny block rule-deny"],
    ["a default deny in a monitor policy would deny", { mode: "monitor", rules: [] }, { name: "example.com" }, "would-deny default default-deny"],
    ["a special range in a monitor policy would deny", { mode: "monitor", rules: [allow("any", ["any"])] }, { ip: "10.0.0.1" }, "would-deny default special-range"],
    ["an allow in a monitor policy is an enforced allow", { mode: "monitor", rules: [allow("open", ["example.com"])] }, { name: "example.com" }, "allow open rule-allow"],
    ["a per-rule monitor deny would deny in an enforce policy", { rules: [deny("staged", ["example.com"], { mode: "monitor" })] }, { name: "example.com" }, "would-deny staged rule-deny"],
    [
      "a per-rule enforce deny enforces in a monitor policy",
      { mode: "monitor", rules: [deny("hard", ["example.com"], { mode: "enforce" })] },
      { name: "example.com" },
      "deny hard rule-deny",
    ],
    ["a per-rule monitor rule does not soften the default", { rules: [deny("staged", ["a.example"], { mode: "monitor" })] }, { name: "b.example" }, "deny default default-deny"],
  ]);
});

void describe("decide: phases", () => {
  const phased: PolicySpec = {
    phases: ["bootstrap", "workload"],
    rules: [allow("attest", ["attest.example"], { phases: ["bootstrap"] }), allow("models", ["api.example"], { phases: ["workload"] }), allow("always", ["time.example"])],
  };
  runTable([
    ["a bootstrap rule is active in bootstrap", phased, { name: "attest.example", phase: "bootstrap" }, "allow attest rule-allow"],
    ["a flow without phase is in the first phase", phased, { name: "attest.example" }, "allow attest rule-allow"],
    ["a bootstrap rule is inactive in workload", phased, { name: "attest.example", phase: "workload" }, "deny default phase-inactive"],
    ["a workload rule is inactive in the first phase", phased, { name: "api.example" }, "deny default phase-inactive"],
    ["a rule without phases is active in every phase", phased, { name: "time.example", phase: "workload" }, "allow always rule-allow"],
    ["a name no rule matches is a plain default deny", phased, { name: "other.example", phase: "workload" }, "deny default default-deny"],
    [
      "an inactive deny under default allow is reported as phase-inactive",
      { phases: ["a", "b"], default: "allow", rules: [deny("later", ["x.example"], { phases: ["b"] })] },
      { name: "x.example", phase: "a" },
      "allow default phase-inactive",
    ],
    [
      "phase-inactive wins over special-range",
      { phases: ["a", "b"], rules: [allow("later", ["10.0.0.0/8"], { phases: ["b"] })] },
      { ip: "10.0.0.1", phase: "a" },
      "deny default phase-inactive",
    ],
  ]);
});

function g(rule: string, protocol: FlowProtocol, ports: string | null): string {
  return `${rule} ${protocol} ${ports ?? "all"}`;
}
function fmtGrants(gs: readonly NameGrant[]): string[] {
  return gs.map((x) => g(x.rule, x.protocol, x.ports === null ? null : x.ports.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(",")));
}

void describe("decideName: grants for DNS", () => {
  void it("deny example.com on 443, then allow example.com: tcp all but 443, udp all, icmp", () => {
    const d = compileDecider(policy({ rules: [deny("no-https", ["example.com"], { ports: [443] }), allow("web", ["example.com"])] }));
    const r = d.decideName("example.com");
    assert.equal(fmt(r), "allow web rule-allow");
    assert.deepEqual(fmtGrants(r.grants), ["web tcp 1-442,444-65535", "web udp 1-442,444-65535", "web icmp all"]);
    assert.deepEqual(fmtGrants(r.monitored), []);
  });
  void it("a tcp-only deny on 443 leaves udp 443 to the allow", () => {
    const d = compileDecider(policy({ rules: [deny("no-https", ["example.com"], { ports: [443], protocol: "tcp" }), allow("web", ["example.com"])] }));
    assert.deepEqual(fmtGrants(d.decideName("example.com").grants), ["web tcp 1-442,444-65535", "web udp all", "web icmp all"]);
  });
  void it("an allow limited to tcp 443 grants exactly that", () => {
    const d = compileDecider(policy({ rules: [allow("web", ["*.example.com"], { ports: [443], protocol: "tcp" })] }));
    const r = d.decideName("API.example.com.");
    assert.equal(fmt(r), "allow web rule-allow");
    assert.deepEqual(fmtGrants(r.grants), ["web tcp 443"]);
  });
  void it("two allows split the port space in order", () => {
    const d = compileDecider(policy({ rules: [allow("https", ["example.com"], { ports: [443], protocol: "tcp" }), allow("dev", ["example.com"], { ports: ["8000-8100", 443] })] }));
    assert.deepEqual(fmtGrants(d.decideName("example.com").grants), ["https tcp 443", "dev tcp 8000-8100", "dev udp 443,8000-8100"]);
  });
  void it("a name denied only on DNS ports by `any` is refused by the default, which decides the rest", () => {
    const d = compileDecider(policy({ rules: [deny("deny-dns", ["any"], { ports: [53, 853] }), allow("web", ["example.com"], { ports: [443], protocol: "tcp" })] }));
    assert.equal(fmt(d.decideName("tracker.example")), "deny default default-deny");
  });
  void it("a name denied on every port by a rule is refused under that rule", () => {
    const d = compileDecider(policy({ rules: [deny("deny-dns", ["any"], { ports: [53, 853] }), deny("shadow", ["api.example.net"]), allow("web", ["example.com"])] }));
    assert.equal(fmt(d.decideName("api.example.net")), "deny shadow rule-deny");
  });
  void it("a name nothing allows is refused by the default", () => {
    const r = compileDecider(policy({ rules: [allow("web", ["example.com"])] })).decideName("evil.example");
    assert.equal(fmt(r), "deny default default-deny");
    assert.deepEqual(r.grants, []);
  });
  void it("a name denied outright names the denying rule", () => {
    const r = compileDecider(policy({ rules: [deny("doh", ["dns.google"]), allow("any", ["any"])] })).decideName("dns.google");
    assert.equal(fmt(r), "deny doh rule-deny");
    assert.deepEqual(r.grants, []);
  });
  void it("any grants every name all ports", () => {
    const r = compileDecider(policy({ rules: [allow("open", ["any"])] })).decideName("whatever.example");
    assert.deepEqual(fmtGrants(r.grants), ["open tcp all", "open udp all", "open icmp all"]);
  });
  void it("CIDR entries do not apply to a name alone", () => {
    const r = compileDecider(policy({ rules: [allow("net", ["8.8.8.0/24"])] })).decideName("dns.google");
    assert.equal(fmt(r), "deny default default-deny");
  });
  void it("default allow grants what rules left", () => {
    const r = compileDecider(policy({ default: "allow", rules: [deny("no-smtp", ["any"], { ports: [25], protocol: "tcp" })] })).decideName("mail.example");
    assert.equal(fmt(r), "allow default default-allow");
    assert.deepEqual(fmtGrants(r.grants), ["default tcp 1-24,26-65535", "default udp all", "default icmp all"]);
  });
  void it("a monitor policy's default deny is monitored, not granted", () => {
    const r = compileDecider(policy({ mode: "monitor", rules: [] })).decideName("x.example");
    assert.equal(fmt(r), "would-deny default default-deny");
    assert.deepEqual(fmtGrants(r.grants), []);
    assert.deepEqual(fmtGrants(r.monitored), ["default tcp all", "default udp all", "default icmp all"]);
  });
  void it("a per-rule monitor deny is monitored", () => {
    const r = compileDecider(policy({ rules: [deny("staged", ["x.example"], { mode: "monitor" })] })).decideName("x.example");
    assert.equal(fmt(r), "would-deny staged rule-deny");
    assert.deepEqual(fmtGrants(r.monitored), ["staged tcp all", "staged udp all", "staged icmp all"]);
  });
  void it("a rule of another phase gives phase-inactive", () => {
    const p = policy({ phases: ["boot", "work"], rules: [allow("later", ["x.example"], { phases: ["work"] })] });
    assert.equal(fmt(compileDecider(p).decideName("x.example")), "deny default phase-inactive");
    assert.equal(fmt(compileDecider(p).decideName("x.example", "work")), "allow later rule-allow");
  });
});

void describe("decideAddress: grants for one answer address", () => {
  void it("an allowed name answered with a private address opens nothing", () => {
    const r = compileDecider(policy({ rules: [allow("web", ["api.example.com"])] })).decideAddress("api.example.com", parseIp("10.0.0.5")!);
    assert.equal(fmt(r), "deny default special-range");
    assert.deepEqual(r.grants, []);
  });
  void it("an allowed name answered with an internal address opens the rule's ports", () => {
    const p = policy({ internal: ["10.0.0.0/8"], rules: [allow("db", ["db.corp.example"], { ports: [5432], protocol: "tcp" })] });
    assert.deepEqual(fmtGrants(compileDecider(p).decideAddress("db.corp.example", parseIp("10.0.0.5")!).grants), ["db tcp 5432"]);
  });
  void it("an address deny before a name allow takes its ports", () => {
    const p = policy({ rules: [deny("bad-net", ["93.184.216.0/24"], { ports: [443] }), allow("web", ["api.example.com"])] });
    const r = compileDecider(p).decideAddress("api.example.com", parseIp("93.184.216.34")!);
    assert.deepEqual(fmtGrants(r.grants), ["web tcp 1-442,444-65535", "web udp 1-442,444-65535", "web icmp all"]);
    const other = compileDecider(p).decideAddress("api.example.com", parseIp("8.8.8.8")!);
    assert.deepEqual(fmtGrants(other.grants), ["web tcp all", "web udp all", "web icmp all"]);
  });
});

void describe("explainFlow", () => {
  const p = policy({
    rules: [
      deny("shadow", ["*.shadow.example"]),
      allow("web", ["api.example.com"], { ports: [443], protocol: "tcp" }),
      allow("lan", ["10.0.0.0/8"], { ports: [22] }),
    ],
  });
  const d = compileDecider(p);
  void it("names the deciding rule and every rule before it", () => {
    const e = d.explainFlow(flow({ name: "api.example.com", ip: "8.8.8.8", port: 443 }));
    assert.equal(e.rule?.name, "web");
    assert.deepEqual(
      e.considered.map((c) => [c.rule, c.matched]),
      [
        ["shadow", false],
        ["web", true],
      ],
    );
    assert.match(e.considered[1]?.why ?? "", /'api\.example\.com' at test\.yaml:11:12 matches name api\.example\.com/);
  });
  void it("says which port was missing", () => {
    const e = d.explainFlow(flow({ name: "api.example.com", port: 80 }));
    assert.equal(e.rule, undefined);
    assert.match(e.considered[1]?.why ?? "", /port 80 is not in 443/);
  });
  void it("says a name matched but the address is special", () => {
    const e = d.explainFlow(flow({ name: "api.example.com", ip: "127.0.0.1" }));
    assert.equal(fmt(e.decision), "deny default special-range");
    assert.match(e.considered[1]?.why ?? "", /would match name api\.example\.com, but 127\.0\.0\.1 is special-purpose \(loopback/);
    assert.equal(e.special?.range, "127.0.0.0/8");
  });
  void it("says which protocol did not fit", () => {
    const e = d.explainFlow(flow({ name: "api.example.com", p: "udp" }));
    assert.match(e.considered[1]?.why ?? "", /protocol udp is not tcp/);
  });
});

// ---------------------------------------------------------------- property: indexed == linear

const LABELS = ["a", "b", "api", "_srv", "_tcp", "xn--bcher-kva", "www"];
const BASES = ["example.com", "example.org", "com", "corp.example"];
const nameArb = fc.tuple(fc.array(fc.constantFrom(...LABELS), { maxLength: 3 }), fc.constantFrom(...BASES)).map(([ls, base]) => [...ls, base].join("."));
const ADDRS = [
  "10.1.2.3",
  "10.1.200.1",
  "8.8.8.8",
  "8.8.4.4",
  "127.0.0.1",
  "169.254.169.254",
  "203.0.113.7",
  "2001:db8::1",
  "2606:4700::1111",
  "2606:4700::1",
  "::ffff:10.1.2.3",
  "::ffff:8.8.8.8",
  "fd00::1",
];
const ipArb = fc.tuple(fc.constantFrom(...ADDRS), fc.integer({ min: 0, max: 3 })).map(([a, d]) => {
  const ip = parseIp(a)!;
  return { family: ip.family, value: ip.value + BigInt(d) };
});
const cidrArb = fc.tuple(ipArb, fc.integer({ min: 0, max: 128 })).map(([ip, p]) => networkOf(ip, Math.min(p, ip.family === 4 ? 32 : 128)).text);
const destArb = fc.oneof(
  { weight: 4, arbitrary: nameArb },
  { weight: 3, arbitrary: nameArb.map((n) => `*.${n}`) },
  { weight: 4, arbitrary: cidrArb },
  { weight: 1, arbitrary: fc.constant("any") },
);
const PHASES = ["boot", "work"];
const ruleArb = (i: number): fc.Arbitrary<RuleSpec> =>
  fc
    .record({
      action: fc.constantFrom("allow" as const, "deny" as const),
      dests: fc.array(destArb, { minLength: 1, maxLength: 4 }),
      ports: fc.option(fc.array(fc.oneof(fc.constantFrom(22, 53, 80, 443), fc.constantFrom("8000-8100", "1-1024")), { minLength: 1, maxLength: 3 }), { nil: undefined }),
      protocol: fc.constantFrom<Protocol>("any", "tcp", "udp", "icmp"),
      phases: fc.option(fc.subarray(PHASES, { minLength: 1 }), { nil: undefined }),
      mode: fc.option(fc.constantFrom<Mode>("enforce", "monitor"), { nil: undefined }),
    })
    .map((r) => ({
      name: `r${i}`,
      action: r.action,
      dests: r.dests,
      ...(r.ports ? { ports: r.ports } : {}),
      protocol: r.protocol,
      ...(r.phases ? { phases: r.phases } : {}),
      ...(r.mode ? { mode: r.mode } : {}),
    }));
const policyArb = fc.integer({ min: 0, max: 12 }).chain((nRules) =>
  fc.record({
    rules: fc.tuple(...Array.from({ length: nRules }, (_, i) => ruleArb(i))),
    default: fc.constantFrom("allow" as const, "deny" as const),
    mode: fc.constantFrom<Mode>("enforce", "monitor"),
    internal: fc.subarray(["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32", "127.0.0.0/8"]),
    phased: fc.boolean(),
  }),
);
const flowArb = fc.record(
  {
    protocol: fc.constantFrom<FlowProtocol>("tcp", "udp", "icmp"),
    port: fc.constantFrom(22, 53, 80, 443, 8000, 8100, 8101, 1024, 1025),
    ip: ipArb,
    names: fc.array(
      fc.tuple(nameArb, fc.boolean(), fc.boolean()).map(([n, up, dot]) => `${up ? n.toUpperCase() : n}${dot ? "." : ""}`),
      { maxLength: 2 },
    ),
    phase: fc.constantFrom("boot", "work"),
  },
  { requiredKeys: ["protocol"] },
);

void describe("decide agrees with the linear reference matcher (property)", () => {
  void it("on random policies and flows, decide, explainFlow and the reference give the same decision", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(policyArb, fc.array(flowArb, { minLength: 1, maxLength: 20 }), (ps, flows) => {
        const p = policy({
          rules: ps.rules,
          default: ps.default,
          mode: ps.mode,
          internal: ps.internal,
          ...(ps.phased ? { phases: PHASES } : {}),
        });
        const d = compileDecider(p);
        for (const f of flows) {
          const want = referenceDecide(p, f);
          seen.add(want.reason);
          if (!want.enforced) seen.add("unenforced");
          assert.deepEqual(d.decide(f), want);
          assert.deepEqual(d.explainFlow(f).decision, want);
        }
      }),
      { numRuns: 1500 },
    );
    // the generators must reach every branch, or the agreement above proves little
    for (const r of ["rule-allow", "rule-deny", "default-allow", "default-deny", "special-range", "phase-inactive", "unenforced"]) {
      assert.ok(seen.has(r), `random flows never produced ${r}`);
    }
  });

  void it("decideName grants agree with decide on every (protocol, port) for a name alone", () => {
    const ports = [1, 22, 53, 80, 443, 1024, 1025, 8000, 8100, 8101, 65535];
    fc.assert(
      fc.property(policyArb, nameArb, fc.option(fc.constantFrom("boot", "work"), { nil: undefined }), (ps, name, phase) => {
        const p = policy({ rules: ps.rules, default: ps.default, mode: ps.mode, internal: ps.internal, ...(ps.phased ? { phases: PHASES } : {}) });
        const d = compileDecider(p);
        const r = d.decideName(name, phase);
        const granted = (proto: FlowProtocol, port: number | undefined): boolean =>
          r.grants.some((x) => x.protocol === proto && (x.ports === null || (port !== undefined && x.ports.some((pr) => port >= pr.from && port <= pr.to))));
        for (const proto of ["tcp", "udp"] as const) {
          for (const port of ports) {
            const dec = d.decide({ protocol: proto, port, names: [name], ...(phase ? { phase } : {}) });
            assert.equal(granted(proto, port), dec.verdict === "allow", `${proto}/${port}: ${JSON.stringify(dec)}`);
          }
        }
        const icmp = d.decide({ protocol: "icmp", names: [name], ...(phase ? { phase } : {}) });
        assert.equal(granted("icmp", undefined), icmp.verdict === "allow");
        assert.equal(r.verdict === "allow", r.grants.length > 0);
      }),
      { numRuns: 800 },
    );
  });
});
