/**
 * compile/hosts — policy IR + `--resolve` answers -> /etc/hosts lines pinning the exact names
 * that the policy allows (the seed 001 review: static hosts entries take the resolver, its
 * cache poisoning and its tunnel out of the path for the platform's names).
 *
 * Map: buildPlan (common/plan.ts) with `opts.resolved` gives each rule's pins; a name is
 * pinned when the first active rule naming it (exactly or by wildcard) allows it. Wildcards
 * cannot be pinned (there is no finite name list): they are written as comments and notes.
 * A hosts file is not a firewall: pair it with the nftables/iptables output. Pure: no I/O.
 */
import type { Policy, Rule } from "../../policy/ir.ts";
import { UnsupportedFeature, type Backend, type CompileOptions, type CompileOutput } from "../backend.ts";
import { buildPlan, pinNotes } from "../common/plan.ts";

function ruleNames(rule: Rule, name: string): boolean {
  return rule.dests.some((d) => (d.kind === "domain" && d.name === name) || (d.kind === "wildcard" && name.endsWith(`.${d.suffix}`)));
}

export function compileHosts(policy: Policy, opts: CompileOptions): CompileOutput {
  const plan = buildPlan(policy, opts);
  const active = plan.rules.filter((r) => r.active);
  if (opts.resolved === undefined) {
    const first = active.find((r) => r.rule.action === "allow" && r.rule.dests.some((d) => d.kind === "domain"));
    if (first) {
      throw new UnsupportedFeature(
        "hosts",
        first.rule.name,
        "a hosts file pins names to addresses, and no addresses were resolved",
        "compile with --resolve (clawfence compile POLICY --target hosts --resolve)",
      );
    }
  }
  const lines: string[] = [];
  const notes = pinNotes(plan);
  const seen = new Set<string>();
  for (const r of plan.rules) {
    if (!r.active) {
      lines.push(`# rule ${r.rule.name}: inactive in phase '${plan.phase ?? ""}'`);
      continue;
    }
    if (r.rule.action !== "allow" || !r.rule.dests.some((d) => d.kind === "domain" || d.kind === "wildcard")) {
      lines.push(`# rule ${r.rule.name}: no names to pin (${r.rule.action === "allow" ? "addresses only" : "deny"})`);
      continue;
    }
    for (const d of r.rule.dests) {
      if (d.kind === "wildcard") {
        lines.push(`# *.${d.suffix} (rule ${r.rule.name}): a wildcard cannot be pinned; it resolves through DNS`);
        notes.push(`rule '${r.rule.name}': *.${d.suffix} cannot be pinned in a hosts file`);
      }
    }
    for (const p of r.pins) {
      if (seen.has(p.name)) continue;
      seen.add(p.name);
      const decider = active.find((x) => ruleNames(x.rule, p.name));
      if (decider && decider.rule.action !== "allow") {
        lines.push(`# ${p.name}: not pinned, rule ${decider.rule.name} denies it first`);
        continue;
      }
      if (!p.addrs.length) {
        lines.push(`# ${p.name} (rule ${r.rule.name}): no pinnable address${p.skipped.length ? ` (special-purpose: ${p.skipped.join(", ")})` : ""}`);
        continue;
      }
      for (const a of p.addrs) lines.push(`${a}\t${p.name}\t# rule ${r.rule.name}`);
    }
  }
  let text = `# clawfence /etc/hosts pins for policy '${policy.name}' (IR ${policy.hash.slice(0, 12)})\n`;
  text += "# addresses resolved at compile time (--resolve); re-run the compile when they change\n";
  text += lines.map((l) => `${l}\n`).join("");
  return { text, notes };
}

export const backend: Backend = {
  name: "hosts",
  description: "/etc/hosts pins for the exact names the policy allows (with --resolve)",
  compile: compileHosts,
};
