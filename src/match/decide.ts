/**
 * match/decide — the one decision function: which rule decides a flow, and why.
 *
 * Map: `compileDecider(policy)` builds, once per policy load, a name index (exact names and
 * wildcard suffixes, match/names.ts), a CIDR forest per family (match/cidrset.ts), the list
 * of `any` rules, and per-rule protocol/port/phase tables. A flow collects candidate rules
 * from those indexes (each list sorted by rule order), and the lowest-order candidate whose
 * protocol, ports and phase fit decides. The resolver, proxy, explain, verify and the
 * compilers' differential tests all call this; nothing else re-implements the semantics.
 *
 * Semantics (PRODUCT.md sections 3 and 4):
 *  - first match by `rule.order`; a rule matches when one of its entries matches, its
 *    protocol fits, its ports contain the flow's port (a rule with ports never matches a flow
 *    without a port, nor ICMP), and it is active in the flow's phase (absent: the first phase);
 *  - `any`, domain and wildcard entries never match a flow whose address is special-purpose
 *    outside `internal` (match/special.ts); CIDR entries match what they say. An IPv4-mapped
 *    IPv6 address (::ffff:a.b.c.d) is the IPv4 host on the wire, so IPv4 CIDR entries match it
 *    too (an IPv4 deny cannot be dodged by writing the mapped form);
 *  - nothing matched: `phase-inactive` if a rule of another phase would have matched, else
 *    `special-range` if the default is deny and the address is special, else the default;
 *  - monitor: a deny by a rule whose effective mode is monitor, or a default deny under a
 *    monitor policy, has `enforced: false`; allows are always enforced.
 * Names in flows should be normalized; decide() lowercases and drops a trailing dot itself
 * (cheap), but does not convert IDNs (callers pass A-labels).
 *
 * Pure: no I/O, no clock. The decider is immutable after compile.
 */
import type { Cidr, Dest, FlowProtocol, Policy, PortRange, Rule } from "../policy/ir.ts";
import { formatIp, ipInCidr, unmapV4 } from "../policy/addr.ts";
import type { Decision, Flow, IpAddr, Reason } from "./decision.ts";
import { buildCidrSet, type CidrSet } from "./cidrset.ts";
import { buildNameIndex, normalizeName, wildcardMatches, type NameIndex } from "./names.ts";
import { ALL_PORTS, flattenPorts, formatPorts, intersectPorts, isAllPorts, portInFlat, portInRanges, subtractPorts } from "./ports.ts";
import { classifySpecial, compileSpecialCheck, maybeSpecial4, maybeSpecial6 } from "./special.ts";
import { formatPos } from "../policy/errors.ts";

export const DEFAULT_RULE = "default";


/** One (protocol, ports) slice a name may use, and the rule that grants it. */
export interface NameGrant {
  readonly rule: string;
  /** the rule's order, or `policy.rules.length` for the default */
  readonly order: number;
  readonly protocol: FlowProtocol;
  /** null: every port (always null for ICMP) */
  readonly ports: readonly PortRange[] | null;
}

/**
 * A decision for a name (or a name at one address) over the whole (protocol x port) space.
 * `grants`: the exact slices whose first matching rule is an allow (what the DNS guard opens
 * for the answer addresses). `monitored`: the slices denied only in monitor mode (would-deny:
 * traffic passes and is logged). The name is answerable iff grants or monitored is non-empty,
 * which is also when the Decision is an allow or an unenforced deny.
 */
export type NameDecision = Decision & {
  readonly grants: readonly NameGrant[];
  readonly monitored: readonly NameGrant[];
};

export interface Considered {
  readonly rule: string;
  readonly matched: boolean;
  readonly why: string;
}

export interface Explanation {
  readonly decision: Decision;
  /** the deciding rule; absent when the default decided */
  readonly rule?: Rule;
  /** every rule looked at, in order, up to and including the deciding one */
  readonly considered: readonly Considered[];
  /** the special-purpose range of the flow's address, when it is special outside `internal` */
  readonly special?: { readonly range: string; readonly name: string };
}

export interface Decider {
  readonly policy: Policy;
  decide(flow: Flow): Decision;
  /** For DNS questions: the name alone, address unknown (only name/wildcard/any entries apply). */
  decideName(name: string, phase?: string): NameDecision;
  /**
   * For one DNS answer address of `name` (or an address alone when name is undefined): the
   * slices the firewall may open for this address. Unlike decideName, CIDR entries apply,
   * and name/any entries do not when the address is special-purpose outside `internal`
   * (DNS rebinding to loopback, metadata or private ranges opens nothing).
   */
  decideAddress(name: string | undefined, ip: IpAddr, phase?: string): NameDecision;
  /** The linear walk behind a decision, for `clawfence explain`; agrees with decide(). */
  explainFlow(flow: Flow): Explanation;
  /** special-purpose and not covered by `internal` */
  isSpecial(ip: IpAddr): boolean;
}

const PROTO_BIT: Readonly<Record<FlowProtocol, number>> = { tcp: 1, udp: 2, icmp: 4 };
const FLOW_PROTOCOLS: readonly FlowProtocol[] = ["tcp", "udp", "icmp"];

function protoMask(r: Rule): number {
  switch (r.protocol) {
    case "any":
      return 7;
    case "tcp":
    case "udp":
    case "icmp":
      return PROTO_BIT[r.protocol];
    default: {
      const never: never = r.protocol;
      throw new Error(`unknown protocol ${String(never)}`);
    }
  }
}

function ruleDecision(r: Rule): Decision {
  switch (r.action) {
    case "allow":
      return Object.freeze({ verdict: "allow", enforced: true, rule: r.name, reason: "rule-allow" });
    case "deny":
      return Object.freeze({ verdict: "deny", enforced: r.mode === "enforce", rule: r.name, reason: "rule-deny" });
    default: {
      const never: never = r.action;
      throw new Error(`unknown action ${String(never)}`);
    }
  }
}

/** The decision when no rule matched; `reason` is one of the no-match reasons. */
function fallbackDecision(policy: Policy, reason: Extract<Reason, "default-allow" | "default-deny" | "special-range" | "phase-inactive">): Decision {
  switch (policy.default) {
    case "allow":
      return Object.freeze({ verdict: "allow", enforced: true, rule: DEFAULT_RULE, reason });
    case "deny":
      return Object.freeze({ verdict: "deny", enforced: policy.mode === "enforce", rule: DEFAULT_RULE, reason });
    default: {
      const never: never = policy.default;
      throw new Error(`unknown default ${String(never)}`);
    }
  }
}

export function describeDest(d: Dest): string {
  let what: string;
  switch (d.kind) {
    case "any":
      what = "any";
      break;
    case "domain":
      what = d.name;
      break;
    case "wildcard":
      what = `*.${d.suffix}`;
      break;
    case "cidr":
      what = d.cidr.text;
      break;
    default: {
      const never: never = d;
      throw new Error(`unknown dest ${String(never)}`);
    }
  }
  const o = d.origin;
  switch (o.via) {
    case "literal":
      return `'${what}'`;
    case "group":
      return `'${what}' (group:${o.group})`;
    case "catalog":
      return `'${what}' (catalog:${o.catalog}@${o.version})`;
    default: {
      const never: never = o;
      throw new Error(`unknown origin ${String(never)}`);
    }
  }
}

export function compileDecider(policy: Policy): Decider {
  const rules = policy.rules;
  const n = rules.length;
  const NONE = n;
  const mask = new Uint8Array(n);
  const portsFlat: Array<Int32Array | null> = [];
  const decisions: Decision[] = [];
  const anyOrders: number[] = [];
  const exactPairs: Array<{ name: string; order: number }> = [];
  const wildPairs: Array<{ suffix: string; order: number }> = [];
  const cidrPairs: Array<{ cidr: Cidr; order: number }> = [];
  let anyPhased = false;
  rules.forEach((r, i) => {
    if (r.order !== i) throw new Error(`policy IR: rules[${i}].order is ${r.order}`);
    mask[i] = protoMask(r);
    portsFlat.push(r.ports === null ? null : flattenPorts(r.ports));
    decisions.push(ruleDecision(r));
    if (r.phases !== null) anyPhased = true;
    for (const d of r.dests) {
      switch (d.kind) {
        case "any":
          anyOrders.push(i);
          break;
        case "domain":
          exactPairs.push({ name: d.name, order: i });
          break;
        case "wildcard":
          wildPairs.push({ suffix: d.suffix, order: i });
          break;
        case "cidr":
          cidrPairs.push({ cidr: d.cidr, order: i });
          break;
        default: {
          const never: never = d;
          throw new Error(`unknown dest ${String(never)}`);
        }
      }
    }
  });
  const anyList = Int32Array.from(new Set(anyOrders));
  const names: NameIndex = buildNameIndex(exactPairs, wildPairs);
  const cidrs: CidrSet = buildCidrSet(cidrPairs);
  const special = compileSpecialCheck(policy.internal);

  const allActive = new Uint8Array(n).fill(1);
  const activeByPhase = new Map<string, Uint8Array>();
  const computeActive = (phase: string | undefined): Uint8Array => {
    const a = new Uint8Array(n);
    rules.forEach((r, i) => {
      a[i] = r.phases === null || (phase !== undefined && r.phases.includes(phase)) ? 1 : 0;
    });
    return a;
  };
  for (const p of policy.phases) activeByPhase.set(p, anyPhased ? computeActive(p) : allActive);
  const noPhaseActive = anyPhased ? computeActive(undefined) : allActive;
  const activeFor = (phase: string | undefined): Uint8Array => {
    if (!anyPhased) return allActive;
    const p = phase ?? policy.phases[0];
    if (p === undefined) return noPhaseActive;
    return activeByPhase.get(p) ?? computeActive(p);
  };
  // the hot path's form of the same: per rule, its protocol bits when active, else 0
  const eligible = (active: Uint8Array): Uint8Array => (active === allActive ? mask : mask.map((m, i) => (active[i] === 0 ? 0 : m)));
  const eligByPhase = new Map<string, Uint8Array>();
  for (const [p, a] of activeByPhase) eligByPhase.set(p, eligible(a));
  const noPhaseElig = eligible(noPhaseActive);
  const eligFor = (phase: string | undefined): Uint8Array => {
    if (!anyPhased) return mask;
    const p = phase ?? policy.phases[0];
    if (p === undefined) return noPhaseElig;
    return eligByPhase.get(p) ?? eligible(computeActive(p));
  };

  const DEC_DEFAULT = fallbackDecision(policy, policy.default === "allow" ? "default-allow" : "default-deny");
  const DEC_SPECIAL = fallbackDecision(policy, "special-range");
  const DEC_PHASE = fallbackDecision(policy, "phase-inactive");

  // ---------------------------------------------------------------- the hot path
  // No allocation per decision: the address is split into numbers once (IPv4: one number;
  // IPv6: four 32-bit words), order lists are slices of shared Int32Array pools, and the
  // per-phase table `elig` folds "active in this phase" into the protocol bits.

  const namePool = names.pool;
  const cidrFlat = cidrs.flat;
  const cidrPool = cidrs.pool;

  /** Lowest order in pool[from..to) below `best` whose protocol, port and phase fit; else `best`. */
  const scan = (pool: Int32Array, from: number, to: number, best: number, elig: Uint8Array, bit: number, port: number | undefined): number => {
    for (let i = from; i < to; i++) {
      const o = pool[i] as number;
      if (o >= best) return best;
      if (((elig[o] as number) & bit) === 0) continue;
      const pf = portsFlat[o];
      if (pf === null || pf === undefined) return o;
      if (port !== undefined && portInFlat(pf, port)) return o;
    }
    return best;
  };

  /** Walk from the innermost CIDR node out through its parents. */
  const scanNode = (first: number, best: number, elig: Uint8Array, bit: number, port: number | undefined): number => {
    let b = best;
    for (let node = first; node >= 0; node = cidrFlat[3 * node] as number) {
      b = scan(cidrPool, cidrFlat[3 * node + 1] as number, cidrFlat[3 * node + 2] as number, b, elig, bit, port);
    }
    return b;
  };

  // scratch for NameIndex.collect: [start, end) pairs, one per label plus the exact entry
  const SCRATCH_CHARS = 1024;
  const hits = new Int32Array(2 * (SCRATCH_CHARS + 1));
  const hitsFor = (name: string): Int32Array => (name.length <= SCRATCH_CHARS ? hits : new Int32Array(2 * (name.length + 1)));
  /** collect with normalization only when needed (trailing dot, ASCII uppercase) */
  const collectName = (raw: string, out: Int32Array): number => {
    if (raw.length === 0 || raw.charCodeAt(raw.length - 1) !== 46) {
      const k = names.collect(raw, out);
      if (k >= 0) return k;
    }
    return Math.max(0, names.collect(normalizeName(raw), out));
  };
  const scanName = (raw: string, best: number, elig: Uint8Array, bit: number, port: number | undefined): number => {
    let b = best;
    const out = hitsFor(raw);
    const k = collectName(raw, out);
    for (let i = 0; i < k; i++) b = scan(namePool, out[2 * i] as number, out[2 * i + 1] as number, b, elig, bit, port);
    return b;
  };

  // the current flow's address as numbers (set by splitIp; decide is synchronous)
  /** IPv4 address (or the IPv4 host of an IPv4-mapped IPv6 address) to look up, or -1 */
  let cur4 = -1;
  /** an IPv6 address to look up, as words */
  let cur6 = false;
  let w0 = 0;
  let w1 = 0;
  let w2 = 0;
  let w3 = 0;
  const b64 = new BigUint64Array(2);
  const u32 = new Uint32Array(b64.buffer);
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  /** Splits flow.ip into cur4/cur6 and the words; returns whether it is special-purpose outside `internal`. */
  const splitIp = (ip: IpAddr | undefined): boolean => {
    cur4 = -1;
    cur6 = false;
    if (ip === undefined) return false;
    if (ip.family === 4) {
      cur4 = Number(ip.value);
      return maybeSpecial4(cur4) && special(ip);
    }
    cur6 = true;
    b64[0] = ip.value >> 64n;
    b64[1] = ip.value;
    if (littleEndian) {
      w0 = u32[1] as number;
      w1 = u32[0] as number;
      w2 = u32[3] as number;
      w3 = u32[2] as number;
    } else {
      w0 = u32[0] as number;
      w1 = u32[1] as number;
      w2 = u32[2] as number;
      w3 = u32[3] as number;
    }
    // ::ffff:a.b.c.d is the IPv4 host on the wire: IPv4 CIDR entries match it too
    if (w0 === 0 && w1 === 0 && w2 === 0xffff) cur4 = w3;
    return maybeSpecial6(w0) && special(ip);
  };

  /** First matching rule order for the flow's facts (address already split) under `elig`, or NONE. */
  const firstMatch = (flow: Flow, ipSpecial: boolean, elig: Uint8Array): number => {
    const p = flow.protocol;
    const bit = p === "tcp" ? 1 : p === "udp" ? 2 : p === "icmp" ? 4 : 0;
    const port = p === "icmp" ? undefined : flow.port;
    let best = NONE;
    if (cur6) best = scanNode(cidrs.lookup6(w0, w1, w2, w3), best, elig, bit, port);
    if (cur4 >= 0) best = scanNode(cidrs.lookup4(cur4), best, elig, bit, port);
    if (!ipSpecial) {
      const fnames = flow.names;
      if (fnames !== undefined) {
        for (let i = 0; i < fnames.length; i++) best = scanName(fnames[i] as string, best, elig, bit, port);
      }
      if (anyList.length > 0) best = scan(anyList, 0, anyList.length, best, elig, bit, port);
    }
    return best;
  };

  const decide = (flow: Flow): Decision => {
    const ipSpecial = splitIp(flow.ip);
    const elig = eligFor(flow.phase);
    const best = firstMatch(flow, ipSpecial, elig);
    if (best < NONE) return decisions[best] as Decision;
    if (elig !== mask && firstMatch(flow, ipSpecial, mask) < NONE) return DEC_PHASE;
    if (ipSpecial && policy.default === "deny") return DEC_SPECIAL;
    return DEC_DEFAULT;
  };

  // ---------------------------------------------------------------- names and grants

  /** Orders of rules that match the name/address facts, regardless of protocol/port/phase. */
  const candidates = (name: string | undefined, ip: IpAddr | undefined, ipSpecial: boolean): number[] => {
    const out = new Set<number>();
    const add = (pool: Int32Array, from: number, to: number): void => {
      for (let i = from; i < to; i++) out.add(pool[i] as number);
    };
    if (ip !== undefined) {
      const v4 = ip.family === 6 ? unmapV4(ip) : null;
      for (const a of v4 ? [ip, v4] : [ip]) {
        for (let node = cidrs.lookup(a); node >= 0; node = cidrFlat[3 * node] as number) add(cidrPool, cidrFlat[3 * node + 1] as number, cidrFlat[3 * node + 2] as number);
      }
    }
    if (!ipSpecial) {
      if (name !== undefined) {
        const found = hitsFor(name);
        const k = collectName(name, found);
        for (let i = 0; i < k; i++) add(namePool, found[2 * i] as number, found[2 * i + 1] as number);
      }
      add(anyList, 0, anyList.length);
    }
    return [...out].sort((a, b) => a - b);
  };

  /** number of ports in a covered slice (null: all 65535) */
  const portCount = (ports: readonly PortRange[] | null): number => (ports === null ? 65535 : ports.reduce((n, p) => n + p.to - p.from + 1, 0));

  const grantsWalk = (name: string | undefined, ip: IpAddr | undefined, phase: string | undefined): NameDecision => {
    const ipSpecial = ip !== undefined && special(ip);
    const active = activeFor(phase);
    const cands = candidates(name, ip, ipSpecial);
    const rem: Record<"tcp" | "udp", PortRange[]> & { icmp: boolean } = { tcp: [...ALL_PORTS], udp: [...ALL_PORTS], icmp: true };
    const grants: NameGrant[] = [];
    const monitored: NameGrant[] = [];
    let denyRule: Rule | undefined;
    // which deny decided the most of the name's TCP ports: the rule a refused name is reported
    // under (a DNS-only deny like `any` on 53/853 must not take the blame for the default)
    let denyTcp = -1;
    const empty = (): boolean => rem.tcp.length === 0 && rem.udp.length === 0 && !rem.icmp;
    for (const o of cands) {
      if (active[o] === 0) continue;
      const r = rules[o] as Rule;
      for (const proto of FLOW_PROTOCOLS) {
        if (((mask[o] as number) & PROTO_BIT[proto]) === 0) continue;
        let covered: PortRange[] | null;
        if (proto === "icmp") {
          if (r.ports !== null || !rem.icmp) continue;
          covered = null;
          rem.icmp = false;
        } else {
          const left = rem[proto];
          if (left.length === 0) continue;
          const c = r.ports === null ? left : intersectPorts(left, r.ports);
          if (c.length === 0) continue;
          rem[proto] = r.ports === null ? [] : subtractPorts(left, c);
          covered = isAllPorts(c) ? null : c;
        }
        const g: NameGrant = { rule: r.name, order: o, protocol: proto, ports: covered };
        switch (r.action) {
          case "allow":
            grants.push(g);
            break;
          case "deny": {
            const share = proto === "tcp" ? portCount(covered) : 0;
            if (denyRule === undefined || share > denyTcp) {
              denyRule = r;
              denyTcp = share;
            }
            if (r.mode === "monitor") monitored.push(g);
            break;
          }
          default: {
            const never: never = r.action;
            throw new Error(`unknown action ${String(never)}`);
          }
        }
      }
      if (empty()) break;
    }
    const leftover: NameGrant[] = [];
    for (const proto of FLOW_PROTOCOLS) {
      if (proto === "icmp") {
        if (rem.icmp) leftover.push({ rule: DEFAULT_RULE, order: n, protocol: "icmp", ports: null });
      } else if (rem[proto].length > 0) {
        leftover.push({ rule: DEFAULT_RULE, order: n, protocol: proto, ports: isAllPorts(rem[proto]) ? null : rem[proto] });
      }
    }
    if (policy.default === "allow") grants.push(...leftover);
    else if (policy.mode === "monitor") monitored.push(...leftover);

    let d: Decision;
    const first = grants[0];
    if (first !== undefined) {
      d = first.rule === DEFAULT_RULE && first.order === n ? DEC_DEFAULT : (decisions[first.order] as Decision);
    } else if (denyRule !== undefined && !(policy.default === "deny" && portCount(rem.tcp.length === 0 ? [] : rem.tcp) > denyTcp)) {
      d = { verdict: "deny", enforced: monitored.length === 0, rule: denyRule.name, reason: "rule-deny" };
    } else if (active !== allActive && candidates(name, ip, ipSpecial).some((o) => active[o] === 0)) {
      d = DEC_PHASE;
    } else if (ipSpecial && policy.default === "deny") {
      d = DEC_SPECIAL;
    } else {
      d = DEC_DEFAULT;
    }
    return { ...d, grants, monitored };
  };

  // ---------------------------------------------------------------- explain (linear)

  const explainFlow = (flow: Flow): Explanation => {
    const phase = flow.phase ?? policy.phases[0];
    const port = flow.protocol === "icmp" ? undefined : flow.port;
    const fnames = (flow.names ?? []).map(normalizeName);
    const ip = flow.ip;
    const v4 = ip !== undefined && ip.family === 6 ? unmapV4(ip) : null;
    const ipSpecial = ip !== undefined && special(ip);
    const sp = ip !== undefined && ipSpecial ? classifySpecial(ip) : null;
    const spText = ip !== undefined && sp ? `${formatIp(ip)} is special-purpose (${sp.name}, ${sp.range}) and not under internal` : "";

    const destWhy = (d: Dest): { match: boolean; blockedBySpecial: boolean; what: string } => {
      switch (d.kind) {
        case "any":
          return { match: !ipSpecial, blockedBySpecial: ipSpecial, what: "any destination" };
        case "domain": {
          const hit = fnames.includes(d.name);
          return { match: hit && !ipSpecial, blockedBySpecial: hit && ipSpecial, what: `name ${d.name}` };
        }
        case "wildcard": {
          const hit = fnames.find((x) => wildcardMatches(d.suffix, x));
          return { match: hit !== undefined && !ipSpecial, blockedBySpecial: hit !== undefined && ipSpecial, what: `name ${hit ?? ""}` };
        }
        case "cidr": {
          const hit = ip !== undefined && (ipInCidr(ip, d.cidr) || (v4 !== null && ipInCidr(v4, d.cidr)));
          return { match: hit, blockedBySpecial: false, what: ip ? `address ${formatIp(ip)}` : "" };
        }
        default: {
          const never: never = d;
          throw new Error(`unknown dest ${String(never)}`);
        }
      }
    };

    const considered: Considered[] = [];
    let phaseMiss = false;
    for (const r of rules) {
      const problems: string[] = [];
      let hitWhy = "";
      let blockedWhy = "";
      for (const d of r.dests) {
        const w = destWhy(d);
        if (w.match) {
          hitWhy = `${describeDest(d)} at ${formatPos(d.pos)} matches ${w.what}`;
          break;
        }
        if (w.blockedBySpecial && !blockedWhy) blockedWhy = `${describeDest(d)} would match ${w.what}, but ${spText}`;
      }
      const destOk = hitWhy !== "";
      if (!destOk) problems.push(blockedWhy || "no entry matches the destination");
      if (r.protocol !== "any" && r.protocol !== flow.protocol) problems.push(`protocol ${flow.protocol} is not ${r.protocol}`);
      if (r.ports !== null) {
        if (port === undefined) problems.push(`the flow has no port; the rule needs ports ${formatPorts(r.ports)}`);
        else if (!portInRanges(r.ports, port)) problems.push(`port ${port} is not in ${formatPorts(r.ports)}`);
      }
      const phaseOk = r.phases === null || (phase !== undefined && r.phases.includes(phase));
      if (!phaseOk) {
        if (problems.length === 0) phaseMiss = true;
        problems.push(`inactive in phase ${phase ?? "(none)"}; active in ${r.phases?.join(", ") ?? ""}`);
      }
      if (problems.length === 0) {
        considered.push({ rule: r.name, matched: true, why: hitWhy });
        return { decision: decisions[r.order] as Decision, rule: r, considered, ...(sp ? { special: { range: sp.range, name: sp.name } } : {}) };
      }
      considered.push({ rule: r.name, matched: false, why: problems.join("; ") });
    }
    const decision = phaseMiss ? DEC_PHASE : ipSpecial && policy.default === "deny" ? DEC_SPECIAL : DEC_DEFAULT;
    return { decision, considered, ...(sp ? { special: { range: sp.range, name: sp.name } } : {}) };
  };

  return {
    policy,
    decide,
    decideName: (name, phase) => grantsWalk(normalizeName(name), undefined, phase),
    decideAddress: (name, ip, phase) => grantsWalk(name === undefined ? undefined : normalizeName(name), ip, phase),
    explainFlow,
    isSpecial: special,
  };
}
