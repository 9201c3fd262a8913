/**
 * The kubernetes backend: NetworkPolicy objects validate against the Kubernetes schema
 * (kubernetes-models), the flattening of ordered allow/deny rules is exactly decide() for
 * address flows (a differential test with an evaluator of NetworkPolicy egress written
 * here), and what NetworkPolicy cannot say is refused with UnsupportedFeature.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parse } from "yaml";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { backend } from "../../../src/compile/kubernetes/index.ts";
import type { NpEgressRule } from "../../../src/compile/kubernetes/index.ts";
import { UnsupportedFeature } from "../../../src/compile/backend.ts";
import { CASES } from "../../../src/compile/conformance.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { parseCidr } from "../../../src/policy/addr.ts";
import type { Policy } from "../../../src/policy/ir.ts";
import type { IpAddr } from "../../../src/match/decision.ts";
import { allow, deny, policy, type RuleSpec } from "../match/ir-builder.ts";
import { forEachProbe, probeIp } from "./probes.ts";

interface NpObject {
  metadata: { name: string; namespace?: string; annotations: Record<string, string> };
  spec: { podSelector: { matchLabels?: Record<string, string> }; policyTypes: string[]; egress: NpEgressRule[] };
}

function compileNp(p: Policy, opts = {}): NpObject {
  const out = backend.compile(p, opts);
  return parse(out.text) as NpObject;
}

function cidrHas(text: string, ip: IpAddr): boolean {
  const c = parseCidr(text);
  assert.ok(c, `bad cidr in output: ${text}`);
  if (c.family !== ip.family) return false;
  const bits = BigInt((c.family === 4 ? 32 : 128) - c.prefix);
  return ip.value >> bits === c.addr >> bits;
}

/**
 * NetworkPolicy egress semantics for one flow, as the API documents them: allowed when some
 * egress rule has a matching port entry (or no ports: every protocol and port) and a peer
 * whose ipBlock contains the address and no `except` does. Pod/namespace selector peers
 * (the cluster DNS entry) never match an address flow here.
 */
function npAllows(obj: NpObject, proto: "tcp" | "udp" | "icmp", port: number | undefined, ip: IpAddr): boolean {
  return obj.spec.egress.some((rule) => {
    const portOk =
      rule.ports === undefined ||
      (proto !== "icmp" &&
        rule.ports.some((p) => p.protocol === proto.toUpperCase() && (p.port === undefined || (port !== undefined && port >= p.port && port <= (p.endPort ?? p.port)))));
    if (!portOk) return false;
    if (rule.to === undefined) return true;
    return rule.to.some((peer) => peer.ipBlock !== undefined && cidrHas(peer.ipBlock.cidr, ip) && !(peer.ipBlock.except ?? []).some((e) => cidrHas(e, ip)));
  });
}

void describe("kubernetes: schema", () => {
  for (const c of CASES) {
    void it(`the conformance case "${c.name}" validates as a NetworkPolicy (or is refused with a reason)`, () => {
      let obj: NpObject;
      try {
        obj = compileNp(c.policy, c.opts ?? {});
      } catch (e) {
        assert.ok(e instanceof UnsupportedFeature, String(e));
        assert.ok(e.fix.length > 0);
        return;
      }
      new NetworkPolicy(obj as unknown as ConstructorParameters<typeof NetworkPolicy>[0]).validate();
      assert.equal(obj.spec.policyTypes[0], "Egress");
    });
  }

  void it("a workload's namespace and pod labels select the pods", () => {
    const p = { ...policy({ rules: [allow("api", ["192.0.2.0/24"], { ports: [443], protocol: "tcp" })] }), workload: { kubernetes: { namespace: "agents", podLabels: { app: "openclaw" } } } };
    const obj = compileNp(p);
    new NetworkPolicy(obj as unknown as ConstructorParameters<typeof NetworkPolicy>[0]).validate();
    assert.equal(obj.metadata.namespace, "agents");
    assert.deepEqual(obj.spec.podSelector, { matchLabels: { app: "openclaw" } });
  });
});

void describe("kubernetes: what the output says", () => {
  void it("the first egress entry allows DNS to kube-dns in kube-system on UDP and TCP 53", () => {
    const obj = compileNp(policy({ rules: [] }));
    const dns = obj.spec.egress[0];
    assert.deepEqual(dns?.ports, [
      { protocol: "UDP", port: 53 },
      { protocol: "TCP", port: 53 },
    ]);
    assert.deepEqual(dns?.to?.[0]?.podSelector, { matchLabels: { "k8s-app": "kube-dns" } });
    assert.equal(obj.spec.egress.length, 1);
  });

  void it("any becomes the whole address space with the special-purpose ranges as except, internal ranges kept", () => {
    const obj = compileNp(policy({ internal: ["10.0.0.0/8"], rules: [allow("web", ["any"], { ports: [443], protocol: "tcp" })] }));
    const v4 = obj.spec.egress[1]?.to?.find((p) => p.ipBlock?.cidr === "0.0.0.0/0");
    assert.ok(v4?.ipBlock?.except);
    assert.ok(v4.ipBlock.except.includes("169.254.0.0/16"));
    assert.ok(v4.ipBlock.except.includes("192.168.0.0/16"));
    assert.ok(!v4.ipBlock.except.some((e) => e.startsWith("10.")));
  });

  void it("a port range becomes port and endPort", () => {
    const obj = compileNp(policy({ rules: [allow("r", ["192.0.2.0/24"], { ports: ["8000-8100"], protocol: "tcp" })] }));
    assert.deepEqual(obj.spec.egress[1]?.ports, [{ protocol: "TCP", port: 8000, endPort: 8100 }]);
  });

  void it("rule names survive in the annotations and the YAML comments", () => {
    const out = backend.compile(policy({ rules: [deny("block-one", ["192.0.2.9"]), allow("allow-net", ["192.0.2.0/24"], { ports: [443], protocol: "tcp" })] }), {});
    assert.match(out.text, /clawfence\.dev\/egress-rules: .*allow-net/);
    assert.match(out.text, /# tcp\/443 <- allow-net; except where denied by block-one/);
  });

  void it("a monitor-mode deny lets its traffic pass and says so in the notes", () => {
    const p = policy({ rules: [deny("staged", ["192.0.2.0/24"], { mode: "monitor" }), allow("other", ["198.51.100.0/24"], { ports: [443], protocol: "tcp" })] });
    const out = backend.compile(p, {});
    assert.ok(out.notes.some((n) => n.includes("'staged' is in monitor mode")));
    const obj = parse(out.text) as NpObject;
    assert.equal(npAllows(obj, "tcp", 22, probeIp("192.0.2.1")), true);
  });
});

void describe("kubernetes: refused with UnsupportedFeature", () => {
  const cases: Array<{ name: string; p: Policy; opts?: object; rule: string; fix: RegExp }> = [
    {
      name: "a domain in an allow rule points to the cilium target and --resolve",
      p: policy({ rules: [allow("api", ["api.example.com"], { ports: [443], protocol: "tcp" })] }),
      rule: "api",
      fix: /--target cilium.*--resolve/,
    },
    {
      name: "a wildcard in an allow rule cannot be pinned",
      p: policy({ rules: [allow("inference", ["*.inference.example.com"], { ports: [443], protocol: "tcp" })] }),
      rule: "inference",
      fix: /--target cilium/,
    },
    {
      name: "a name deny on some ports before an allow of any is refused (the name is answered and may resolve there)",
      p: policy({ rules: [deny("shadow", ["api.openai.com"], { ports: [443], protocol: "tcp" }), allow("web", ["any"])] }),
      rule: "shadow",
      fix: /--resolve/,
    },
    {
      name: "ICMP allowed to addresses not allowed on every port is refused",
      p: policy({ rules: [allow("ping", ["192.0.2.1"], { protocol: "icmp" })] }),
      rule: "ping",
      fix: /protocol: tcp/,
    },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      assert.throws(
        () => backend.compile(c.p, c.opts ?? {}),
        (e: unknown) => e instanceof UnsupportedFeature && e.target === "kubernetes" && e.rule === c.rule && c.fix.test(e.fix),
      );
    });
  }

  void it("a name deny on every port that nothing before it answers compiles: clawfence refuses the names, so flows are decided by address", () => {
    const obj = compileNp(policy({ rules: [deny("shadow", ["api.openai.com"]), allow("web", ["any"], { ports: [443], protocol: "tcp" })] }));
    assert.equal(obj.spec.egress.length, 2);
  });

  void it("a name deny that nothing later could contradict compiles (the default denies its addresses anyway)", () => {
    const obj = compileNp(policy({ rules: [deny("shadow", ["api.openai.com"]), allow("ctl", ["10.0.100.0/24"], { ports: [443], protocol: "tcp" })] }));
    assert.equal(obj.spec.egress.length, 2);
  });

  void it("a domain pinned with --resolve compiles to its public addresses only", () => {
    const obj = compileNp(policy({ rules: [allow("api", ["api.example.com"], { ports: [443], protocol: "tcp" })] }), {
      resolved: new Map([["api.example.com", ["93.184.216.34", "127.0.0.1"]]]),
    });
    assert.deepEqual(obj.spec.egress[1]?.to, [{ ipBlock: { cidr: "93.184.216.34/32" } }]);
  });
});

// ---------------------------------------------------------------- differential test

const POOL = [
  "any",
  "10.0.0.0/8",
  "10.1.0.0/16",
  "10.1.2.3",
  "192.0.2.0/24",
  "192.0.2.128/25",
  "93.184.216.0/24",
  "93.184.216.34",
  "169.254.169.254",
  "0.0.0.0/1",
  "2001:db8::/32",
  "2606:2800::/32",
  "2606:2800:220::/48",
  "fd00::/8",
] as const;
const PORTS = [22, 53, 80, 443, "1000-2000", "1500-3000", 8443] as const;
const PROBE_IPS = [
  "10.0.0.1",
  "10.1.2.3",
  "10.1.2.4",
  "10.200.0.1",
  "192.0.2.1",
  "192.0.2.200",
  "93.184.216.34",
  "93.184.216.35",
  "93.184.217.1",
  "169.254.169.254",
  "127.0.0.1",
  "8.8.8.8",
  "172.16.0.1",
  "200.1.2.3",
  "2001:db8::1",
  "2606:2800:220:1::1",
  "2606:2800:1::1",
  "2a00:1450::1",
  "fd00::1",
  "fe80::1",
];
const PROBE_PORTS = [22, 53, 80, 443, 999, 1000, 1499, 1500, 2000, 2001, 3000, 3001, 8443, 65535];

const ruleArb: fc.Arbitrary<RuleSpec> = fc
  .record({
    action: fc.constantFrom("allow", "deny"),
    dests: fc.uniqueArray(fc.constantFrom(...POOL), { minLength: 1, maxLength: 3 }),
    ports: fc.option(fc.uniqueArray(fc.constantFrom(...PORTS), { minLength: 1, maxLength: 2 }), { nil: undefined }),
    protocol: fc.constantFrom("tcp", "udp", "any", "any", "icmp"),
    monitor: fc.boolean(),
  })
  .map((r, i = 0) => ({
    name: `r${i}`,
    action: r.action as "allow" | "deny",
    dests: r.dests,
    ...(r.ports && r.protocol !== "icmp" ? { ports: r.ports } : {}),
    protocol: r.protocol as "tcp" | "udp" | "any" | "icmp",
    ...(r.monitor && r.action === "deny" ? { mode: "monitor" as const } : {}),
  }));

const policyArb = fc
  .record({
    rules: fc.array(ruleArb, { maxLength: 6 }),
    default: fc.constantFrom("allow", "deny"),
    internal: fc.constantFrom([], ["10.0.0.0/8"], ["fd00::/8", "169.254.169.254"]),
    mode: fc.constantFrom("enforce", "enforce", "monitor"),
  })
  .map((s) =>
    policy({
      default: s.default as "allow" | "deny",
      internal: s.internal,
      mode: s.mode as "enforce" | "monitor",
      rules: s.rules.map((r, i) => ({ ...r, name: `r${i}` })),
    }),
  );

void describe("kubernetes: flattening is exactly decide() for address flows", () => {
  void it("random ordered allow/deny policies give the same verdict as decide() for every probe flow", () => {
    let compiled = 0;
    let refused = 0;
    fc.assert(
      fc.property(policyArb, (p) => {
        let obj: NpObject;
        try {
          obj = compileNp(p);
        } catch (e) {
          // the only thing address-only random policies may hit: ICMP alone
          assert.ok(e instanceof UnsupportedFeature && /ICMP/.test(e.feature), String(e));
          refused++;
          return;
        }
        compiled++;
        forEachProbe(compileDecider(p), PROBE_IPS, PROBE_PORTS, ({ text, addr, proto, port, d }) => {
          const want = d.verdict === "allow" || !d.enforced;
          const got = npAllows(obj, proto, port, addr);
          assert.equal(got, want, `${proto}/${port ?? "-"} ${text}: decide says ${d.verdict} (${d.rule}, ${d.reason}, enforced ${d.enforced}); NetworkPolicy says ${got ? "allow" : "deny"}`);
        });
      }),
      { numRuns: 300, seed: 20261101 },
    );
    // the suite must actually compare something
    assert.ok(compiled > 150, `only ${compiled} of ${compiled + refused} random policies compiled`);
  });
});

void describe("addrset: blocks with except say the set exactly", () => {
  void it("for random unions and differences of networks, the blocks denote the same set and every except lies strictly inside its cidr", async () => {
    const { fromCidrs, fromBlocks, toBlocks, subtract, union, equals } = await import("../../../src/compile/common/addrset.ts");
    const net = fc.constantFrom("0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "192.0.2.0/24", "192.0.2.128/25", "::/0", "2001:db8::/32", "2001:db8:1::/48", "fd00::1");
    fc.assert(
      fc.property(fc.array(net, { maxLength: 4 }), fc.array(net, { maxLength: 4 }), (plus, minus) => {
        const toC = (xs: readonly string[]) => xs.map((x) => parseCidr(x)).filter((c) => c !== null);
        const set = subtract(union(fromCidrs(toC(plus)), fromCidrs([])), fromCidrs(toC(minus)));
        const blocks = toBlocks(set);
        assert.ok(equals(fromBlocks(blocks), set));
        for (const b of blocks) for (const e of b.except) assert.ok(e.family === b.cidr.family && e.prefix > b.cidr.prefix && cidrHas(b.cidr.text, { family: e.family, value: e.addr }));
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
