/**
 * compile/kubernetes/common — what the pf, kubernetes, cilium and aviatrix backends share
 * on top of the Linux backends' plan (compile/nftables/plan.ts): the active rules of the
 * compiled phase, the set of addresses `any` and names may reach (everything minus the
 * special-purpose ranges not under `internal`), each rule's address set, and "slots":
 * (protocol, port range) pieces small enough that every rule either matches all of a slot
 * or none of it, so rule order can be walked slot by slot with exact set arithmetic.
 *
 * Map: Policy + CompileOptions -> Scope (plan, active rules, public set) -> backends.
 * Pure: no I/O, no clock.
 */
import type { Policy, Rule } from "../../policy/ir.ts";
import { UnsupportedFeature, type CompileOptions, type TargetName } from "../backend.ts";
import { buildPlan, pinNotes, specialMinusInternal, type Plan, type RulePlan } from "../nftables/plan.ts";
import { FULL, fromCidrs, subtract, union, EMPTY, type AddrSet } from "./addrset.ts";

export type SlotProto = "tcp" | "udp" | "icmp";

/** A protocol and an inclusive port range; ICMP slots have from = to = 0. */
export interface Slot {
  readonly proto: SlotProto;
  readonly from: number;
  readonly to: number;
}

export interface Scope {
  readonly policy: Policy;
  readonly plan: Plan;
  readonly phase: string | null;
  /** rule plans active in the phase, in decision order */
  readonly active: readonly RulePlan[];
  /** addresses `any` and domain entries may match */
  readonly pub: AddrSet;
  readonly notes: string[];
}

/** The compile scope; refuses a phase the policy does not declare. */
export function scopeOf(target: TargetName, policy: Policy, opts: CompileOptions): Scope {
  if (opts.phase !== undefined && !policy.phases.includes(opts.phase)) {
    const known = policy.phases.length ? policy.phases.join(", ") : "none";
    throw new UnsupportedFeature(target, "(phase)", `phase '${opts.phase}' is not declared by the policy (phases: ${known})`, "pass --phase with one of the policy's phases, or leave it out to compile the first phase");
  }
  const plan = buildPlan(policy, opts);
  const active = plan.rules.filter((r) => r.active);
  const notes = pinNotes(plan);
  if (plan.phase !== null) notes.push(`compiled for phase '${plan.phase}' (of ${policy.phases.join(" -> ")}); compile each phase separately`);
  return { policy, plan, phase: plan.phase, active, pub: publicSetOf(policy), notes };
}

export function publicSetOf(policy: Policy): AddrSet {
  const special: AddrSet = {
    v4: specialMinusInternal(4, policy.internal).map(([lo, hi]) => ({ lo, hi })),
    v6: specialMinusInternal(6, policy.internal).map(([lo, hi]) => ({ lo, hi })),
  };
  return subtract(FULL, special);
}

/** What a rule matches by address alone: literal CIDRs, pinned addresses, `any` (public). */
export function ipSetOf(rp: RulePlan, pub: AddrSet): AddrSet {
  const lit = fromCidrs([...rp.v4, ...rp.v6]);
  return rp.any ? union(lit, pub) : lit;
}

/** Names the rule matches that were not pinned (domains without --resolve, wildcards). */
export function hasDynamicNames(rp: RulePlan): boolean {
  return rp.dynamicNames.length > 0;
}

export function ruleInSlot(rule: Pick<Rule, "protocol" | "ports">, slot: Slot): boolean {
  if (rule.protocol !== "any" && rule.protocol !== slot.proto) return false;
  if (slot.proto === "icmp") return rule.ports === null;
  if (rule.ports === null) return true;
  return rule.ports.some((p) => p.from <= slot.from && slot.to <= p.to);
}

/** Elementary (protocol, port range) slots over all active rules' port boundaries. */
export function slotsOf(rules: readonly Pick<Rule, "ports">[]): Slot[] {
  const cuts = new Set<number>([1, 65536]);
  for (const r of rules) for (const p of r.ports ?? []) cuts.add(p.from).add(p.to + 1);
  const sorted = [...cuts].sort((a, b) => a - b);
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i + 1 < sorted.length; i++) ranges.push([sorted[i] as number, (sorted[i + 1] as number) - 1]);
  const out: Slot[] = [];
  for (const proto of ["tcp", "udp"] as const) for (const [from, to] of ranges) out.push({ proto, from, to });
  out.push({ proto: "icmp", from: 0, to: 0 });
  return out;
}

/** true when a deny decision of this rule is only "would deny" (the traffic passes). */
export function isMonitorDeny(rule: Pick<Rule, "action" | "mode">): boolean {
  return rule.action === "deny" && rule.mode === "monitor";
}

/**
 * What happens to the traffic a rule decides: a monitor-mode deny lets it pass. Targets
 * without a monitor concept (NetworkPolicy, Cilium) compile this, the enforcement
 * semantics, and say in their notes that the would-deny is not recorded.
 */
export function passes(rule: Pick<Rule, "action" | "mode">): boolean {
  return rule.action === "allow" || rule.mode === "monitor";
}

/** Does traffic no rule decides pass? (default allow, or a default deny in monitor mode) */
export function defaultPasses(policy: Pick<Policy, "default" | "mode">): boolean {
  return policy.default === "allow" || policy.mode === "monitor";
}

/** Do two name entries (`a.example`, `*.example`) share at least one name? */
export function namesOverlap(a: string, b: string): boolean {
  const wa = a.startsWith("*.");
  const wb = b.startsWith("*.");
  const sa = wa ? a.slice(2) : a;
  const sb = wb ? b.slice(2) : b;
  const under = (name: string, suffix: string): boolean => name.endsWith(`.${suffix}`);
  if (!wa && !wb) return sa === sb;
  if (wa && !wb) return under(sb, sa);
  if (!wa && wb) return under(sa, sb);
  return sa === sb || under(sa, sb) || under(sb, sa);
}

/**
 * The per-slot walk both allow-only targets need: for each slot, in rule order, the part
 * of each rule's address set no earlier rule decided. `consumed` grows by every rule's
 * address set (names do not consume addresses: they decide only flows known by a name).
 */
export interface SlotStep {
  readonly rp: RulePlan;
  /** the rule's address set minus addresses decided by earlier rules in this slot */
  readonly take: AddrSet;
  /** addresses decided by earlier rules in this slot */
  readonly before: AddrSet;
}

export interface SlotWalk {
  readonly slot: Slot;
  readonly steps: readonly SlotStep[];
  /** addresses no rule matches by address in this slot (the default decides them) */
  readonly rest: AddrSet;
}

export function walkSlots(scope: Scope): SlotWalk[] {
  const slots = slotsOf(scope.active.map((r) => r.rule));
  return slots.map((slot) => {
    let consumed = EMPTY;
    const steps: SlotStep[] = [];
    for (const rp of scope.active) {
      if (!ruleInSlot(rp.rule, slot)) continue;
      const m = ipSetOf(rp, scope.pub);
      steps.push({ rp, take: subtract(m, consumed), before: consumed });
      consumed = union(consumed, m);
    }
    return { slot, steps, rest: subtract(FULL, consumed) };
  });
}

export function slotText(s: Slot): string {
  if (s.proto === "icmp") return "icmp";
  return s.from === s.to ? `${s.proto}/${s.from}` : `${s.proto}/${s.from}-${s.to}`;
}

/**
 * A name deny whose names clawfence's resolver never answers: it covers every protocol and
 * port, and no earlier rule lets such a name pass (by name or `any`). No flow then carries
 * the name, every connection to its addresses is decided by address alone, and a target
 * that cannot match names in a deny still decides exactly as clawfence does.
 */
export function neverAnswered(scope: Scope, dn: RulePlan): boolean {
  if (dn.rule.protocol !== "any" || dn.rule.ports !== null) return false;
  return !scope.active.some(
    (rp) => rp.rule.order < dn.rule.order && passes(rp.rule) && (rp.any || rp.dynamicNames.some((n) => dn.dynamicNames.some((d) => namesOverlap(d, n)))),
  );
}
