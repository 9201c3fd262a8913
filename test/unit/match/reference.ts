/**
 * test/unit/match/reference — the decision semantics written as plainly as possible: a
 * linear walk over the rules and their entries. The property test and the benchmark check
 * the indexed decider (src/match/decide.ts) against it; it shares no matching code with it
 * (only address parsing and the special-purpose table, tested on their own).
 */
import type { Dest, Policy, Rule } from "../../../src/policy/ir.ts";
import type { Decision, Flow } from "../../../src/match/decision.ts";
import { ipInCidr, unmapV4 } from "../../../src/policy/addr.ts";
import { isSpecial } from "../../../src/match/special.ts";

function norm(n: string): string {
  const l = n.toLowerCase();
  return l.endsWith(".") ? l.slice(0, -1) : l;
}

export function referenceDecide(p: Policy, flow: Flow): Decision {
  const phase = flow.phase ?? p.phases[0];
  const names = (flow.names ?? []).map(norm);
  const ip = flow.ip;
  const mapped = ip ? unmapV4(ip) : null;
  const special = ip !== undefined && isSpecial(ip, p.internal);
  const port = flow.protocol === "icmp" ? undefined : flow.port;

  const destMatches = (d: Dest): boolean => {
    switch (d.kind) {
      case "any":
        return !special;
      case "domain":
        return !special && names.includes(d.name);
      case "wildcard":
        return !special && names.some((x) => x.endsWith(`.${d.suffix}`) && x.length > d.suffix.length + 1 && !x.startsWith("."));
      case "cidr":
        return ip !== undefined && (ipInCidr(ip, d.cidr) || (mapped !== null && ipInCidr(mapped, d.cidr)));
    }
  };
  const matches = (r: Rule, ignorePhase: boolean): boolean => {
    if (!ignorePhase && r.phases !== null && (phase === undefined || !r.phases.includes(phase))) return false;
    if (r.protocol !== "any" && r.protocol !== flow.protocol) return false;
    if (r.ports !== null && (port === undefined || !r.ports.some((x) => port >= x.from && port <= x.to))) return false;
    return r.dests.some(destMatches);
  };

  const sorted = [...p.rules].sort((a, b) => a.order - b.order);
  for (const r of sorted) {
    if (!matches(r, false)) continue;
    if (r.action === "allow") return { verdict: "allow", enforced: true, rule: r.name, reason: "rule-allow" };
    return { verdict: "deny", enforced: r.mode === "enforce", rule: r.name, reason: "rule-deny" };
  }
  const reason = sorted.some((r) => matches(r, true))
    ? "phase-inactive"
    : special && p.default === "deny"
      ? "special-range"
      : p.default === "allow"
        ? "default-allow"
        : "default-deny";
  if (p.default === "allow") return { verdict: "allow", enforced: true, rule: "default", reason };
  return { verdict: "deny", enforced: p.mode === "enforce", rule: "default", reason };
}
