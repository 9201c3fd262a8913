/**
 * compile/common/plan — the backend-neutral reading of a policy that every backend shares
 * (nftables, iptables/ip6tables and hosts directly; pf, kubernetes, cilium and aviatrix through
 * common/slots.ts): which rules are active in the phase, each
 * rule's addresses per family (literal CIDRs + `--resolve` pins, special-purpose answers
 * skipped), which names stay dynamic, the (protocol, ports) services, and the special-purpose
 * ranges minus `internal` as merged intervals.
 *
 * Map: Policy + CompileOptions -> Plan -> (each backend renders text). Pure: no I/O, no clock;
 * imports policy/, match/ and compile/backend.ts only, never a backend folder.
 */
import type { Cidr, Policy, PortRange, Rule } from "../../policy/ir.ts";
import type { CompileOptions } from "../backend.ts";
import { familyBits, formatIp, makeCidr, parseIp } from "../../policy/addr.ts";
import { SPECIAL_RANGES, compileSpecialCheck } from "../../match/special.ts";

export interface Pin {
  readonly name: string;
  /** canonical addresses that were pinned */
  readonly addrs: readonly string[];
  /** resolved addresses left out because they are special-purpose outside `internal` */
  readonly skipped: readonly string[];
}

export interface Service {
  readonly proto: "tcp" | "udp" | "icmp";
  /** null: all ports (and always null for icmp) */
  readonly ports: readonly PortRange[] | null;
}

export interface RulePlan {
  readonly rule: Rule;
  /** false when the rule belongs to other phases only */
  readonly active: boolean;
  /** literal CIDRs and pinned addresses, per family, merged and sorted */
  readonly v4: readonly Cidr[];
  readonly v6: readonly Cidr[];
  /** the rule has an `any` entry */
  readonly any: boolean;
  readonly pins: readonly Pin[];
  /** domain / wildcard entries not pinned (text as written: `a.example`, `*.example`) */
  readonly dynamicNames: readonly string[];
  /** names asked to be pinned (`--resolve` given) that had no answer */
  readonly unresolved: readonly string[];
  /** (protocol, ports) combinations this rule matches, among the ones decide() knows */
  readonly services: readonly Service[];
  /** true for a deny rule with protocol any and no ports: it matches every IP protocol */
  readonly allProtocols: boolean;
}

export interface Plan {
  readonly policy: Policy;
  readonly phase: string | null;
  readonly rules: readonly RulePlan[];
  /** special-purpose ranges minus `internal`, as inclusive [first, last] intervals */
  readonly special4: readonly Interval[];
  readonly special6: readonly Interval[];
}

export type Interval = readonly [bigint, bigint];

export function servicesOf(rule: Pick<Rule, "protocol" | "ports">): Service[] {
  switch (rule.protocol) {
    case "tcp":
      return [{ proto: "tcp", ports: rule.ports }];
    case "udp":
      return [{ proto: "udp", ports: rule.ports }];
    case "icmp":
      // decide(): a rule with ports never matches ICMP (the schema refuses icmp + ports anyway)
      return rule.ports === null ? [{ proto: "icmp", ports: null }] : [];
    case "any":
      return rule.ports === null
        ? [
            { proto: "tcp", ports: null },
            { proto: "udp", ports: null },
            { proto: "icmp", ports: null },
          ]
        : [
            { proto: "tcp", ports: rule.ports },
            { proto: "udp", ports: rule.ports },
          ];
    default: {
      const never: never = rule.protocol;
      throw new Error(`unhandled protocol ${String(never)}`);
    }
  }
}

/** The phase a compile is for: `opts.phase`, else the policy's first phase, else null (no phases). */
export function phaseOf(policy: Policy, opts: CompileOptions): string | null {
  return opts.phase ?? policy.phases[0] ?? null;
}

export function ruleActive(rule: Rule, phase: string | null): boolean {
  return rule.phases === null || phase === null || rule.phases.includes(phase);
}

// ---------------------------------------------------------------- intervals

function cidrInterval(c: Cidr): Interval {
  const host = (1n << BigInt(familyBits(c.family) - c.prefix)) - 1n;
  return [c.addr, c.addr | host];
}

/** Sort and merge overlapping or adjacent intervals. */
export function mergeIntervals(xs: readonly Interval[]): Interval[] {
  const s = [...xs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Array<[bigint, bigint]> = [];
  for (const [a, b] of s) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1n) {
      if (b > last[1]) last[1] = b;
    } else out.push([a, b]);
  }
  return out;
}

/** `xs` minus `ys` (both merged). */
export function subtractIntervals(xs: readonly Interval[], ys: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const [a0, b] of xs) {
    let a = a0;
    for (const [c, d] of ys) {
      if (d < a || c > b) continue;
      if (c > a) out.push([a, c - 1n]);
      a = d + 1n;
      if (a > b) break;
    }
    if (a <= b) out.push([a, b]);
  }
  return out;
}

/** The fewest CIDRs covering exactly [first, last]. */
export function intervalToCidrs(family: 4 | 6, iv: Interval): Cidr[] {
  const bits = familyBits(family);
  const out: Cidr[] = [];
  let [a, b] = iv;
  while (a <= b) {
    let size = 0;
    while (size < bits) {
      const next = size + 1;
      const mask = (1n << BigInt(next)) - 1n;
      if ((a & mask) !== 0n || a + mask > b) break;
      size = next;
    }
    out.push(makeCidr(family, a, bits - size));
    a += 1n << BigInt(size);
  }
  return out;
}

/** Merge CIDRs of one family into the fewest covering CIDRs (sorted). */
export function mergeCidrs(family: 4 | 6, cidrs: readonly Cidr[]): Cidr[] {
  return mergeIntervals(cidrs.map(cidrInterval)).flatMap((iv) => intervalToCidrs(family, iv));
}

export function intervalsToCidrs(family: 4 | 6, ivs: readonly Interval[]): Cidr[] {
  return ivs.flatMap((iv) => intervalToCidrs(family, iv));
}

const MAPPED = 0xffffn << 32n;
const NAT64 = 0x64ff9bn << 96n;

/**
 * Special-purpose ranges minus `internal`. For IPv6, an internal IPv4 range also excludes
 * its IPv4-mapped and NAT64 images (match/special.ts: those reach the embedded host).
 */
export function specialMinusInternal(family: 4 | 6, internal: readonly Cidr[]): Interval[] {
  const special = mergeIntervals(SPECIAL_RANGES.filter((e) => e.cidr.family === family).map((e) => cidrInterval(e.cidr)));
  const holes: Interval[] = internal.filter((c) => c.family === family).map(cidrInterval);
  if (family === 6) {
    for (const c of internal) {
      if (c.family !== 4) continue;
      const [a, b] = cidrInterval(c);
      holes.push([MAPPED | a, MAPPED | b], [NAT64 | a, NAT64 | b]);
    }
  }
  return subtractIntervals(special, mergeIntervals(holes));
}

// ---------------------------------------------------------------- the plan

export function buildPlan(policy: Policy, opts: CompileOptions): Plan {
  const phase = phaseOf(policy, opts);
  const special = compileSpecialCheck(policy.internal);
  const rules = policy.rules.map((rule): RulePlan => {
    const v4: Cidr[] = [];
    const v6: Cidr[] = [];
    const pins: Pin[] = [];
    const dynamicNames: string[] = [];
    const unresolved: string[] = [];
    let any = false;
    for (const d of rule.dests) {
      switch (d.kind) {
        case "any":
          any = true;
          break;
        case "cidr":
          (d.cidr.family === 4 ? v4 : v6).push(d.cidr);
          break;
        case "wildcard":
          dynamicNames.push(`*.${d.suffix}`);
          break;
        case "domain": {
          const answer = opts.resolved?.get(d.name);
          if (opts.resolved === undefined) {
            dynamicNames.push(d.name);
            break;
          }
          if (answer === undefined || answer.length === 0) {
            unresolved.push(d.name);
            break;
          }
          const addrs: string[] = [];
          const skipped: string[] = [];
          for (const text of answer) {
            const ip = parseIp(text);
            if (!ip) continue;
            const canon = formatIp(ip);
            if (special(ip)) {
              skipped.push(canon);
              continue;
            }
            addrs.push(canon);
            (ip.family === 4 ? v4 : v6).push(makeCidr(ip.family, ip.value, familyBits(ip.family)));
          }
          pins.push({ name: d.name, addrs, skipped });
          break;
        }
        default: {
          const never: never = d;
          throw new Error(`unhandled destination ${JSON.stringify(never)}`);
        }
      }
    }
    return {
      rule,
      active: ruleActive(rule, phase),
      v4: mergeCidrs(4, v4),
      v6: mergeCidrs(6, v6),
      any,
      pins,
      dynamicNames: [...new Set(dynamicNames)],
      unresolved: [...new Set(unresolved)],
      services: servicesOf(rule),
      allProtocols: rule.action === "deny" && rule.protocol === "any" && rule.ports === null,
    };
  });
  return {
    policy,
    phase,
    rules,
    special4: specialMinusInternal(4, policy.internal),
    special6: specialMinusInternal(6, policy.internal),
  };
}

/** Notes every Linux backend adds about pins. */
export function pinNotes(plan: Plan): string[] {
  const notes: string[] = [];
  for (const r of plan.rules) {
    for (const p of r.pins) {
      if (p.skipped.length) {
        notes.push(`rule '${r.rule.name}': ${p.name} resolved to special-purpose ${p.skipped.join(", ")} (not under internal): not pinned`);
      }
    }
    for (const n of r.unresolved) notes.push(`rule '${r.rule.name}': ${n} did not resolve: nothing pinned for it`);
  }
  return notes;
}

