/**
 * The flow-space analysis behind CF5001-CF5004 is exact for the policy model: tables of
 * sentence-named cases over names, wildcard subtrees, CIDRs, `any` and special-purpose
 * ranges, ports, protocols and phases; and a differential property test against the real
 * decide() (match/decide.ts): a rule lint calls unreachable never decides a flow, and a rule
 * it calls reachable decides at least one flow of a universe chosen to hold a witness for
 * every generated entry.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { allow, deny, policy, type PolicySpec, type RuleSpec } from "../../match/ir-builder.ts";
import { analyze } from "../../../../src/lint/space.ts";
import { lintPolicy } from "../../../../src/lint/index.ts";
import { compileDecider } from "../../../../src/match/decide.ts";
import { parseIp } from "../../../../src/policy/addr.ts";
import type { Flow } from "../../../../src/match/decision.ts";

/** names of the rules the analysis finds unreachable */
function dead(spec: PolicySpec): string[] {
  return analyze(policy(spec)).rules.filter((r) => r.dead).map((r) => r.rule.name);
}

const TABLE: ReadonlyArray<{ name: string; spec: PolicySpec; dead: string[] }> = [
  { name: "a wildcard does not cover its apex", spec: { rules: [deny("w", ["*.example.com"]), allow("apex", ["example.com"])] }, dead: [] },
  { name: "a wildcard covers a name two labels below it", spec: { rules: [deny("w", ["*.example.com"]), allow("deep", ["a.b.example.com"])] }, dead: ["deep"] },
  { name: "exact names never cover a wildcard", spec: { rules: [deny("n", ["a.example.com", "b.example.com"]), allow("w", ["*.example.com"])] }, dead: [] },
  { name: "a /8 is covered by two /9s from different rules", spec: { rules: [deny("lo", ["20.0.0.0/9"]), allow("hi", ["20.128.0.0/9"]), allow("all", ["20.0.0.0/8"])] }, dead: ["all"] },
  { name: "a /8 is not covered by one /9", spec: { rules: [deny("lo", ["20.0.0.0/9"]), allow("all", ["20.0.0.0/8"])] }, dead: [] },
  { name: "`any` does not cover a literal private network", spec: { rules: [allow("any", ["any"]), deny("rfc1918", ["10.0.0.0/8"])] }, dead: [] },
  { name: "`any` covers a private network listed under internal", spec: { internal: ["10.0.0.0/8"], rules: [allow("any", ["any"]), deny("rfc1918", ["10.0.0.0/8"])] }, dead: ["rfc1918"] },
  { name: "`any` covers names and public networks", spec: { rules: [allow("any", ["any"]), deny("late", ["evil.example.com", "8.8.8.0/24", "2001:4860::/32"])] }, dead: [] },
  { name: "an IPv4 network after `any` still decides its IPv4-mapped IPv6 form", spec: { rules: [allow("any", ["any"]), deny("v4", ["8.8.8.0/24"])] }, dead: [] },
  { name: "an IPv4 network covers its IPv4-mapped IPv6 form", spec: { rules: [deny("v4", ["8.8.8.0/24"]), allow("mapped", ["::ffff:8.8.8.0/120"])] }, dead: ["mapped"] },
  { name: "`any` is covered only by `any` (names) and all reachable addresses", spec: { rules: [allow("nets", ["0.0.0.0/0", "::/0"]), deny("any", ["any"])] }, dead: [] },
  { name: "`any` after `any` never decides", spec: { rules: [allow("first", ["any"]), deny("second", ["any"])] }, dead: ["second"] },
  { name: "CIDRs never cover a name (a DNS question has no address)", spec: { rules: [deny("nets", ["0.0.0.0/0", "::/0"]), allow("name", ["example.com"])] }, dead: [] },
  { name: "ports: 443 is covered by an earlier 1-1000", spec: { rules: [deny("low", ["example.com"], { ports: ["1-1000"] }), allow("https", ["example.com"], { ports: [443] })] }, dead: ["https"] },
  { name: "ports: 1-1000 is not covered by 443", spec: { rules: [deny("https", ["example.com"], { ports: [443] }), allow("low", ["example.com"], { ports: ["1-1000"] })] }, dead: [] },
  { name: "ports: a union of ranges from two rules covers a range", spec: { rules: [deny("a", ["example.com"], { ports: ["1-500"] }), deny("b", ["example.com"], { ports: ["501-1000"] }), allow("c", ["example.com"], { ports: ["100-900"] })] }, dead: ["c"] },
  { name: "protocols: tcp and udp rules cover `any` with ports (ICMP has no port)", spec: { rules: [deny("t", ["example.com"], { protocol: "tcp" }), deny("u", ["example.com"], { protocol: "udp" }), allow("both", ["example.com"], { ports: [443] })] }, dead: ["both"] },
  { name: "protocols: tcp and udp rules do not cover `any` without ports (ICMP)", spec: { rules: [deny("t", ["example.com"], { protocol: "tcp" }), deny("u", ["example.com"], { protocol: "udp" }), allow("all", ["example.com"])] }, dead: [] },
  { name: "a rule with ports never covers ICMP", spec: { rules: [deny("p", ["example.com"], { ports: ["1-65535"] }), allow("icmp", ["example.com"], { protocol: "icmp" })] }, dead: [] },
  { name: "phases: a rule of every phase covers a bootstrap-only rule", spec: { phases: ["bootstrap", "workload"], rules: [deny("all", ["example.com"]), allow("boot", ["example.com"], { phases: ["bootstrap"] })] }, dead: ["boot"] },
  { name: "phases: a workload-only rule does not cover a bootstrap rule", spec: { phases: ["bootstrap", "workload"], rules: [deny("work", ["example.com"], { phases: ["workload"] }), allow("boot", ["example.com"], { phases: ["bootstrap"] })] }, dead: [] },
  { name: "phases: rules of each phase together cover a rule of every phase", spec: { phases: ["bootstrap", "workload"], rules: [deny("work", ["example.com"], { phases: ["workload"] }), deny("boot", ["example.com"], { phases: ["bootstrap"] }), allow("all", ["example.com"])] }, dead: ["all"] },
  { name: "a monitor-mode rule still decides first (would-deny)", spec: { rules: [deny("staged", ["example.com"], { mode: "monitor" }), allow("late", ["example.com"])] }, dead: ["late"] },
  { name: "an empty rule never decides", spec: { rules: [allow("empty", [])] }, dead: ["empty"] },
];

for (const c of TABLE) {
  void test(`shadowing: ${c.name}`, () => {
    assert.deepEqual(dead(c.spec), c.dead);
  });
}

void test("conflict: a deny written after an allow that covers it on 443 is reported as overridden there", () => {
  const p = policy({ rules: [allow("site", ["*.example.com"], { ports: [443], protocol: "tcp" }), deny("evil", ["evil.example.com"])] });
  const d = lintPolicy(p).filter((x) => x.code === "CF5002");
  assert.equal(d.length, 1);
  assert.match(d[0]?.message ?? "", /never applies to evil\.example\.com on tcp\/443: allow rule 'site'/);
});

void test("conflict: a port-level carve-out (deny 53 everywhere, then allow a host) is an info overlap, not an error", () => {
  const p = policy({ rules: [deny("dns", ["0.0.0.0/0"], { ports: [53] }), allow("host", ["20.1.2.0/24"], { ports: [53, 443], protocol: "tcp" })] });
  assert.deepEqual(
    lintPolicy(p).map((x) => x.code),
    ["CF5004"],
  );
});

// ---------------------------------------------------------------- differential vs decide()

const DESTS = [
  "any",
  "example.com",
  "a.example.com",
  "x.a.example.com",
  "example.net",
  "*.example.com",
  "*.a.example.com",
  "8.8.8.8",
  "8.8.8.0/24",
  "8.8.8.0/25",
  "8.8.8.128/25",
  "8.8.0.0/16",
  "10.0.0.0/8",
  "10.1.0.0/16",
  "2001:4860::/32",
  "::ffff:8.8.8.0/120",
  "0.0.0.0/0",
] as const;
const PORTS: ReadonlyArray<ReadonlyArray<number | string> | null> = [null, [443], [53], ["1-1000"], [80, 443]];

/** one witness in every region the generated entries can cut */
const NAMES = ["example.com", "a.example.com", "x.a.example.com", "z.example.com", "z.a.example.com", "example.net", "fresh.org"];
const IPS = ["127.0.0.1", "192.168.1.1", "169.254.169.254", "::1", "fd00::1", "8.8.8.8", "8.8.8.1", "8.8.8.200", "8.8.1.1", "10.0.0.1", "10.1.2.3", "2001:4860::1", "::ffff:8.8.8.1", "::ffff:8.8.8.200", "::ffff:8.8.8.8", "::ffff:8.8.1.1", "::ffff:10.0.0.1", "1.2.3.4", "2606:4700::1"];
const WITNESS_PORTS = [22, 53, 60, 80, 100, 443, 500, 5000];

function universe(phases: readonly string[]): Flow[] {
  const ip = (a: string): NonNullable<Flow["ip"]> => {
    const v = parseIp(a);
    if (!v) throw new Error(`bad test address ${a}`);
    return v;
  };
  const dests: Array<Pick<Flow, "ip" | "names">> = [
    ...NAMES.map((n) => ({ names: [n] })),
    ...IPS.map((a) => ({ ip: ip(a) })),
    ...NAMES.flatMap((n) => ["8.8.8.1", "10.0.0.1"].map((a) => ({ names: [n], ip: ip(a) }))),
  ];
  const out: Flow[] = [];
  for (const phase of phases.length > 0 ? phases : [undefined]) {
    for (const d of dests) {
      const base = { ...d, ...(phase ? { phase } : {}) };
      out.push({ ...base, protocol: "icmp" } as Flow);
      for (const protocol of ["tcp", "udp"] as const) for (const port of WITNESS_PORTS) out.push({ ...base, protocol, port } as Flow);
    }
  }
  return out;
}

const ruleArb = (i: number, withPhases: boolean): fc.Arbitrary<RuleSpec> =>
  fc
    .record({
      action: fc.constantFrom("allow" as const, "deny" as const),
      dests: fc.subarray([...DESTS], { minLength: 1, maxLength: 3 }),
      ports: fc.constantFrom(...PORTS),
      protocol: fc.constantFrom("tcp" as const, "udp" as const, "icmp" as const, "any" as const),
      phases: withPhases ? fc.constantFrom(null, ["a"], ["b"]) : fc.constant(null),
    })
    .map((r) => {
      const ports = r.protocol === "icmp" ? null : r.ports;
      return {
        name: `r${i}`,
        action: r.action,
        dests: r.dests,
        protocol: r.protocol,
        ...(ports ? { ports } : {}),
        ...(r.phases ? { phases: r.phases } : {}),
      };
    });

const policyArb: fc.Arbitrary<PolicySpec> = fc.boolean().chain((withPhases) =>
  fc.record({
    phases: fc.constant(withPhases ? ["a", "b"] : []),
    internal: fc.constantFrom([], ["10.0.0.0/8"]),
    rules: fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => ruleArb(i, withPhases)))),
  }),
);

void test("differential: unreachable rules never decide a flow, reachable rules decide one (against decide())", () => {
  fc.assert(
    fc.property(policyArb, (spec) => {
      const p = policy(spec);
      const space = analyze(p);
      const decider = compileDecider(p);
      const decidedBy = new Set<string>();
      for (const f of universe(p.phases)) decidedBy.add(decider.decide(f).rule);
      for (const r of space.rules) {
        if (r.dead) assert.ok(!decidedBy.has(r.rule.name), `${r.rule.name} is called unreachable but decides a flow`);
        else assert.ok(decidedBy.has(r.rule.name), `${r.rule.name} is called reachable but decides no flow of the universe`);
      }
    }),
    { numRuns: 300 },
  );
});
