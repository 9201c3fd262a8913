/**
 * The cilium backend. No maintained npm package ships the CiliumNetworkPolicy CRD schema
 * (kubernetes-models has no Cilium models), so the objects are checked by a STRUCTURAL test
 * written here from the CRD's field list (cilium.io/v2, as generated from the CRD): allowed
 * keys, one L3 selector per rule, toFQDNs alone, except inside cidr, port and name patterns,
 * at most 40 ports per PortRule. Not a schema validation: a real API server may still
 * refuse something this does not know. Then a differential test against decide(): an
 * evaluator of Cilium's allow-unless-denied semantics, for address flows and for flows
 * known by a name.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parse } from "yaml";
import { backend, fqdnSelector, type CnpEgress } from "../../../src/compile/cilium/index.ts";
import { UnsupportedFeature } from "../../../src/compile/backend.ts";
import { CASES } from "../../../src/compile/conformance.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { parseCidr } from "../../../src/policy/addr.ts";
import type { Policy } from "../../../src/policy/ir.ts";
import type { IpAddr } from "../../../src/match/decision.ts";
import { allow, deny, policy, type RuleSpec } from "../match/ir-builder.ts";
import { forEachProbe, probeIp } from "./probes.ts";

interface CnpObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { endpointSelector: object; egress?: CnpEgress[]; egressDeny?: CnpEgress[]; description?: string };
}

const NAME_RE = /^([-a-zA-Z0-9_]+[.]?)+$/;
const PATTERN_RE = /^([-a-zA-Z0-9_*]+[.]?)+$/;
const PORT_RE = /^(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})$/;
const ENTITIES = ["all", "world", "cluster", "host", "init", "ingress", "unmanaged", "remote-node", "health", "none", "kube-apiserver"];
const L3 = ["toCIDR", "toCIDRSet", "toEndpoints", "toEntities", "toFQDNs", "toServices", "toGroups", "toNodes"];

/** Structural problems of a CiliumNetworkPolicy (empty: none found). */
function structural(obj: CnpObject): string[] {
  const p: string[] = [];
  if (obj.apiVersion !== "cilium.io/v2") p.push(`apiVersion ${obj.apiVersion}`);
  if (obj.kind !== "CiliumNetworkPolicy") p.push(`kind ${obj.kind}`);
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(obj.metadata.name)) p.push(`metadata.name ${obj.metadata.name}`);
  if (typeof obj.spec.endpointSelector !== "object") p.push("spec.endpointSelector missing");
  if (!obj.spec.egress && !obj.spec.egressDeny) p.push("spec has neither egress nor egressDeny");
  const rule = (r: CnpEgress, where: string, isDeny: boolean): void => {
    const keys = Object.keys(r);
    const allowed = isDeny ? ["toCIDRSet", "toEndpoints", "toEntities", "toPorts"] : ["toCIDRSet", "toFQDNs", "toEndpoints", "toEntities", "toPorts"];
    for (const k of keys) if (!allowed.includes(k)) p.push(`${where}: unexpected key ${k}`);
    if (keys.filter((k) => L3.includes(k)).length > 1) p.push(`${where}: more than one L3 selector`);
    for (const c of r.toCIDRSet ?? []) {
      const cidr = parseCidr(c.cidr);
      if (!cidr) {
        p.push(`${where}: bad cidr ${c.cidr}`);
        continue;
      }
      for (const e of c.except ?? []) {
        const ex = parseCidr(e);
        if (!ex || ex.family !== cidr.family || ex.prefix <= cidr.prefix || ex.addr >> BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix) !== cidr.addr >> BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix)) {
          p.push(`${where}: except ${e} is not inside ${c.cidr}`);
        }
      }
    }
    for (const f of r.toFQDNs ?? []) {
      const ks = Object.keys(f);
      if (ks.length !== 1) p.push(`${where}: toFQDNs entry needs exactly one of matchName/matchPattern`);
      if ("matchName" in f && !NAME_RE.test(f.matchName)) p.push(`${where}: matchName ${f.matchName}`);
      if ("matchPattern" in f && !PATTERN_RE.test(f.matchPattern)) p.push(`${where}: matchPattern ${f.matchPattern}`);
    }
    for (const e of r.toEntities ?? []) if (!ENTITIES.includes(e)) p.push(`${where}: entity ${e}`);
    for (const pr of r.toPorts ?? []) {
      if (pr.ports.length > 40) p.push(`${where}: more than 40 ports in one PortRule`);
      for (const port of pr.ports) {
        if (!PORT_RE.test(port.port)) p.push(`${where}: port ${port.port}`);
        if (!["TCP", "UDP", "SCTP", "ANY"].includes(port.protocol)) p.push(`${where}: protocol ${port.protocol}`);
        if (port.endPort !== undefined && (!Number.isInteger(port.endPort) || port.endPort < Number(port.port) || port.endPort > 65535)) p.push(`${where}: endPort ${port.endPort}`);
      }
      if (pr.rules) {
        if (isDeny) p.push(`${where}: L7 rules in a deny`);
        for (const d of pr.rules.dns) {
          if ("matchName" in d && !NAME_RE.test(d.matchName)) p.push(`${where}: dns matchName ${d.matchName}`);
          if ("matchPattern" in d && !PATTERN_RE.test(d.matchPattern)) p.push(`${where}: dns matchPattern ${d.matchPattern}`);
        }
      }
    }
  };
  (obj.spec.egress ?? []).forEach((r, i) => rule(r, `egress[${i}]`, false));
  (obj.spec.egressDeny ?? []).forEach((r, i) => rule(r, `egressDeny[${i}]`, true));
  return p;
}

function compileCnp(p: Policy, opts = {}): CnpObject {
  return parse(backend.compile(p, opts).text) as CnpObject;
}

// ---------------------------------------------------------------- evaluator

function cidrHas(text: string, ip: IpAddr): boolean {
  const c = parseCidr(text);
  assert.ok(c, text);
  if (c.family !== ip.family) return false;
  const bits = BigInt((c.family === 4 ? 32 : 128) - c.prefix);
  return ip.value >> bits === c.addr >> bits;
}

function selectorMatches(sel: { matchName: string } | { matchPattern: string }, name: string): boolean {
  if ("matchName" in sel) return sel.matchName === name;
  if (sel.matchPattern === "*") return true;
  assert.ok(sel.matchPattern.startsWith("**."), `evaluator knows only '*' and '**.x', got ${sel.matchPattern}`);
  return name.endsWith(sel.matchPattern.slice(2));
}

function portsMatch(r: CnpEgress, proto: "tcp" | "udp" | "icmp", port: number | undefined): boolean {
  if (r.toPorts === undefined) return true;
  if (proto === "icmp" || port === undefined) return false;
  return r.toPorts.some((pr) => pr.ports.some((x) => x.protocol === proto.toUpperCase() && port >= Number(x.port) && port <= (x.endPort ?? Number(x.port))));
}

function peerMatches(r: CnpEgress, ip: IpAddr, name: string | undefined): boolean {
  if (r.toEntities?.includes("all")) return true;
  if (r.toCIDRSet?.some((c) => cidrHas(c.cidr, ip) && !(c.except ?? []).some((e) => cidrHas(e, ip)))) return true;
  if (name !== undefined && r.toFQDNs?.some((s) => selectorMatches(s, name))) return true;
  return false;
}

/** Cilium: allowed when an egress rule allows and no egressDeny matches. */
function cnpAllows(obj: CnpObject, proto: "tcp" | "udp" | "icmp", port: number | undefined, ip: IpAddr, name?: string): boolean {
  const ok = (obj.spec.egress ?? []).some((r) => portsMatch(r, proto, port) && peerMatches(r, ip, name));
  const denied = (obj.spec.egressDeny ?? []).some((r) => portsMatch(r, proto, port) && peerMatches(r, ip, undefined));
  return ok && !denied;
}

/** Would Cilium's DNS proxy answer this name (the DNS rule's dns list)? */
function cnpAnswers(obj: CnpObject, name: string): boolean {
  const dns = (obj.spec.egress ?? []).find((r) => r.toEndpoints !== undefined);
  return dns?.toPorts?.[0]?.rules?.dns.some((s) => selectorMatches(s, name)) ?? false;
}

void describe("cilium: structure", () => {
  for (const c of CASES) {
    void it(`the conformance case "${c.name}" is a well-formed CiliumNetworkPolicy (or is refused with a reason)`, () => {
      let obj: CnpObject;
      try {
        obj = compileCnp(c.policy, c.opts ?? {});
      } catch (e) {
        assert.ok(e instanceof UnsupportedFeature, String(e));
        assert.ok(e.fix.length > 0);
        return;
      }
      assert.deepEqual(structural(obj), []);
    });
  }

  void it("the structural check itself finds a broken object", () => {
    const bad = { apiVersion: "cilium.io/v2", kind: "CiliumNetworkPolicy", metadata: { name: "x" }, spec: { endpointSelector: {}, egress: [{ toFQDNs: [{ matchName: "a b" }], toCIDRSet: [{ cidr: "10.0.0.0/8", except: ["11.0.0.0/8"] }] }] } };
    assert.equal(structural(bad as CnpObject).length, 3);
  });
});

void describe("cilium: what the output says", () => {
  void it("a wildcard becomes **. (any depth, Cilium 1.19+) and an exact name matchName", () => {
    assert.deepEqual(fqdnSelector("*.githubusercontent.com"), { matchPattern: "**.githubusercontent.com" });
    assert.deepEqual(fqdnSelector("github.com"), { matchName: "github.com" });
    const out = backend.compile(policy({ rules: [allow("core", ["github.com", "*.githubusercontent.com"], { ports: [443], protocol: "tcp" })] }), {});
    assert.ok(out.notes.some((n) => n.includes("1.19")));
  });

  void it("the DNS rule goes to kube-dns on port 53 and answers exactly the allowed names", () => {
    const obj = compileCnp(policy({ rules: [deny("shadow", ["api.openai.com"]), allow("core", ["github.com", "*.example.org"], { ports: [443], protocol: "tcp" })] }));
    const dns = obj.spec.egress?.[0];
    assert.deepEqual(dns?.toEndpoints, [{ matchLabels: { "k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns" } }]);
    assert.deepEqual(dns?.toPorts?.[0]?.ports, [
      { port: "53", protocol: "UDP" },
      { port: "53", protocol: "TCP" },
    ]);
    assert.deepEqual(dns?.toPorts?.[0]?.rules?.dns, [{ matchName: "github.com" }, { matchPattern: "**.example.org" }]);
  });

  void it("a rule allowing any answers every name: matchPattern *", () => {
    const obj = compileCnp(policy({ rules: [allow("web", ["any"], { ports: [443], protocol: "tcp" })] }));
    assert.deepEqual(obj.spec.egress?.[0]?.toPorts?.[0]?.rules?.dns, [{ matchPattern: "*" }]);
  });

  void it("a deny before an overlapping allow is an egressDeny of the deny's addresses", () => {
    const obj = compileCnp(policy({ rules: [deny("one", ["192.0.2.9"]), allow("net", ["192.0.2.0/24"], { ports: [443], protocol: "tcp" })] }));
    assert.deepEqual(obj.spec.egressDeny?.[0]?.toCIDRSet, [{ cidr: "192.0.2.9/32" }]);
  });

  void it("an allow before an overlapping deny wins: the deny leaves those addresses out (except)", () => {
    const obj = compileCnp(policy({ rules: [allow("one", ["192.0.2.9"], { ports: [443], protocol: "tcp" }), deny("net", ["192.0.2.0/24"], { ports: [443], protocol: "tcp" })] }));
    const cidrs = obj.spec.egressDeny?.flatMap((d) => d.toCIDRSet ?? []) ?? [];
    assert.ok(cidrs.every((c) => !cidrHas(c.cidr, probeIp("192.0.2.9")) || (c.except ?? []).some((e) => cidrHas(e, probeIp("192.0.2.9")))));
    assert.equal(cnpAllows(obj, "tcp", 443, probeIp("192.0.2.9")), true);
    assert.equal(cnpAllows(obj, "tcp", 443, probeIp("192.0.2.10")), false);
  });

  void it("special-purpose ranges are denied where names are allowed (a name cannot be rebound to metadata)", () => {
    const obj = compileCnp(policy({ rules: [allow("core", ["github.com"], { ports: [443], protocol: "tcp" })] }));
    assert.equal(cnpAllows(obj, "tcp", 443, probeIp("169.254.169.254"), "github.com"), false);
    assert.equal(cnpAllows(obj, "tcp", 443, probeIp("140.82.112.3"), "github.com"), true);
  });
});

void describe("cilium: refused with UnsupportedFeature", () => {
  const cases: Array<{ name: string; p: Policy; rule: string }> = [
    {
      name: "an allow by name before an address deny it overlaps (Cilium's deny would win)",
      p: policy({ rules: [allow("core", ["github.com"], { ports: [443], protocol: "tcp" }), deny("block", ["140.82.112.0/20"])] }),
      rule: "block",
    },
    {
      name: "a name deny on some ports before an allow of any",
      p: policy({ rules: [deny("shadow", ["api.openai.com"], { ports: [443], protocol: "tcp" }), allow("web", ["any"])] }),
      rule: "shadow",
    },
    {
      name: "a name deny before an allow of an overlapping wildcard",
      p: policy({ rules: [deny("shadow", ["api.openai.com"]), allow("ai", ["*.openai.com"], { ports: [443], protocol: "tcp" })] }),
      rule: "shadow",
    },
    {
      name: "an ICMP-only allow (Cilium matches ICMP by type)",
      p: policy({ rules: [allow("ping", ["192.0.2.1"], { protocol: "icmp" })] }),
      rule: "ping",
    },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      assert.throws(
        () => backend.compile(c.p, {}),
        (e: unknown) => e instanceof UnsupportedFeature && e.target === "cilium" && e.rule === c.rule && e.fix.length > 0,
      );
    });
  }

  void it("a name deny on every port that nothing before it answers compiles, even before an allow of any", () => {
    const obj = compileCnp(policy({ rules: [deny("shadow", ["api.openai.com"]), allow("web", ["any"], { ports: [443], protocol: "tcp" })] }));
    assert.deepEqual(structural(obj), []);
  });
});

// ---------------------------------------------------------------- differential test

const POOL = ["any", "10.0.0.0/8", "10.1.2.3", "192.0.2.0/24", "93.184.216.0/24", "93.184.216.34", "169.254.169.254", "2606:2800::/32", "fd00::/8", "a.example.com", "b.example.com", "*.example.com", "*.x.example.org"] as const;
const PORTS = [53, 443, "1000-2000", 8443] as const;
const PROBE_IPS = ["10.0.0.1", "10.1.2.3", "192.0.2.1", "93.184.216.34", "93.184.216.35", "169.254.169.254", "8.8.8.8", "127.0.0.1", "2606:2800::1", "2a00:1450::1", "fd00::1"];
const PROBE_PORTS = [53, 80, 443, 999, 1000, 1500, 2000, 2001, 8443];
const PROBE_NAMES = ["a.example.com", "b.example.com", "c.example.com", "deep.c.example.com", "y.x.example.org", "other.net"];

const ruleArb: fc.Arbitrary<Omit<RuleSpec, "name">> = fc
  .record({
    action: fc.constantFrom("allow", "deny"),
    dests: fc.uniqueArray(fc.constantFrom(...POOL), { minLength: 1, maxLength: 3 }),
    ports: fc.option(fc.uniqueArray(fc.constantFrom(...PORTS), { minLength: 1, maxLength: 2 }), { nil: undefined }),
    protocol: fc.constantFrom("tcp", "udp", "any", "any"),
    monitor: fc.boolean(),
  })
  .map((r) => ({
    action: r.action as "allow" | "deny",
    dests: r.dests,
    ...(r.ports ? { ports: r.ports } : {}),
    protocol: r.protocol as "tcp" | "udp" | "any",
    ...(r.monitor && r.action === "deny" ? { mode: "monitor" as const } : {}),
  }));

const policyArb = fc
  .record({
    rules: fc.array(ruleArb, { maxLength: 5 }),
    default: fc.constantFrom("allow", "deny", "deny"),
    internal: fc.constantFrom([], ["10.0.0.0/8"]),
  })
  .map((s) => policy({ default: s.default as "allow" | "deny", internal: s.internal, rules: s.rules.map((r, i) => ({ ...r, name: `r${i}` })) }));

void describe("cilium: allow-unless-denied is exactly decide() where it compiles", () => {
  void it("random policies with names and addresses give decide()'s verdict for address flows and name flows", () => {
    let compiled = 0;
    let total = 0;
    fc.assert(
      fc.property(policyArb, (p) => {
        total++;
        let obj: CnpObject;
        try {
          obj = compileCnp(p);
        } catch (e) {
          assert.ok(e instanceof UnsupportedFeature, String(e));
          return;
        }
        compiled++;
        assert.deepEqual(structural(obj), []);
        const decider = compileDecider(p);
        forEachProbe(decider, PROBE_IPS, PROBE_PORTS, ({ text, addr, proto, port, flow: base, d }) => {
          const want = d.verdict === "allow" || !d.enforced;
          assert.equal(cnpAllows(obj, proto, port, addr), want, `${proto}/${port ?? "-"} ${text}: decide ${d.verdict} (${d.rule})`);
          for (const name of PROBE_NAMES) {
            // a flow carries a name only if the resolver answered it: clawfence's for
            // decide(), Cilium's DNS proxy for Cilium
            const dn = decider.decideName(name);
            const cfKnows = dn.grants.length > 0 || dn.monitored.length > 0;
            const dd = cfKnows ? decider.decide({ ...base, names: [name] }) : d;
            const wantN = dd.verdict === "allow" || !dd.enforced;
            const got = cnpAllows(obj, proto, port, addr, cnpAnswers(obj, name) ? name : undefined);
            assert.equal(got, wantN, `${proto}/${port ?? "-"} ${text} as ${name}: decide ${dd.verdict} (${dd.rule}, ${dd.reason}); cilium ${got ? "allow" : "deny"}`);
          }
        });
      }),
      { numRuns: 250, seed: 20261102 },
    );
    assert.ok(compiled > total / 3, `only ${compiled} of ${total} random policies compiled`);
  });
});
