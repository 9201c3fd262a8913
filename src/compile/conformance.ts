/**
 * compile/conformance — the one suite every backend runs (hono's router suite, STYLE.md 8).
 *
 * Map: CASES is a list of (sentence name, IR policy, options, declared gaps). For each case
 * a backend either compiles — and then its output must be deterministic, leave the policy
 * untouched and name every rule (rule names survive into every target: comments, counters,
 * log prefixes, resource names; a rule the target leaves out is still named in the text or
 * in the notes) — or throws `UnsupportedFeature` naming a rule of the policy. A throw must be
 * declared in the case's `unsupported` table with the reason, and a declared gap that
 * compiles fails too, so the tables stay honest. `runConformance` returns the problems;
 * the test (test/unit/compile/conformance.test.ts) runs it for every registered backend.
 *
 * Also exports `irPolicy`, the tiny IR builder the cases (and the compiler tests) use, so
 * cases read like policies. Pure: no I/O.
 */
import type { Action, Dest, Fqdn, Mode, Policy, PortRange, Protocol, Rule, SourcePos, Upstream } from "../policy/ir.ts";
import { parseCidr, parseIp } from "../policy/addr.ts";
import { UnsupportedFeature, type Backend, type CompileOptions, type TargetName } from "./backend.ts";

export interface RuleSpec {
  readonly name: string;
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
  /** 443 or "8000-8100" */
  readonly ports?: readonly (string | number)[];
  readonly protocol?: Protocol;
  readonly phase?: readonly string[];
  readonly mode?: Mode;
}

export interface PolicySpec {
  readonly name?: string;
  readonly mode?: Mode;
  readonly default?: Action;
  readonly internal?: readonly string[];
  /** "10.0.0.2", "10.0.0.3:5353", "[2001:db8::53]:53"; null = system resolvers; default ["10.0.0.2"] */
  readonly upstreams?: readonly string[] | null;
  readonly phases?: readonly string[];
  readonly rules: readonly RuleSpec[];
}

const POS: SourcePos = { file: "conformance.yaml", line: 1, column: 1 };

function dest(text: string): Dest {
  const origin = { via: "literal" } as const;
  if (text === "any") return { kind: "any", origin, pos: POS };
  if (text.startsWith("*.")) return { kind: "wildcard", suffix: text.slice(2) as Fqdn, origin, pos: POS };
  if (/^[0-9.]+(\/\d+)?$/.test(text) || text.includes(":")) {
    const c = parseCidr(text);
    if (!c) throw new Error(`irPolicy: bad CIDR ${text}`);
    return { kind: "cidr", cidr: c, origin, pos: POS };
  }
  return { kind: "domain", name: text.toLowerCase() as Fqdn, origin, pos: POS };
}

function portRanges(spec: readonly (string | number)[] | undefined): PortRange[] | null {
  if (spec === undefined) return null;
  return spec
    .map((p) => {
      const [a, b] = String(p).split("-");
      return { from: Number(a), to: Number(b ?? a) };
    })
    .sort((x, y) => x.from - y.from);
}

function upstream(text: string): Upstream {
  const m = /^\[(.+)\]:(\d+)$/.exec(text) ?? /^([0-9.]+):(\d+)$/.exec(text);
  const addr = m ? (m[1] ?? "") : text;
  const ip = parseIp(addr);
  if (!ip) throw new Error(`irPolicy: bad upstream ${text}`);
  return { address: addr, family: ip.family, port: m ? Number(m[2]) : 53 };
}

/** Build normalized IR from a compact spec (tests and conformance cases only; no validation beyond parsing). */
export function irPolicy(spec: PolicySpec): Policy {
  const mode = spec.mode ?? "enforce";
  const rules: Rule[] = spec.rules.map((r, order) => ({
    name: r.name,
    action: r.allow ? "allow" : "deny",
    priority: 100,
    order,
    dests: (r.allow ?? r.deny ?? []).map(dest),
    ports: portRanges(r.ports),
    protocol: r.protocol ?? "any",
    phases: r.phase ?? null,
    mode: r.mode ?? mode,
    modeOverride: r.mode !== undefined,
    pos: POS,
  }));
  return {
    version: 1,
    name: spec.name ?? "conformance",
    mode,
    default: spec.default ?? "deny",
    vars: {},
    workload: {},
    dns: {
      upstreams: spec.upstreams === undefined ? [upstream("10.0.0.2")] : spec.upstreams === null ? null : spec.upstreams.map(upstream),
      minTtl: 5,
    },
    internal: (spec.internal ?? []).map((c) => {
      const x = parseCidr(c);
      if (!x) throw new Error(`irPolicy: bad internal ${c}`);
      return x;
    }),
    phases: spec.phases ?? [],
    groups: {},
    rules,
    sources: ["conformance.yaml"],
    hash: "c0f0".repeat(16),
  };
}

export interface ConformanceCase {
  /** a sentence: what the case shows */
  readonly name: string;
  readonly policy: Policy;
  readonly opts?: CompileOptions;
  /** backends that must throw UnsupportedFeature for this case, with why */
  readonly unsupported?: Partial<Record<TargetName, string>>;
}

const NAMES_NEED_DNS = "matches addresses only; names need --resolve (or the nftables DNS guard)";
const HOSTS_NEED_RESOLVE = "a hosts file pins names to addresses: needs --resolve";

export const CASES: readonly ConformanceCase[] = [
  {
    name: "an allow rule with networks of both families and two ports",
    policy: irPolicy({ rules: [{ name: "allow-platform", allow: ["203.0.113.0/24", "2001:db8:1::/48", "192.0.2.7"], ports: [443, 8443], protocol: "tcp" }] }),
  },
  {
    name: "a deny before an allow of an overlapping network keeps first-match order",
    policy: irPolicy({
      rules: [
        { name: "deny-one-host", deny: ["203.0.113.9"] },
        { name: "allow-net", allow: ["203.0.113.0/24"], ports: ["1-65535"], protocol: "tcp" },
      ],
    }),
  },
  {
    name: "port ranges and single ports mix for udp",
    policy: irPolicy({ rules: [{ name: "udp-ranges", allow: ["198.51.100.0/24"], ports: [53, "3478-3481", "10000-20000"], protocol: "udp" }] }),
  },
  {
    name: "protocol any with ports means tcp and udp on those ports",
    policy: irPolicy({ rules: [{ name: "quic-and-https", allow: ["192.0.2.0/24"], ports: [443] }] }),
  },
  {
    name: "an icmp-only rule",
    policy: irPolicy({ rules: [{ name: "ping-gw", allow: ["192.0.2.1", "2001:db8::1"], protocol: "icmp" }] }),
    unsupported: {
      kubernetes: "NetworkPolicy has no ICMP: an egress rule without ports would open every port",
      cilium: "CiliumNetworkPolicy ICMP rules are not emitted: an egress rule without ports would open every port",
    },
  },
  {
    name: "any never reaches special-purpose ranges except the internal ones",
    policy: irPolicy({ internal: ["10.0.0.0/8"], rules: [{ name: "web-anywhere", allow: ["any"], ports: [80, 443], protocol: "tcp" }] }),
  },
  {
    name: "a deny of any with no ports covers every protocol",
    policy: irPolicy({ default: "allow", rules: [{ name: "block-all-public", deny: ["any"] }] }),
  },
  {
    name: "exact domain names",
    policy: irPolicy({ rules: [{ name: "allow-api", allow: ["api.example.com", "registry.example.org"], ports: [443], protocol: "tcp" }] }),
    unsupported: {
      iptables: NAMES_NEED_DNS,
      ip6tables: NAMES_NEED_DNS,
      hosts: HOSTS_NEED_RESOLVE,
      pf: "pf cannot follow DNS: names need --resolve",
      kubernetes: "NetworkPolicy has no names: use --target cilium, or --resolve",
    },
  },
  {
    name: "wildcard names",
    policy: irPolicy({ rules: [{ name: "allow-inference", allow: ["*.inference.example.com"], ports: [443], protocol: "tcp" }] }),
    unsupported: {
      iptables: NAMES_NEED_DNS,
      ip6tables: NAMES_NEED_DNS,
      pf: "pf cannot follow DNS: wildcards cannot be pinned",
      kubernetes: "NetworkPolicy has no names: use --target cilium",
    },
  },
  {
    name: "names pinned with --resolve, special-purpose answers skipped",
    policy: irPolicy({
      rules: [
        { name: "deny-shadow", deny: ["shadow.example.net"] },
        { name: "allow-api", allow: ["api.example.com"], ports: [443], protocol: "tcp" },
      ],
    }),
    opts: {
      resolved: new Map([
        ["api.example.com", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "127.0.0.1"]],
        ["shadow.example.net", ["93.184.216.99"]],
      ]),
    },
  },
  {
    name: "a policy in monitor mode logs and accepts what it would deny",
    policy: irPolicy({ mode: "monitor", rules: [{ name: "allow-platform", allow: ["203.0.113.0/24"], ports: [443], protocol: "tcp" }] }),
  },
  {
    name: "a per-rule monitor override on a deny",
    policy: irPolicy({
      rules: [
        { name: "staged-deny", deny: ["198.51.100.0/24"], mode: "monitor" },
        { name: "allow-all-tcp", allow: ["198.51.100.0/24"], protocol: "tcp" },
      ],
    }),
  },
  {
    name: "a rule of a later phase is left out of the first phase",
    policy: irPolicy({
      phases: ["bootstrap", "workload"],
      rules: [
        { name: "attestation", allow: ["192.0.2.10"], ports: [443], protocol: "tcp", phase: ["bootstrap"] },
        { name: "workload-api", allow: ["192.0.2.20"], ports: [443], protocol: "tcp", phase: ["workload"] },
      ],
    }),
  },
  {
    name: "compiling the second phase",
    policy: irPolicy({
      phases: ["bootstrap", "workload"],
      rules: [
        { name: "attestation", allow: ["192.0.2.10"], ports: [443], protocol: "tcp", phase: ["bootstrap"] },
        { name: "workload-api", allow: ["192.0.2.20"], ports: [443], protocol: "tcp", phase: ["workload"] },
      ],
    }),
    opts: { phase: "workload" },
  },
  {
    name: "default allow with a deny list",
    policy: irPolicy({ default: "allow", rules: [{ name: "deny-metadata", deny: ["169.254.169.254", "fd00:ec2::254"] }] }),
  },
  {
    name: "a policy without rules denies everything",
    policy: irPolicy({ rules: [] }),
  },
  {
    name: "system resolvers (dns.upstreams null) and IPv6 upstreams",
    policy: irPolicy({ upstreams: null, rules: [{ name: "allow-v6-only", allow: ["2001:db8:5::/64"], ports: [22], protocol: "tcp" }] }),
  },
  {
    name: "rule names with dots, underscores and a leading digit survive",
    policy: irPolicy({
      upstreams: ["10.0.0.2", "10.0.0.3:5353", "[2001:db8::53]:53"],
      rules: [
        { name: "0day_block.v2", deny: ["192.0.2.66"] },
        { name: "allow.internal_api", allow: ["10.1.0.0/16"], ports: [8080] },
      ],
    }),
  },
];

export interface ConformanceResult {
  readonly case: string;
  readonly outcome: "compiled" | "unsupported";
  /** what is wrong; empty when the case passed */
  readonly problems: readonly string[];
}

function runCase(backend: Backend, c: ConformanceCase): ConformanceResult {
  const problems: string[] = [];
  const declared = c.unsupported?.[backend.name];
  const opts = c.opts ?? {};
  const before = JSON.stringify(c.policy, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  let outcome: ConformanceResult["outcome"] = "compiled";
  try {
    const out = backend.compile(c.policy, opts);
    if (declared) problems.push(`declared unsupported (${declared}) but compiled`);
    const again = backend.compile(c.policy, opts);
    if (again.text !== out.text) problems.push("output differs between two compiles of the same policy");
    if (out.text.length === 0) problems.push("empty output");
    const all = `${out.text}\n${out.notes.join("\n")}`;
    for (const r of c.policy.rules) if (!all.includes(r.name)) problems.push(`rule '${r.name}' is named nowhere in the output or notes`);
  } catch (e) {
    if (!(e instanceof UnsupportedFeature)) throw e;
    outcome = "unsupported";
    if (!declared) problems.push(`threw UnsupportedFeature for rule '${e.rule}' (${e.feature}) but the case does not declare it`);
    if (e.target !== backend.name) problems.push(`UnsupportedFeature names target '${e.target}', not '${backend.name}'`);
    if (!c.policy.rules.some((r) => r.name === e.rule)) problems.push(`UnsupportedFeature names rule '${e.rule}', which is not in the policy`);
    if (!e.fix) problems.push("UnsupportedFeature without a fix");
  }
  const after = JSON.stringify(c.policy, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  if (before !== after) problems.push("the backend changed the policy it was given");
  return { case: c.name, outcome, problems };
}

/** Run every case against one backend. */
export function runConformance(backend: Backend, cases: readonly ConformanceCase[] = CASES): ConformanceResult[] {
  return cases.map((c) => runCase(backend, c));
}
