/**
 * compile/pf — macOS / BSD pf anchor text (seed 002's apply-rules.sh, made from the policy).
 *
 * Map: the shared plan (common/plan.ts via common/slots.ts) -> one anchor
 * file: a `const` table per rule with addresses, a table of the special-purpose ranges the
 * policy does not list under `internal` (what `any` must never reach), then one `quick` rule
 * per (rule, protocol family) in decision order, so pf's first match is the policy's first
 * match, and a final `quick` default. Every rule carries `label "<rule name>"` (per-rule
 * counters in `pfctl -s labels`) and `log` (pflog0), so a packet log points back to the rule.
 *
 * Monitor: a would-deny is `pass log quick` (traffic passes, the decision is logged under the
 * rule's label). Names: pf resolves host names once at load time, so names are refused
 * unless `--resolve` pinned them (a name deny that nothing later could contradict is
 * exact without pins and is kept as a comment). Nothing is verified against pfctl here:
 * docs/targets.md says what is and is not.
 *
 * Pure: IR -> text. Imports no I/O.
 */
import type { Cidr, Policy } from "../../policy/ir.ts";
import { UnsupportedFeature, type Backend, type CompileOptions, type CompileOutput } from "../backend.ts";
import type { RulePlan } from "../common/plan.ts";
import { FULL, subtract, toBlocks } from "../common/addrset.ts";
import { publicSetOf, refuseNameDenies, scopeOf, walkSlots, type Scope } from "../common/slots.ts";

const TARGET = "pf" as const;
/** PF_TABLE_NAME_SIZE is 32 with the NUL */
const TABLE_MAX = 31;
/** PF_RULE_LABEL_SIZE is 64 with the NUL */
const LABEL_MAX = 63;

export const backend: Backend = {
  name: TARGET,
  description: "macOS / BSD pf anchor: tables, ordered quick rules, labels and pflog",
  compile,
};

export function anchorName(policy: Policy, opts: CompileOptions): string {
  return opts.tableName ?? `clawfence/${policy.name}`;
}

function tableName(rp: RulePlan): string {
  return `cf${rp.rule.order}_${rp.rule.name.replace(/[^A-Za-z0-9_]/g, "_")}`.slice(0, TABLE_MAX);
}

function label(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/["\\\u0000-\u001f\u007f]/g, "_").slice(0, LABEL_MAX);
}

function comment(text: string): string {
  return text.replace(/[\r\n]+/g, " ");
}

function addrText(c: Cidr): string {
  const host = c.prefix === (c.family === 4 ? 32 : 128);
  return host ? c.text.slice(0, c.text.indexOf("/")) : c.text;
}

/** `items`: table entries as pf writes them (`10.0.0.0/8`, `!10.1.0.0/16`, `192.0.2.7`) */
function tableDecl(name: string, items: readonly string[]): string {
  if (items.length === 0) return `table <${name}> const { }\n`;
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += 6) lines.push(items.slice(i, i + 6).join(" "));
  return `table <${name}> const { ${lines.join(" \\\n    ")} }\n`;
}

function portsText(rp: RulePlan): string {
  const ports = rp.rule.ports;
  if (ports === null) return "";
  const items = ports.map((p) => (p.from === p.to ? `${p.from}` : `${p.from}:${p.to}`));
  return items.length === 1 ? ` port ${items[0] ?? ""}` : ` port { ${items.join(" ")} }`;
}

/** The `[af] proto ...` heads a rule needs: one per line pf must write for it. */
function protoHeads(rp: RulePlan): string[] {
  const { protocol, ports } = rp.rule;
  switch (protocol) {
    case "tcp":
    case "udp":
      return [` proto ${protocol}`];
    case "icmp":
      return [" inet proto icmp", " inet6 proto icmp6"];
    case "any":
      return ports === null ? [""] : [" proto { tcp udp }"];
    default: {
      const never: never = protocol;
      throw new Error(`unhandled protocol ${String(never)}`);
    }
  }
}

function compile(policy: Policy, opts: CompileOptions): CompileOutput {
  const scope = scopeOf(TARGET, policy, opts);
  for (const rp of scope.active) {
    if (rp.rule.action === "allow" && rp.dynamicNames.length > 0) {
      throw new UnsupportedFeature(
        TARGET,
        rp.rule.name,
        `pf cannot follow DNS: ${rp.dynamicNames.join(", ")}`,
        rp.dynamicNames.some((n) => n.startsWith("*."))
          ? "replace the wildcard with addresses or CIDRs (pf has no names), or run the agent under `clawfence run` on Linux"
          : "compile with --resolve to pin the names' current addresses (point-in-time: re-run when they change), or run the agent under `clawfence run` on Linux",
      );
    }
  }
  refuseNameDenies(TARGET, scope, walkSlots(scope));
  return { text: render(scope, opts), notes: notes(scope, opts) };
}

function render(scope: Scope, opts: CompileOptions): string {
  const { policy } = scope;
  const anchor = anchorName(policy, opts);
  const on = opts.iface !== undefined ? ` on ${opts.iface}` : "";
  const out: string[] = [];
  out.push(
    `# clawfence policy '${policy.name}' (${policy.hash.slice(0, 12)}) compiled for pf (macOS)`,
    ...(scope.phase !== null ? [`# phase: ${scope.phase}`] : []),
    "#",
    "# Load:",
    `#   1. once, in /etc/pf.conf after the com.apple anchors:  anchor "${anchor.split("/")[0] ?? anchor}/*"`,
    "#      then: sudo pfctl -f /etc/pf.conf",
    `#   2. load or replace this anchor (one transaction): sudo pfctl -a ${anchor} -f FILE`,
    "#   3. enable pf if it is off: sudo pfctl -E",
    `# Check: sudo pfctl -a ${anchor} -s rules -v   counters per rule: sudo pfctl -a ${anchor} -s labels`,
    "# Log:   sudo tcpdump -n -e -ttt -i pflog0   (every rule logs; the label is the rule name)",
    "",
  );
  const usesAny = scope.active.some((r) => r.any);
  if (usesAny) {
    // longest prefix wins in a pf table, so a block and its holes (`!`) say the set exactly
    const special = toBlocks(subtract(FULL, publicSetOf(policy))).flatMap((b) => [addrText(b.cidr), ...b.except.map((e) => `!${addrText(e)}`)]);
    out.push("# special-purpose ranges not under `internal`: `any` never matches them");
    out.push(tableDecl("cf_special", special));
  }
  const tables = new Map<RulePlan, string>();
  for (const rp of scope.active) {
    const cidrs = [...rp.v4, ...rp.v6];
    if (cidrs.length === 0) continue;
    const name = tableName(rp);
    tables.set(rp, name);
    const pinned = rp.pins.map((p) => p.name);
    out.push(`# rule '${comment(rp.rule.name)}'${pinned.length ? ` (pinned at compile time: ${pinned.join(", ")})` : ""}`);
    out.push(tableDecl(name, cidrs.map(addrText)));
  }
  out.push("");
  for (const rp of scope.active) {
    const r = rp.rule;
    const monitor = r.action === "deny" && r.mode === "monitor";
    const head = r.action === "allow" || monitor ? "pass out log quick" : "block return out log quick";
    const tail = `${r.action === "allow" || monitor ? " keep state" : ""} label "${label(r.name)}"`;
    out.push(`# ${r.order}: ${comment(r.name)} (${r.action}${monitor ? ", monitor: would deny, passes" : ""}) ${r.pos.file}:${r.pos.line}${r.description ? ` - ${comment(r.description)}` : ""}`);
    if (rp.dynamicNames.length > 0) {
      out.push(`#   names ${rp.dynamicNames.join(", ")}: not matched by pf; no later rule can reach their addresses, so the default decides them as this rule would`);
    }
    const targets: string[] = [];
    const t = tables.get(rp);
    if (t !== undefined) targets.push(` to <${t}>`);
    if (rp.any) targets.push(" to ! <cf_special>");
    if (targets.length === 0) {
      if (rp.dynamicNames.length === 0) out.push("#   (no addresses: nothing to write)");
      continue;
    }
    for (const proto of protoHeads(rp)) {
      for (const to of targets) out.push(`${head}${on}${proto}${to}${portsText(rp)}${tail}`);
    }
  }
  const dflt = policy.default;
  const monitorDefault = dflt === "deny" && policy.mode === "monitor";
  out.push(`# default: ${dflt}${monitorDefault ? " (monitor: would deny, passes)" : ""}`);
  out.push(dflt === "allow" || monitorDefault ? `pass out log quick${on} all keep state label "default"` : `block return out log quick${on} all label "default"`);
  return `${out.join("\n")}\n`;
}

function notes(scope: Scope, opts: CompileOptions): string[] {
  const n = [...scope.notes];
  if (opts.iface === undefined) n.push("pf: no --iface: the rules filter every outbound interface, including lo0 (add `set skip on lo0` to /etc/pf.conf to keep loopback working)");
  n.push("pf: rules filter outbound packets (`out`); for a bridge whose traffic enters the host on the interface, check the direction (docs/targets.md)");
  n.push("pf: DNS is not added: the policy must allow the resolver the workload uses");
  for (const r of scope.policy.rules) if (!scope.active.some((a) => a.rule === r)) n.push(`rule '${r.name}': not active in phase ${scope.phase ?? "-"}: left out`);
  for (const rp of scope.active) if (label(rp.rule.name) !== rp.rule.name) n.push(`pf: rule '${rp.rule.name}' label shortened to '${label(rp.rule.name)}' (pf labels hold 63 bytes)`);
  return n;
}
