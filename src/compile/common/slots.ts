/**
 * compile/common/slots — what the pf, kubernetes, cilium and aviatrix backends share
 * on top of the common plan (common/plan.ts): the active rules of the
 * compiled phase, the set of addresses `any` and names may reach (everything minus the
 * special-purpose ranges not under `internal`), each rule's address set, and "slots":
 * (protocol, port range) pieces small enough that every rule either matches all of a slot
 * or none of it, so rule order can be walked slot by slot with exact set arithmetic; and
 * what a walk means for a target that matches addresses only (`refuseNameDenies`,
 * `slotResult`).
 *
 * Map: Policy + CompileOptions -> Scope (plan, active rules, public set) -> backends.
 * Pure: no I/O, no clock; imports policy/, compile/backend.ts and common/ only, never a
 * backend folder.
 */
import type { Policy, Rule } from "../../policy/ir.ts";
import { UnsupportedFeature, type CompileOptions, type TargetName } from "../backend.ts";
import { buildPlan, pinNotes, specialMinusInternal, type Plan, type RulePlan } from "./plan.ts";
import { FULL, fromCidrs, isEmpty, overlaps, subtract, union, EMPTY, type AddrSet } from "./addrset.ts";

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

/**
 * A deny of names cannot be written for a target that matches addresses only (or, for
 * Cilium, allows only). It is still exact in two cases:
 *  - the names are never answered: the deny covers every protocol and port and no earlier
 *    rule lets such a name pass (by name or `any`). clawfence's resolver then refuses them,
 *    so no flow ever carries the name and every connection is decided by address alone,
 *    as the target decides it;
 *  - nothing after it could let an address such a name may resolve to pass.
 * Otherwise refuse, naming both rules. A later allow of the same names is always refused
 * (the target would answer and allow them). Used by the pf, kubernetes and cilium backends.
 */
export function refuseNameDenies(target: TargetName, scope: Scope, walks: readonly SlotWalk[]): void {
  const fix = "pin the denied names with --resolve (their addresses then become an address deny), or narrow the later allow so it cannot reach addresses the names may resolve to";
  for (const w of walks) {
    w.steps.forEach((step, i) => {
      const dn = step.rp;
      if (passes(dn.rule) || !hasDynamicNames(dn)) return;
      const silent = neverAnswered(scope, dn);
      for (const later of w.steps.slice(i + 1)) {
        if (!passes(later.rp.rule)) continue;
        const shared = later.rp.dynamicNames.find((n) => dn.dynamicNames.some((d) => namesOverlap(d, n)));
        if (shared !== undefined) {
          throw new UnsupportedFeature(target, dn.rule.name, `it denies names that the later rule '${later.rp.rule.name}' allows (${shared}); ${target} cannot order a name deny before a name allow`, "move the allow before the deny if it should win, or make the two rules' names disjoint");
        }
        if (!silent && overlaps(later.take, scope.pub)) {
          throw new UnsupportedFeature(
            target,
            dn.rule.name,
            `it denies names (${dn.dynamicNames.join(", ")}) on some ports only, and they may resolve into addresses the later rule '${later.rp.rule.name}' allows (${slotText(w.slot)}); ${target} cannot match names in a deny`,
            fix,
          );
        }
      }
      if (!silent && defaultPasses(scope.policy) && overlaps(w.rest, scope.pub)) {
        throw new UnsupportedFeature(target, dn.rule.name, `it denies names on some ports only while the default allows every other address (${slotText(w.slot)}); ${target} cannot match names in a deny`, fix);
      }
    });
  }
}

/** What a slot walk leaves allowed, and which rules put it there or carved holes in it. */
export interface SlotResult {
  readonly slot: Slot;
  readonly allowed: AddrSet;
  readonly allows: readonly string[];
  readonly denies: readonly string[];
}

export function slotResult(scope: Scope, w: SlotWalk): SlotResult {
  let allowed = EMPTY;
  const allows: string[] = [];
  const denies: string[] = [];
  // what later allows (or the default) could reach, to name the denies that carve holes
  const laterReach: AddrSet[] = [];
  let acc = defaultPasses(scope.policy) ? w.rest : EMPTY;
  for (let i = w.steps.length - 1; i >= 0; i--) {
    laterReach[i] = acc;
    const s = w.steps[i];
    if (s && passes(s.rp.rule)) acc = union(acc, ipSetOf(s.rp, scope.pub));
  }
  w.steps.forEach((s, i) => {
    if (isEmpty(s.take)) return;
    if (passes(s.rp.rule)) {
      allowed = union(allowed, s.take);
      allows.push(s.rp.rule.name);
    } else if (overlaps(s.take, laterReach[i] ?? EMPTY)) denies.push(s.rp.rule.name);
  });
  if (defaultPasses(scope.policy) && !isEmpty(w.rest)) {
    allowed = union(allowed, w.rest);
    allows.push("default");
  }
  return { slot: w.slot, allowed, allows, denies };
}
