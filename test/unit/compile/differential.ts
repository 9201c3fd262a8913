/**
 * test/unit/compile/differential — the policy and the generated flows the kernel
 * differential tests share (test/integration/nft-differential.test.ts and
 * iptables-differential.test.ts): several rules with deny-before-allow, port ranges,
 * protocols, `any` with `internal`, monitor mode and (nftables only) names filled into the
 * dynamic sets the way the DNS guard does. The expected outcome of each flow is
 * `decide()`'s: it passes when the verdict is allow or the deny is not enforced.
 * ICMP flows are not generated: this image has no ping and node has no raw sockets.
 */
import type { Policy } from "../../../src/policy/ir.ts";
import { parseIp } from "../../../src/policy/addr.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { irPolicy, type RuleSpec } from "../../../src/compile/conformance.ts";
import { FAR_V4, FAR_V6, prng, type Flow } from "./netns-harness.ts";

/** names the nftables variant resolves, and to what (the far side's addresses) */
export const NAMES: Readonly<Record<string, readonly string[]>> = {
  "api.svc.test": ["198.51.100.5", "2001:db8::5"],
  "watch.svc.test": ["198.51.100.6", "2001:db8::6"],
};

export const PORTS = [12, 22, 80, 443, 5000, 5500, 6000, 6001, 8000, 8050, 8100, 8101, 9000, 10000, 25000, 40000, 40001];

const STATIC_RULES: readonly RuleSpec[] = [
  { name: "deny-one-host", deny: ["198.51.100.3", "2001:db8::3"] },
  { name: "staged-deny", deny: ["198.51.100.4"], ports: ["8000-8100"], mode: "monitor" },
  { name: "ssh-internal", allow: ["198.51.100.0/24", "2001:db8::/64"], ports: [22], protocol: "tcp" },
  { name: "web-anywhere", allow: ["any"], ports: [80, 443, "8000-8100"] },
  { name: "udp-range", allow: ["203.0.113.7"], ports: ["5000-6000"], protocol: "udp" },
  { name: "deny-udp-v6", deny: ["2001:db8::/64"], protocol: "udp" },
  { name: "high-ports", allow: ["198.51.100.0/24", "2001:db8::/64", "203.0.113.8"], ports: ["10000-40000"], protocol: "tcp" },
];

const NAME_RULES: readonly RuleSpec[] = [
  { name: "api-by-name", allow: ["api.svc.test"], ports: [443, 9000], protocol: "tcp" },
  { name: "watch-by-name", deny: ["watch.svc.test"], mode: "monitor" },
];

export function differentialPolicy(withNames: boolean): Policy {
  return irPolicy({ name: "differential", internal: ["198.51.100.0/24"], rules: withNames ? [...STATIC_RULES, ...NAME_RULES] : STATIC_RULES });
}

export interface ExpectedFlow extends Flow {
  readonly names: readonly string[];
  readonly pass: boolean;
  readonly rule: string;
}

export function generateFlows(policy: Policy, count: number, seed: number, withNames: boolean): ExpectedFlow[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const nameOf = new Map<string, string>();
  if (withNames) for (const [n, ips] of Object.entries(NAMES)) for (const ip of ips) nameOf.set(ip, n);
  const decider = compileDecider(policy);
  const addrs = [...FAR_V4, ...FAR_V6];
  const out: ExpectedFlow[] = [];
  for (let id = 1; id <= count; id++) {
    const ip = pick(addrs);
    const proto = rnd() < 0.5 ? "tcp" : "udp";
    const port = pick(PORTS);
    const name = nameOf.get(ip);
    const names = name ? [name] : [];
    const parsed = parseIp(ip);
    if (!parsed) throw new Error(`bad address ${ip}`);
    const d = decider.decide({ protocol: proto, port, ip: parsed, names });
    out.push({ id, proto, ip, port, names, pass: d.verdict === "allow" || !d.enforced, rule: d.rule });
  }
  return out;
}

/** Flows whose kernel outcome differs from decide(), as readable lines. */
export function mismatches(flows: readonly ExpectedFlow[], arrived: ReadonlySet<number>): string[] {
  return flows
    .filter((f) => f.pass !== arrived.has(f.id))
    .map((f) => `#${f.id} ${f.proto} ${f.ip}:${f.port}${f.names.length ? ` (${f.names.join(",")})` : ""}: decide says ${f.pass ? "pass" : "block"} by '${f.rule}', kernel ${arrived.has(f.id) ? "passed" : "blocked"}`);
}
