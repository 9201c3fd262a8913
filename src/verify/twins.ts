/**
 * verify/twins — the variants of a policy that verify decides against (scenario.ts `Variant`):
 * the policy once enforced, the policy in monitor mode, and the policy with one new allow rule
 * added the way a pull request would add it.
 *
 * Twins are for deciding only: they share the original's `hash` and `sources` (nothing here
 * re-hashes), and a rule that set its own `mode:` keeps it, exactly as flipping the policy's
 * `mode:` line would. Pure: no I/O.
 */
import type { Fqdn, Mode, Policy, Rule } from "../policy/ir.ts";

function withMode(policy: Policy, mode: Mode): Policy {
  if (policy.mode === mode && policy.rules.every((r) => r.modeOverride || r.mode === mode)) return policy;
  return { ...policy, mode, rules: policy.rules.map((r) => (r.modeOverride ? r : { ...r, mode })) };
}

/** The policy as it behaves after its `mode:` is set to enforce (the same object when it already is). */
export function enforcedTwin(policy: Policy): Policy {
  return withMode(policy, "enforce");
}

/** The policy as it behaves with `mode: monitor`. */
export function monitoredTwin(policy: Policy): Policy {
  return withMode(policy, "monitor");
}

/** Name of the rule `withAddedAllow` inserts (unique within the policy). */
export function addedRuleName(policy: Policy): string {
  const taken = new Set(policy.rules.map((r) => r.name));
  let name = "verify-added-destination";
  for (let i = 2; taken.has(name); i++) name = `verify-added-destination-${i}`;
  return name;
}

/**
 * `name` must already be normalized (lowercase A-labels, no trailing dot).
 * The enforced policy plus `allow: [name]` on `port/protocol`, inserted where a rule written in
 * the policy's own file at the default priority (100) lands: after every rule of lower priority
 * and after the own file's priority-100 rules, before extended files' priority-100 rules and
 * everything of higher priority.
 */
export function withAddedAllow(policy: Policy, name: string, port: number, protocol: "tcp" | "udp"): { readonly policy: Policy; readonly rule: string } {
  const base = enforcedTwin(policy);
  const own = base.sources[0] ?? "";
  const pos = { file: own, line: 0, column: 0 };
  const ruleName = addedRuleName(base);
  let at = base.rules.findIndex((r) => r.priority > 100 || (r.priority === 100 && r.pos.file !== own));
  if (at === -1) at = base.rules.length;
  const added: Rule = {
    name: ruleName,
    action: "allow",
    description: "added by clawfence verify (monitor-to-enforce): a new legitimate destination",
    priority: 100,
    order: at,
    dests: [{ kind: "domain", name: name as Fqdn, origin: { via: "literal" }, pos }],
    ports: [{ from: port, to: port }],
    protocol,
    phases: null,
    mode: "enforce",
    modeOverride: false,
    pos,
  };
  const rules = [...base.rules.slice(0, at), added, ...base.rules.slice(at)].map((r, i) => (r.order === i ? r : { ...r, order: i }));
  return { policy: { ...base, rules }, rule: ruleName };
}
