/**
 * runtime/enforce/frame — the statements `clawfence enforce` adds to the compiled policy table
 * (compile/nftables) in the same `nft -f` transaction, so the table and its frame always
 * appear, change and go together. Written up in docs/enforce.md.
 *
 * Host mode (output hook): the compiled `output` base chain is replaced (flushed and
 * re-declared inside the transaction) by one that selects the agent's traffic — by socket
 * owner (`meta skuid`, from `workload.host.users`) or all of it — lets it reach the DNS guard,
 * rejects every other DNS (port 53/853 anywhere, loopback included, and the upstreams on any
 * port: only the guard's own uid may ask them), keeps loopback, and jumps to the compiled
 * `egress` chain. A nat chain redirects the agent's port-53 DNS, to whatever resolver it was
 * sent, to the guard (nothing to configure in the agent). Whole-host mode also gets an input
 * chain: loopback, established/related, IPv6 neighbour discovery and the `--allow-inbound`
 * management ports; everything else inbound is dropped and logged (seed 001's INPUT DROP).
 *
 * Bridge / interface mode (forward hook, `iifname IFACE` in the compiled table): IPv6 from
 * and to the interface is dropped, the host itself is reachable from the interface only at
 * the guard, port-53 DNS to any address is redirected to the guard, and a bridge clawfence
 * created gets masquerade for its subnet.
 *
 * Pure text generation; names of the compiled table's chains and counters come from
 * docs/nft-layout.md (`egress`, `deny`, counter `dns`).
 */
import type { Upstream } from "../../policy/ir.ts";

export interface Inbound {
  readonly protocol: "tcp" | "udp";
  readonly port: number;
  /** source network (CIDR text), null: any */
  readonly from: string | null;
  readonly family: 4 | 6 | null;
}

export interface GuardAddress {
  /** an IPv4 address of this host (loopback in host mode, the interface's address otherwise) */
  readonly address: string;
  readonly port: number;
}

export interface HostFrameOptions {
  readonly table: string;
  /** uids whose traffic the policy applies to; null: the whole host */
  readonly users: readonly number[] | null;
  readonly guard: GuardAddress;
  /** uid of the enforcer (the guard's upstream queries); whole-host mode only */
  readonly guardUid: number;
  readonly upstreams: readonly Upstream[];
  readonly logGroup: number;
  /** monitor mode: the frame's DNS rejects log and accept instead */
  readonly monitor: boolean;
  /** whole-host mode: inbound management access (e.g. tcp/22) */
  readonly inbound: readonly Inbound[];
}

export interface IfaceFrameOptions {
  readonly table: string;
  readonly iface: string;
  readonly guard: GuardAddress;
  readonly logGroup: number;
  /** masquerade traffic from this IPv4 network leaving by another interface; null: none */
  readonly masquerade: string | null;
}

/** The NFLOG prefixes the frame logs under (besides the compiled `dns`), for the packet log. */
export const FRAME_PREFIXES = { inbound: "inbound", hostSide: "host-side", ipv6: "ipv6" } as const;

const q = (s: string): string => `"${s.replace(/["\\]/g, "")}"`;

function upstreamSets(ups: readonly Upstream[]): { v4: string | null; v6: string | null } {
  const els = (f: 4 | 6): string[] => ups.filter((u) => u.family === f).flatMap((u) => [`${u.address} . udp . ${u.port}`, `${u.address} . tcp . ${u.port}`]);
  const v4 = els(4);
  const v6 = els(6);
  return { v4: v4.length ? `{ ${v4.join(", ")} }` : null, v6: v6.length ? `{ ${v6.join(", ")} }` : null };
}

export function hostFrame(o: HostFrameOptions): string {
  const T = `inet ${o.table}`;
  const g = o.guard;
  const log = (prefix: string): string => `log prefix ${q(prefix)} group ${o.logGroup}`;
  const dnsDeny = `counter name "dns" ${log("dns")} ${o.monitor ? "accept" : "jump deny"}`;
  const ups = upstreamSets(o.upstreams);
  const uids = o.users === null ? null : `{ ${[...new Set(o.users)].sort((a, b) => a - b).join(", ")} }`;
  const out: string[] = [
    `# clawfence enforce: host frame (${o.users === null ? "whole host" : `uids ${uids ?? ""}`}); docs/enforce.md`,
    `flush chain ${T} output`,
    `add chain ${T} output { type filter hook output priority filter; policy ${o.users === null && !o.monitor ? "drop" : "accept"}; }`,
  ];
  const rule = (chain: string, text: string): void => void out.push(`add rule ${T} ${chain} ${text}`);
  if (uids !== null) rule("output", `meta skuid != ${uids} accept`);
  rule("output", `ip daddr ${g.address} meta l4proto . th dport { udp . ${g.port}, tcp . ${g.port} } accept`);
  if (uids === null) {
    // the guard asks the upstreams; nobody else may (a direct query would be a tunnel)
    if (ups.v4) rule("output", `meta skuid ${o.guardUid} ip daddr . meta l4proto . th dport ${ups.v4} accept`);
    if (ups.v6) rule("output", `meta skuid ${o.guardUid} ip6 daddr . meta l4proto . th dport ${ups.v6} accept`);
  }
  if (ups.v4) rule("output", `ip daddr . meta l4proto . th dport ${ups.v4} ${dnsDeny}`);
  if (ups.v6) rule("output", `ip6 daddr . meta l4proto . th dport ${ups.v6} ${dnsDeny}`);
  rule("output", `meta l4proto . th dport { udp . 53, tcp . 53, tcp . 853 } ${dnsDeny}`);
  rule("output", `oifname "lo" accept`);
  rule("output", "jump egress");

  // DNS sent to any resolver on port 53 goes to the guard instead
  out.push(`add chain ${T} dns_redirect { type nat hook output priority -100; policy accept; }`);
  const who = uids !== null ? `meta skuid ${uids}` : `meta skuid != ${o.guardUid}`;
  rule("dns_redirect", `${who} ip daddr != ${g.address} meta l4proto { udp, tcp } th dport 53 dnat ip to ${g.address}:${g.port}`);

  if (uids === null) {
    out.push(`add counter ${T} inbound { comment "inbound traffic not allowed by --allow-inbound" }`);
    out.push(`add chain ${T} input { type filter hook input priority filter; policy accept; }`);
    rule("input", `iifname "lo" accept`);
    rule("input", "ct state established,related accept");
    rule("input", "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, nd-redirect } accept");
    for (const i of o.inbound) {
      const src = i.from === null ? "" : `${i.family === 6 ? "ip6" : "ip"} saddr ${i.from} `;
      rule("input", `${src}${i.protocol} dport ${i.port} accept`);
    }
    rule("input", `counter name "inbound" ${log(FRAME_PREFIXES.inbound)} ${o.monitor ? "accept" : "drop"}`);
  }
  return `${out.join("\n")}\n`;
}

export function ifaceFrame(o: IfaceFrameOptions): string {
  const T = `inet ${o.table}`;
  const i = q(o.iface);
  const g = o.guard;
  const log = (prefix: string): string => `log prefix ${q(prefix)} group ${o.logGroup}`;
  const out: string[] = [
    `# clawfence enforce: frame for interface ${o.iface}; docs/enforce.md`,
    `add counter ${T} host_side { comment "from ${o.iface} to this host, not the DNS guard" }`,
    `add counter ${T} ipv6 { comment "IPv6 from ${o.iface}" }`,
    `add counter ${T} dns_redirect { comment "DNS from ${o.iface} to any resolver, sent to the guard" }`,
  ];
  const rule = (chain: string, text: string): void => void out.push(`add rule ${T} ${chain} ${text}`);
  out.push(`add chain ${T} host_input { type filter hook input priority filter - 5; policy accept; }`);
  rule("host_input", `iifname ${i} ct state established,related accept`);
  rule("host_input", `iifname ${i} ip daddr ${g.address} meta l4proto . th dport { udp . ${g.port}, tcp . ${g.port} } accept`);
  rule("host_input", `iifname ${i} counter name "host_side" ${log(FRAME_PREFIXES.hostSide)} drop`);
  out.push(`add chain ${T} v6_off { type filter hook forward priority filter - 5; policy accept; }`);
  rule("v6_off", `iifname ${i} meta nfproto ipv6 counter name "ipv6" ${log(FRAME_PREFIXES.ipv6)} drop`);
  rule("v6_off", `oifname ${i} meta nfproto ipv6 drop`);
  out.push(`add chain ${T} dns_redirect { type nat hook prerouting priority dstnat; policy accept; }`);
  rule("dns_redirect", `iifname ${i} ip daddr != ${g.address} meta l4proto { udp, tcp } th dport 53 counter name "dns_redirect" dnat ip to ${g.address}:${g.port}`);
  if (o.masquerade !== null) {
    out.push(`add chain ${T} nat_out { type nat hook postrouting priority srcnat; policy accept; }`);
    rule("nat_out", `ip saddr ${o.masquerade} oifname != ${i} masquerade`);
  }
  return `${out.join("\n")}\n`;
}
