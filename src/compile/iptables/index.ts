/**
 * compile/iptables — policy IR -> iptables-restore (IPv4) and ip6tables-restore (IPv6) input
 * in the seed 001 shape: default DROP, loopback, established/related, a LOG with a per-rule
 * prefix before every drop (plus an NFLOG twin: the kernel's LOG target is silent outside
 * the initial network namespace), rule-per-entry ACCEPTs.
 *
 * Map: buildPlan (common/plan.ts) reads the policy; this file renders one family per
 * backend. iptables cannot follow DNS, so a domain or wildcard entry that was not pinned
 * with `--resolve` is an UnsupportedFeature naming the rule. Pure: no I/O, no clock.
 *
 * Chains: OUTPUT (or FORWARD with --hook forward) jumps to CF-EGRESS, which holds the policy
 * in order; each deny rule jumps to its own verdict chain (`CF-<order>-<name>`: LOG, NFLOG,
 * REJECT) so the log lines are written once per rule, not once per address; each rule
 * with `any` jumps to `CF-<order>-ANY`, which RETURNs for special-purpose ranges first.
 */
import type { Policy } from "../../policy/ir.ts";
import { UnsupportedFeature, type Backend, type CompileOptions, type CompileOutput, type TargetName } from "../backend.ts";
import { buildPlan, intervalsToCidrs, pinNotes, type RulePlan } from "../common/plan.ts";

/** LOG --log-prefix keeps 29 characters; NFLOG --nflog-prefix 64; chain names 28. */
const LOG_PREFIX_MAX = 29;
const NFLOG_PREFIX_MAX = 64;
const CHAIN_MAX = 28;
const MULTIPORT_MAX = 15;

function q(s: string): string {
  // iptables-restore quoting: double quotes, no embedded quotes or backslashes
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/["\\\u0000-\u001f\u007f]/g, "_")}"`;
}

function chainName(order: number, name: string, suffix = ""): string {
  const base = `CF-${order}-${name.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
  return `${base.slice(0, CHAIN_MAX - suffix.length)}${suffix}`;
}

function portChunks(ports: readonly { from: number; to: number }[]): string[] {
  const chunks: string[] = [];
  let cur: string[] = [];
  let used = 0;
  for (const p of ports) {
    const w = p.from === p.to ? 1 : 2;
    if (used + w > MULTIPORT_MAX) {
      chunks.push(cur.join(","));
      cur = [];
      used = 0;
    }
    cur.push(p.from === p.to ? String(p.from) : `${p.from}:${p.to}`);
    used += w;
  }
  if (cur.length) chunks.push(cur.join(","));
  return chunks;
}

/** The `-p ... --dports ...` alternatives of a rule (one line each); [""] for every protocol. */
function serviceMatches(r: RulePlan, family: 4 | 6): string[] {
  if (r.allProtocols) return [""];
  const out: string[] = [];
  for (const s of r.services) {
    if (s.proto === "icmp") {
      out.push(family === 4 ? "-p icmp" : "-p ipv6-icmp");
      continue;
    }
    if (s.ports === null) {
      out.push(`-p ${s.proto}`);
      continue;
    }
    for (const c of portChunks(s.ports)) out.push(`-p ${s.proto} -m multiport --dports ${c}`);
  }
  return out;
}

function logLines(chain: string, name: string, group: number, comment: string): string[] {
  const tag = name.slice(0, LOG_PREFIX_MAX - 2);
  return [
    `-A ${chain} -m comment --comment ${q(comment)} -j LOG --log-prefix ${q(`${tag}: `)}`,
    `-A ${chain} -m comment --comment ${q(comment)} -j NFLOG --nflog-group ${group} --nflog-prefix ${q(name.slice(0, NFLOG_PREFIX_MAX))}`,
  ];
}

function rejectLines(chain: string, family: 4 | 6, comment: string): string[] {
  const other = family === 4 ? "icmp-admin-prohibited" : "icmp6-adm-prohibited";
  return [
    `-A ${chain} -p tcp -m comment --comment ${q(comment)} -j REJECT --reject-with tcp-reset`,
    `-A ${chain} -m comment --comment ${q(comment)} -j REJECT --reject-with ${other}`,
  ];
}

function compileFamily(target: TargetName, family: 4 | 6, policy: Policy, opts: CompileOptions): CompileOutput {
  const plan = buildPlan(policy, opts);
  const group = opts.logGroup ?? 0;
  const hook = opts.hook ?? "output";
  const monitorPolicy = policy.mode === "monitor";
  const chains: string[] = ["CF-EGRESS"];
  const body: string[] = [];
  const egress: string[] = [];
  const E = "CF-EGRESS";

  for (const r of plan.rules) {
    if (!r.active || r.dynamicNames.length === 0) continue;
    throw new UnsupportedFeature(
      target,
      r.rule.name,
      `names ${r.dynamicNames.join(", ")}: ${target} matches addresses only and cannot follow DNS answers`,
      r.dynamicNames.some((n) => n.startsWith("*."))
        ? "wildcards cannot be pinned: use --target nftables with the clawfence DNS guard, or replace the wildcard with exact names or CIDRs"
        : "compile with --resolve to pin the names to the addresses they resolve to now, or use --target nftables with the clawfence DNS guard",
    );
  }

  /** the verdict target of a rule: ACCEPT, or its own chain for deny / would-deny */
  const verdictOf = (r: RulePlan): string => {
    if (r.rule.action === "allow") return "ACCEPT";
    const c = chainName(r.rule.order, r.rule.name);
    if (!chains.includes(c)) {
      chains.push(c);
      const comment = `rule ${r.rule.name}`;
      body.push(...logLines(c, r.rule.name, group, comment));
      if (r.rule.mode === "monitor") body.push(`-A ${c} -m comment --comment ${q(`${comment} (monitor: would deny)`)} -j ACCEPT`);
      else body.push(...rejectLines(c, family, comment));
    }
    return c;
  };

  // DNS: upstreams only
  if (hook === "output") {
    for (const u of policy.dns.upstreams ?? []) {
      if (u.family !== family) continue;
      for (const p of ["udp", "tcp"]) egress.push(`-A ${E} -d ${u.address} -p ${p} --dport ${u.port} -m comment --comment ${q("dns upstream")} -j ACCEPT`);
    }
  }
  const dnsChain = "CF-DNS";
  chains.push(dnsChain);
  body.push(...logLines(dnsChain, "dns", group, "DNS to anything but dns.upstreams"));
  if (monitorPolicy) body.push(`-A ${dnsChain} -j ACCEPT`);
  else body.push(...rejectLines(dnsChain, family, "DNS to anything but dns.upstreams"));
  egress.push(`-A ${E} -p udp --dport 53 -j ${dnsChain}`, `-A ${E} -p tcp -m multiport --dports 53,853 -j ${dnsChain}`);

  for (const r of plan.rules) {
    const name = r.rule.name;
    if (!r.active) {
      egress.push(`# rule '${name}' inactive in phase '${plan.phase ?? ""}'`);
      continue;
    }
    const cidrs = family === 4 ? r.v4 : r.v6;
    if (!cidrs.length && !r.any) {
      egress.push(`# rule '${name}': no IPv${family} destinations`);
      continue;
    }
    if (r.services.length === 0) {
      egress.push(`# rule '${name}': matches nothing (icmp with ports)`);
      continue;
    }
    egress.push(`# rule '${name}' (${r.rule.action}${r.rule.action === "deny" && r.rule.mode === "monitor" ? ", monitor" : ""})`);
    for (const p of r.pins) {
      const fam = p.addrs.filter((a) => (family === 4) === !a.includes(":"));
      if (fam.length) egress.push(`# pinned at compile time (--resolve): ${p.name} -> ${fam.join(", ")}`);
    }
    const v = verdictOf(r);
    const svcs = serviceMatches(r, family);
    const comment = `-m comment --comment ${q(name)}`;
    for (const c of cidrs) {
      for (const s of svcs) egress.push(`-A ${E} -d ${c.text}${s ? ` ${s}` : ""} ${comment} -j ${v}`);
    }
    if (r.any) {
      const anyChain = chainName(r.rule.order, name, "-ANY");
      chains.push(anyChain);
      egress.push(`-A ${E} ${comment} -j ${anyChain}`);
      for (const c of intervalsToCidrs(family, family === 4 ? plan.special4 : plan.special6)) {
        body.push(`-A ${anyChain} -d ${c.text} -m comment --comment ${q("special-purpose: any never matches")} -j RETURN`);
      }
      for (const s of svcs) body.push(`-A ${anyChain}${s ? ` ${s}` : ""} ${comment} -j ${v}`);
    }
  }

  // default
  egress.push("# default");
  egress.push(...logLines(E, "default", group, `default: ${policy.default}`));
  if (policy.default === "allow" || monitorPolicy) egress.push(`-A ${E} -m comment --comment ${q("default")} -j ACCEPT`);
  else egress.push(...rejectLines(E, family, "default"));

  const iface = opts.iface?.replace(/[^A-Za-z0-9_.@-]/g, "");
  const head: string[] = [];
  const hooks: string[] = [];
  if (hook === "output") {
    head.push(":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", `:OUTPUT ${iface ? "ACCEPT" : "DROP"} [0:0]`);
    hooks.push("-A INPUT -i lo -j ACCEPT", "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT");
    if (family === 6) {
      hooks.push("-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation -j ACCEPT", "-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-advertisement -j ACCEPT");
    }
    hooks.push("-A OUTPUT -o lo -j ACCEPT", "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT");
    if (family === 6) {
      for (const t of ["neighbour-solicitation", "neighbour-advertisement", "router-solicitation"]) {
        hooks.push(`-A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type ${t} -j ACCEPT`);
      }
    }
    hooks.push(iface ? `-A OUTPUT -o ${iface} -j ${E}` : `-A OUTPUT -j ${E}`);
  } else {
    head.push(":INPUT ACCEPT [0:0]", `:FORWARD ${iface ? "ACCEPT" : "DROP"} [0:0]`, ":OUTPUT ACCEPT [0:0]");
    hooks.push("-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT");
    hooks.push(iface ? `-A FORWARD -i ${iface} -j ${E}` : `-A FORWARD -j ${E}`);
  }

  const tool = family === 4 ? "iptables-restore" : "ip6tables-restore";
  let text = `# clawfence ${target} ruleset for policy '${policy.name}' (IR ${policy.hash.slice(0, 12)})\n`;
  text += `# hook ${hook}${iface ? `, interface ${iface}` : ""}${plan.phase ? `, phase ${plan.phase}` : ""}; load with: ${tool} < FILE (replaces the filter table in one commit)\n`;
  text += "*filter\n";
  text += head.map((h) => `${h}\n`).join("");
  text += chains.map((c) => `:${c} - [0:0]\n`).join("");
  text += hooks.map((h) => `${h}\n`).join("");
  text += egress.map((h) => `${h}\n`).join("");
  text += body.map((h) => `${h}\n`).join("");
  text += "COMMIT\n";

  const notes = pinNotes(plan);
  for (const r of plan.rules) if (!r.active) notes.push(`rule '${r.rule.name}' is inactive in phase '${plan.phase ?? ""}': not compiled`);
  if (hook === "output" && !iface) notes.push("seed 001 shape: INPUT and OUTPUT default DROP except loopback and established/related; add inbound management rules yourself");
  if (hook === "output" && !(policy.dns.upstreams ?? []).some((u) => u.family === family)) notes.push(`no IPv${family} dns.upstreams: IPv${family} DNS is blocked`);
  return { text, notes };
}

export function compileIptables(policy: Policy, opts: CompileOptions): CompileOutput {
  return compileFamily("iptables", 4, policy, opts);
}

export function compileIp6tables(policy: Policy, opts: CompileOptions): CompileOutput {
  return compileFamily("ip6tables", 6, policy, opts);
}

export const backend: Backend = {
  name: "iptables",
  description: "iptables-restore input (IPv4), seed 001 shape: default DROP, LOG and NFLOG per rule before the reject",
  compile: compileIptables,
};

export const backend6: Backend = {
  name: "ip6tables",
  description: "ip6tables-restore input (IPv6), same policy as iptables for IPv6",
  compile: compileIp6tables,
};
