/**
 * compile/nftables — policy IR -> one `nft -f` file: a `table inet` replaced atomically.
 *
 * Map: buildPlan (common/plan.ts) reads the policy; this file renders counters, sets and chains in
 * the layout documented in docs/nft-layout.md (names from layout.ts, which the runtime's DNS
 * guard also uses). Pure text generation: no I/O, no clock. Nothing is dropped silently:
 * inactive rules and names the kernel cannot see are written as comments and listed in notes.
 */
import type { Cidr, Policy } from "../../policy/ir.ts";
import type { Backend, CompileOptions, CompileOutput } from "../backend.ts";
import { buildPlan, intervalsToCidrs, pinNotes, type Plan, type RulePlan } from "../common/plan.ts";
import { counterName, dynamicSetNames, logPrefix, nftComment, portText, tableNameFor } from "./layout.ts";

const DEFAULT_LOG_GROUP = 0;

function elementsBlock(cidrs: readonly Cidr[], indent: string): string {
  if (cidrs.length === 0) return "";
  const items = cidrs.map((c) => (c.prefix === (c.family === 4 ? 32 : 128) ? c.text.slice(0, c.text.indexOf("/")) : c.text));
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += 8) lines.push(items.slice(i, i + 8).join(", "));
  return `${indent}elements = { ${lines.join(`,\n${indent}             `)} }\n`;
}

function addrSet(name: string, family: 4 | 6, cidrs: readonly Cidr[], comments: readonly string[]): string {
  const type = family === 4 ? "ipv4_addr" : "ipv6_addr";
  let s = `\tset ${name} {\n`;
  for (const c of comments) s += `\t\t# ${nftComment(c)}\n`;
  s += `\t\ttype ${type}\n\t\tflags interval\n`;
  s += elementsBlock(cidrs, "\t\t");
  return `${s}\t}\n`;
}

function dynSet(name: string, family: 4 | 6, withService: boolean, comment: string): string {
  const addr = family === 4 ? "ipv4_addr" : "ipv6_addr";
  const type = withService ? `${addr} . inet_proto . inet_service` : addr;
  return `\tset ${name} {\n\t\t# ${nftComment(comment)}\n\t\ttype ${type}\n\t\tflags interval,timeout\n\t}\n`;
}

/** The protocol/port match of a rule for one family ("" when the rule matches every protocol). */
function serviceMatch(r: RulePlan, family: 4 | 6): string {
  if (r.allProtocols) return "";
  const icmp = family === 4 ? "icmp" : "ipv6-icmp";
  const protos = r.services.map((s) => (s.proto === "icmp" ? icmp : s.proto));
  const ports = r.services[0]?.ports ?? null;
  if (ports === null) return protos.length === 1 ? `meta l4proto ${protos[0] ?? ""}` : `meta l4proto { ${protos.join(", ")} }`;
  const pt = ports.length === 1 && ports[0] ? portText(ports[0]) : `{ ${ports.map(portText).join(", ")} }`;
  if (protos.length === 1) return `${protos[0] ?? ""} dport ${pt}`;
  return `meta l4proto { ${protos.join(", ")} } th dport ${pt}`;
}

interface Ctx {
  readonly plan: Plan;
  readonly group: number;
  readonly table: string;
}

/** ` counter name "c" <verdict>` for a rule (or for a pseudo-rule like `default` / `dns`). */
function verdict(ctx: Ctx, counter: string, logName: string, action: "allow" | "deny", monitor: boolean): string {
  const log = `log prefix "${logPrefix(logName)}" group ${ctx.group}`;
  if (action === "allow") return `counter name "${counter}" accept`;
  return monitor ? `counter name "${counter}" ${log} accept` : `counter name "${counter}" ${log} jump deny`;
}

function join(...parts: string[]): string {
  return parts.filter((p) => p !== "").join(" ");
}

function ruleBlock(ctx: Ctx, r: RulePlan): string[] {
  const rule = r.rule;
  const head = `# rule '${nftComment(rule.name)}' (${rule.action}${rule.mode === "monitor" && rule.action === "deny" ? ", monitor: log and accept" : ""})`;
  if (!r.active) return [`# rule '${nftComment(rule.name)}' inactive in phase '${nftComment(ctx.plan.phase ?? "")}'`];
  const out = [head];
  if (r.services.length === 0) return [...out, "# matches nothing: icmp with ports (decide() never matches it)"];
  const v = verdict(ctx, counterName(rule), rule.name, rule.action, rule.mode === "monitor");
  const i = rule.order;
  for (const family of [4, 6] as const) {
    const ip = family === 4 ? "ip" : "ip6";
    const svc = serviceMatch(r, family);
    if ((family === 4 ? r.v4 : r.v6).length) out.push(join(`${ip} daddr @s${i}_${family}`, svc, v));
    if (r.any) out.push(join(`${ip} daddr != @sp${family}`, svc, v));
  }
  const dyn = dynamicSetNames(ctx.plan.policy, rule);
  if (dyn && r.dynamicNames.length) {
    out.push(`ip daddr . meta l4proto . th dport @${dyn.v4} ${v}`);
    out.push(`ip6 daddr . meta l4proto . th dport @${dyn.v6} ${v}`);
    if (dyn.icmp4) out.push(`meta l4proto icmp ip daddr @${dyn.icmp4} ${v}`);
    if (dyn.icmp6) out.push(`meta l4proto ipv6-icmp ip6 daddr @${dyn.icmp6} ${v}`);
  } else if (r.dynamicNames.length) {
    out.push(`# names ${nftComment(r.dynamicNames.join(", "))}: refused by the DNS guard; no address to match here`);
  }
  return out;
}

function declarations(ctx: Ctx): string {
  const { plan } = ctx;
  let s = "";
  s += `\tcounter default {\n\t\tcomment "default: ${plan.policy.default}"\n\t}\n`;
  s += `\tcounter dns_upstreams {\n\t\tcomment "DNS to dns.upstreams"\n\t}\n`;
  s += `\tcounter dns {\n\t\tcomment "DNS to anything but dns.upstreams"\n\t}\n`;
  for (const r of plan.rules) {
    if (!r.active) continue;
    s += `\tcounter ${counterName(r.rule)} {\n\t\tcomment "${nftComment(`rule ${r.rule.name}`)}"\n\t}\n`;
  }
  if (plan.rules.some((r) => r.active && r.any)) {
    const note = "special-purpose ranges minus internal: any and names never reach them";
    s += addrSet("sp4", 4, intervalsToCidrs(4, plan.special4), [note]);
    s += addrSet("sp6", 6, intervalsToCidrs(6, plan.special6), [note]);
  }
  for (const r of plan.rules) {
    const i = r.rule.order;
    if (r.active) {
      for (const family of [4, 6] as const) {
        const cidrs = family === 4 ? r.v4 : r.v6;
        if (!cidrs.length) continue;
        const comments = [`rule ${r.rule.name}: literal addresses and networks`];
        for (const p of r.pins) {
          const fam = p.addrs.filter((a) => (family === 4) === !a.includes(":"));
          if (fam.length) comments.push(`pinned at compile time (--resolve): ${p.name} -> ${fam.join(", ")}; re-run compile when it changes`);
        }
        s += addrSet(`s${i}_${family}`, family, cidrs, comments);
      }
    }
    const dyn = dynamicSetNames(plan.policy, r.rule);
    if (dyn && r.dynamicNames.length) {
      const what = `rule ${r.rule.name}: filled by the DNS guard for ${r.dynamicNames.join(", ")}`;
      s += dynSet(dyn.v4, 4, true, what);
      s += dynSet(dyn.v6, 6, true, what);
      if (dyn.icmp4) s += dynSet(dyn.icmp4, 4, false, `${what} (icmp)`);
      if (dyn.icmp6) s += dynSet(dyn.icmp6, 6, false, `${what} (icmp)`);
    }
  }
  return s;
}

function egressChain(ctx: Ctx, opts: CompileOptions): string {
  const { plan } = ctx;
  const policy = plan.policy;
  const hook = opts.hook ?? "output";
  const monitor = policy.mode === "monitor";
  const lines: string[] = ["ct state established,related accept"];
  if (hook === "output") {
    lines.push("# IPv6 neighbour discovery: without it no IPv6 neighbour is reachable at all");
    lines.push("icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept");
    const ups = policy.dns.upstreams ?? [];
    if (ups.length) {
      const els = ups.flatMap((u) => [`${u.address} . udp . ${u.port}`, `${u.address} . tcp . ${u.port}`]);
      const v4 = els.filter((_, k) => ups[Math.floor(k / 2)]?.family === 4);
      const v6 = els.filter((_, k) => ups[Math.floor(k / 2)]?.family === 6);
      if (v4.length) lines.push(`ip daddr . meta l4proto . th dport { ${v4.join(", ")} } counter name "dns_upstreams" accept`);
      if (v6.length) lines.push(`ip6 daddr . meta l4proto . th dport { ${v6.join(", ")} } counter name "dns_upstreams" accept`);
    } else {
      lines.push("# dns.upstreams is not set: no resolver is allowed (set dns.upstreams, or compile with the CLI, which uses /etc/resolv.conf)");
    }
  } else {
    lines.push("# DNS: the sandbox's only resolver is the DNS guard on the host side (input path, never forwarded)");
  }
  lines.push(`meta l4proto . th dport { udp . 53, tcp . 53, tcp . 853 } ${verdict(ctx, "dns", "dns", "deny", monitor)}`);
  for (const r of plan.rules) lines.push(...ruleBlock(ctx, r));
  lines.push("# default");
  if (policy.default === "allow") lines.push(`counter name "default" log prefix "default" group ${ctx.group} accept`);
  else lines.push(verdict(ctx, "default", "default", "deny", monitor));
  return `\tchain egress {\n${lines.map((l) => `\t\t${l}\n`).join("")}\t}\n`;
}

function baseChain(opts: CompileOptions): string {
  const hook = opts.hook ?? "output";
  const iface = opts.iface;
  const lines: string[] = [];
  const ifq = iface === undefined ? "" : `"${iface.replace(/["\\]/g, "")}"`;
  if (hook === "output") {
    lines.push(`type filter hook output priority filter; policy ${iface === undefined ? "drop" : "accept"};`);
    lines.push(`oifname "lo" accept`);
    lines.push(iface === undefined ? "jump egress" : `oifname ${ifq} jump egress`);
  } else {
    lines.push(`type filter hook forward priority filter; policy ${iface === undefined ? "drop" : "accept"};`);
    lines.push(iface === undefined ? "jump egress" : `iifname ${ifq} jump egress`);
  }
  return `\tchain ${hook} {\n${lines.map((l) => `\t\t${l}\n`).join("")}\t}\n`;
}

export function compileNftables(policy: Policy, opts: CompileOptions): CompileOutput {
  if (opts.hook !== undefined && opts.hook !== "output" && opts.hook !== "forward") {
    throw new Error(`unknown hook ${String(opts.hook)}`);
  }
  const plan = buildPlan(policy, opts);
  const table = tableNameFor(policy, opts);
  const ctx: Ctx = { plan, group: opts.logGroup ?? DEFAULT_LOG_GROUP, table };
  const hook = opts.hook ?? "output";
  let text = `# clawfence nftables ruleset for policy '${nftComment(policy.name)}' (IR ${policy.hash.slice(0, 12)})\n`;
  text += `# hook ${hook}${opts.iface ? `, interface ${nftComment(opts.iface)}` : ""}${plan.phase ? `, phase ${nftComment(plan.phase)}` : ""}; layout: docs/nft-layout.md\n`;
  text += `# load with: nft -f FILE (one transaction: the table is replaced atomically)\n`;
  text += `table inet ${table} {}\ndelete table inet ${table}\ntable inet ${table} {\n`;
  text += declarations(ctx);
  text += `\tchain deny {\n\t\tmeta l4proto tcp reject with tcp reset\n\t\treject with icmpx admin-prohibited\n\t}\n`;
  text += egressChain(ctx, opts);
  text += baseChain(opts);
  text += "}\n";

  const notes = pinNotes(plan);
  for (const r of plan.rules) {
    if (!r.active) notes.push(`rule '${r.rule.name}' is inactive in phase '${plan.phase ?? ""}': not compiled`);
    if (r.active && r.dynamicNames.length) {
      if (dynamicSetNames(policy, r.rule)) {
        notes.push(`rule '${r.rule.name}': ${r.dynamicNames.join(", ")} stay dynamic: the DNS guard (clawfence run/enforce) fills sets d${r.rule.order}_*; without it they reach nothing (or compile with --resolve)`);
      } else {
        notes.push(`rule '${r.rule.name}': ${r.dynamicNames.join(", ")} are denied by the DNS guard (refused), not by an address match here (or compile with --resolve to pin them)`);
      }
    }
  }
  if (hook === "output" && !(policy.dns.upstreams ?? []).length) notes.push("dns.upstreams is empty: DNS is blocked");
  return { text, notes };
}

export const backend: Backend = {
  name: "nftables",
  description: "nftables: one table inet replaced atomically with nft -f; dynamic name sets for the DNS guard",
  compile: compileNftables,
};
