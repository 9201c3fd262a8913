/**
 * runtime/sandbox/firewall — the sandbox's own nftables table on the host side: what the
 * sandbox may reach on the host (only the guard and the proxy), NAT for its egress, the
 * transparent redirect of ports 80/443 to the proxy, and IPv6 blocked outright.
 *
 * The policy itself (which destinations) is the compiled policy table (compile/nftables with
 * hook forward, keyed to the host-side veth); this table only frames it. Text is built by a
 * pure function and applied by the caller in the same `nft -f` transaction as the policy
 * table, so the sandbox never exists with one and not the other.
 */

export interface HostSideOptions {
  readonly table: string;
  readonly hostIf: string;
  readonly hostAddr: string;
  readonly sandboxAddr: string;
  readonly dnsPort: number;
  /** TCP ports on hostAddr the sandbox may connect to (proxy listeners) */
  readonly proxyPorts: readonly number[];
  /** transparent redirect: tcp 443 -> tlsPort, tcp 80 -> httpPort; absent: off */
  readonly transparent?: { readonly tlsPort: number; readonly httpPort: number };
  readonly logGroup: number;
  /** the rule name logged for packets dropped at the host side */
  readonly logPrefix: string;
}

const q = (s: string): string => `"${s.replace(/["\\]/g, "")}"`;

export function hostSideTable(o: HostSideOptions): string {
  const tcpPorts = [o.dnsPort, ...o.proxyPorts].join(", ");
  const lines = [
    `table inet ${o.table} {`,
    `  chain input {`,
    `    type filter hook input priority filter - 5; policy accept;`,
    `    iifname ${q(o.hostIf)} ct state established,related accept`,
    `    iifname ${q(o.hostIf)} ip daddr ${o.hostAddr} udp dport ${o.dnsPort} accept`,
    `    iifname ${q(o.hostIf)} ip daddr ${o.hostAddr} tcp dport { ${tcpPorts} } accept`,
    ...(o.transparent ? [`    iifname ${q(o.hostIf)} ct status dnat tcp dport { ${o.transparent.tlsPort}, ${o.transparent.httpPort} } accept`] : []),
    `    iifname ${q(o.hostIf)} counter log group ${o.logGroup} prefix ${q(o.logPrefix)} drop`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter - 5; policy accept;`,
    `    iifname ${q(o.hostIf)} meta nfproto ipv6 counter log group ${o.logGroup} prefix ${q(o.logPrefix)} drop`,
    `    oifname ${q(o.hostIf)} meta nfproto ipv6 drop`,
    `  }`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    ...(o.transparent
      ? [
          `    iifname ${q(o.hostIf)} ip daddr != ${o.hostAddr} tcp dport 443 redirect to :${o.transparent.tlsPort}`,
          `    iifname ${q(o.hostIf)} ip daddr != ${o.hostAddr} tcp dport 80 redirect to :${o.transparent.httpPort}`,
        ]
      : []),
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    ip saddr ${o.sandboxAddr} oifname != ${q(o.hostIf)} masquerade`,
    `  }`,
    `}`,
  ];
  return `${lines.join("\n")}\n`;
}
