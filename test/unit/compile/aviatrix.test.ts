/**
 * The aviatrix backend. Terraform and an Aviatrix controller cannot run here, so: every
 * argument written is one the provider documents (the lists below are taken from
 * AviatrixSystems/terraform-provider-aviatrix docs/resources/*.md), references point to
 * declared resources, and a model of DCF's ordered evaluation (lowest priority first, first
 * match decides, `watch` lets a DENY pass) gives decide()'s verdict and rule for random
 * address policies. The model is written from the provider docs, not from a controller.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { backend, type DcfPolicy } from "../../../src/compile/aviatrix/index.ts";
import { UnsupportedFeature } from "../../../src/compile/backend.ts";
import { CASES } from "../../../src/compile/conformance.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { parseCidr } from "../../../src/policy/addr.ts";
import type { Policy } from "../../../src/policy/ir.ts";
import type { IpAddr } from "../../../src/match/decision.ts";
import { allow, deny, policy } from "../match/ir-builder.ts";
import { addressPolicyArb, ADDRESS_PROBE_PORTS, forEachProbe } from "./probes.ts";

/** documented arguments (docs/resources/<type>.md), plus Terraform JSON's "//" comment key */
const ARGS = {
  smartGroup: ["name", "selector"],
  smartExpr: ["cidr", "fqdn", "site", "type", "res_id", "account_id", "account_name", "name", "region", "zone", "k8s_cluster_id", "k8s_namespace", "k8s_service", "k8s_pod", "s2c", "external", "ext_args", "tags"],
  webGroup: ["name", "selector"],
  webExpr: ["snifilter", "urlfilter"],
  policyList: ["policies"],
  policy: ["//", "name", "action", "priority", "protocol", "src_smart_groups", "dst_smart_groups", "web_groups", "flow_app_requirement", "decrypt_policy", "exclude_sg_orchestration", "port_ranges", "watch", "logging"],
  portRange: ["lo", "hi"],
  defaultAction: ["action", "logging"],
};

interface Group {
  name: string;
  selector: { match_expressions: Array<Record<string, unknown>> };
}
interface TfDoc {
  variable: Record<string, { type: string; default?: string }>;
  resource: {
    aviatrix_smart_group: Record<string, Group>;
    aviatrix_web_group?: Record<string, Group>;
    aviatrix_distributed_firewalling_policy_list: Record<string, { policies: DcfPolicy[] }>;
    aviatrix_distributed_firewalling_default_action_rule: Record<string, { action: string; logging: boolean }>;
  };
}

function compileTf(p: Policy, opts = {}): TfDoc {
  return JSON.parse(backend.compile(p, opts).text) as TfDoc;
}

function problems(doc: TfDoc): string[] {
  const out: string[] = [];
  const keys = (o: object, allowed: readonly string[], where: string): void => {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) out.push(`${where}: undocumented argument ${k}`);
  };
  const groups = doc.resource.aviatrix_smart_group;
  const webs = doc.resource.aviatrix_web_group ?? {};
  for (const [l, g] of Object.entries(groups)) {
    keys(g, ARGS.smartGroup, l);
    if (g.selector.match_expressions.length === 0) out.push(`${l}: empty match_expressions`);
    for (const e of g.selector.match_expressions) {
      keys(e, ARGS.smartExpr, l);
      if ("cidr" in e && Object.keys(e).length !== 1) out.push(`${l}: cidr combined with other filters`);
      if ("cidr" in e && !parseCidr(String(e["cidr"]))) out.push(`${l}: bad cidr ${String(e["cidr"])}`);
    }
  }
  for (const [l, g] of Object.entries(webs)) {
    keys(g, ARGS.webGroup, l);
    for (const e of g.selector.match_expressions) keys(e, ARGS.webExpr, l);
  }
  const refOk = (r: string): boolean => {
    const m = /^\$\{(aviatrix_smart_group|aviatrix_web_group)\.([^.]+)\.uuid\}$/.exec(r);
    if (m) return m[1] === "aviatrix_smart_group" ? (m[2] ?? "") in groups : (m[2] ?? "") in webs;
    const v = /^\$\{var\.([a-z_]+)\}$/.exec(r);
    return v !== null && (v[1] ?? "") in doc.variable;
  };
  for (const list of Object.values(doc.resource.aviatrix_distributed_firewalling_policy_list)) {
    keys(list, ARGS.policyList, "policy_list");
    let last = -1;
    for (const p of list.policies) {
      keys(p, ARGS.policy, p.name);
      if (!["PERMIT", "DENY"].includes(p.action)) out.push(`${p.name}: action ${p.action}`);
      if (!["TCP", "UDP", "ICMP", "ANY"].includes(p.protocol)) out.push(`${p.name}: protocol ${p.protocol}`);
      if (p.port_ranges && p.protocol === "ICMP") out.push(`${p.name}: port_ranges with ICMP`);
      for (const r of p.port_ranges ?? []) keys(r, ARGS.portRange, p.name);
      if (p.priority <= last) out.push(`${p.name}: priority ${p.priority} not after ${last}`);
      last = p.priority;
      for (const r of [...p.src_smart_groups, ...p.dst_smart_groups, ...(p.web_groups ?? [])]) if (!refOk(r)) out.push(`${p.name}: dangling reference ${r}`);
    }
  }
  for (const d of Object.values(doc.resource.aviatrix_distributed_firewalling_default_action_rule)) keys(d, ARGS.defaultAction, "default_action_rule");
  return out;
}

// ---------------------------------------------------------------- a model of DCF evaluation

function groupHas(doc: TfDoc, ref: string, ip: IpAddr): boolean {
  if (ref === "${var.anywhere_smart_group_uuid}") return true;
  const m = /^\$\{aviatrix_smart_group\.([^.]+)\.uuid\}$/.exec(ref);
  assert.ok(m, ref);
  const g = doc.resource.aviatrix_smart_group[m[1] ?? ""];
  assert.ok(g, ref);
  return g.selector.match_expressions.some((e) => {
    const c = parseCidr(String(e["cidr"]));
    if (!c || c.family !== ip.family) return false;
    const shift = BigInt((c.family === 4 ? 32 : 128) - c.prefix);
    return ip.value >> shift === c.addr >> shift;
  });
}

/** First matching policy by priority; a flow without SNI never matches a WebGroup policy. */
function dcf(doc: TfDoc, proto: "tcp" | "udp" | "icmp", port: number | undefined, ip: IpAddr): { pass: boolean; name: string } {
  const list = Object.values(doc.resource.aviatrix_distributed_firewalling_policy_list)[0]?.policies ?? [];
  for (const p of [...list].sort((a, b) => a.priority - b.priority)) {
    if (p.protocol !== "ANY" && p.protocol !== proto.toUpperCase()) continue;
    if (p.port_ranges && (port === undefined || !p.port_ranges.some((r) => port >= r.lo && port <= (r.hi ?? r.lo)))) continue;
    if (p.web_groups) continue;
    if (!p.dst_smart_groups.some((r) => groupHas(doc, r, ip))) continue;
    return { pass: p.action === "PERMIT" || p.watch, name: p.name };
  }
  const d = Object.values(doc.resource.aviatrix_distributed_firewalling_default_action_rule)[0];
  return { pass: d?.action === "PERMIT", name: "(default action)" };
}

void describe("aviatrix: provider arguments", () => {
  for (const c of CASES) {
    void it(`the conformance case "${c.name}" uses only documented arguments and declared references`, () => {
      let doc: TfDoc;
      try {
        doc = compileTf(c.policy, c.opts ?? {});
      } catch (e) {
        assert.ok(e instanceof UnsupportedFeature, String(e));
        return;
      }
      assert.deepEqual(problems(doc), []);
    });
  }
});

void describe("aviatrix: what the Terraform says", () => {
  const p = {
    ...policy({
      rules: [
        deny("shadow-model-deny", ["api.openai.com", "*.anthropic.com"]),
        allow("allow-vpc-dns", ["10.0.0.2"], { ports: [53] }),
        deny("deny-dns-exfil", ["any"], { ports: [53], mode: "monitor" }),
        allow("allow-core", ["github.com"], { ports: [443], protocol: "tcp" }),
      ],
    }),
    workload: { aviatrix: { tags: { Role: "openclaw-agent-harness" } } },
  };
  const doc = compileTf(p);
  const policies = doc.resource.aviatrix_distributed_firewalling_policy_list["cf"]?.policies ?? [];

  void it("the workload SmartGroup selects VMs by CSP tag", () => {
    assert.deepEqual(doc.resource.aviatrix_smart_group["cf_workload"]?.selector.match_expressions, [{ type: "vm", tags: { Role: "openclaw-agent-harness" } }]);
  });
  void it("names become a WebGroup of SNI filters, wildcards kept as *.x", () => {
    assert.deepEqual(doc.resource.aviatrix_web_group?.["cf_0_shadow-model-deny"]?.selector.match_expressions, [{ snifilter: "api.openai.com" }, { snifilter: "*.anthropic.com" }]);
  });
  void it("policies keep the rule order as increasing priorities and start with the rule name", () => {
    assert.deepEqual(
      policies.map((x) => [x.name, x.priority]),
      [
        ["shadow-model-deny", 10],
        ["allow-vpc-dns-tcp", 20],
        ["allow-vpc-dns-udp", 21],
        ["deny-dns-exfil-tcp", 30],
        ["deny-dns-exfil-udp", 31],
        ["allow-core", 40],
        ["default", 50],
      ],
    );
  });
  void it("a monitor-mode deny is DENY with watch = true, and every policy logs", () => {
    const x = policies.find((q) => q.name === "deny-dns-exfil-udp");
    assert.equal(x?.action, "DENY");
    assert.equal(x?.watch, true);
    assert.ok(policies.every((q) => q.logging));
  });
  void it("the default action rule is DENY with logging", () => {
    assert.deepEqual(doc.resource.aviatrix_distributed_firewalling_default_action_rule["cf"], { action: "DENY", logging: true });
  });
  void it("without workload tags the source SmartGroup is a variable", () => {
    const d2 = compileTf(policy({ rules: [] }));
    assert.ok("workload_smart_group_uuid" in d2.variable);
  });
  void it("a name deny on UDP that a later allow could contradict is refused (no SNI on UDP)", () => {
    assert.throws(
      () => backend.compile(policy({ rules: [deny("shadow", ["api.openai.com"], { protocol: "udp" }), allow("dns", ["any"], { ports: [53], protocol: "udp" })] }), {}),
      (e: unknown) => e instanceof UnsupportedFeature && e.target === "aviatrix" && e.rule === "shadow",
    );
  });
});

const PROBE_IPS = ["10.0.0.1", "10.1.2.3", "192.0.2.1", "93.184.216.34", "93.184.216.35", "169.254.169.254", "8.8.8.8", "2606:2800::1", "2a00:1450::1", "fd00::1"];
const policyArb = addressPolicyArb([[], ["10.0.0.0/8"]]);

void describe("aviatrix: ordered DCF evaluation is decide()", () => {
  void it("random address policies: the first matching DCF policy gives decide()'s verdict and rule", () => {
    fc.assert(
      fc.property(policyArb, (p) => {
        const doc = compileTf(p);
        assert.deepEqual(problems(doc), []);
        forEachProbe(compileDecider(p), PROBE_IPS, ADDRESS_PROBE_PORTS, ({ text, addr, proto, port, d }) => {
          const got = dcf(doc, proto, port, addr);
          assert.equal(got.pass, d.verdict === "allow" || !d.enforced, `${proto}/${port ?? "-"} ${text}: decide ${d.verdict} by ${d.rule}; DCF ${got.pass ? "PERMIT" : "DENY"} by ${got.name}`);
          assert.ok(got.name === d.rule || got.name.startsWith(`${d.rule}-`), `${proto}/${port ?? "-"} ${text}: DCF policy ${got.name} for rule ${d.rule}`);
        });
      }),
      { numRuns: 200, seed: 20261104 },
    );
  });
});
