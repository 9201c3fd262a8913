/**
 * compile/nftables/layout — the names and shapes of the nftables table clawfence emits,
 * shared by the backend (which declares them) and the runtime's DNS guard (which fills the
 * dynamic sets). The contract is written up in docs/nft-layout.md.
 *
 * Map: policy + rule -> table, counter, set names; a DNS grant (from `decideName`) + an
 * answer address -> `DynamicElement`s -> `nft -f` text. Pure text generation: the runtime
 * runs `nft`. Imports no I/O and no clock (the caller passes timeouts in seconds).
 */
import type { Policy, PortRange, Rule } from "../../policy/ir.ts";
import type { CompileOptions } from "../backend.ts";

/** Longest NFLOG prefix the kernel keeps (NF_LOG_PREFIXLEN 128, with the NUL). */
export const LOG_PREFIX_MAX = 127;
/** Counter and set names are kept well under nft's 256-byte object name limit. */
const NAME_MAX = 64;

export function tableNameFor(policy: Policy, opts: Pick<CompileOptions, "tableName">): string {
  return opts.tableName ?? `clawfence_${policy.name.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

/**
 * The named counter of a rule: the rule name itself when it is a valid nft identifier
 * (letters, digits, `_`, `-`, `.`, starting with a letter), otherwise `r<order>_` + a
 * sanitized name. Never `default`, `dns` or `dns_upstreams` (reserved for the chain's own).
 */
export function counterName(rule: Pick<Rule, "name" | "order">): string {
  const clean = rule.name.replace(/[^A-Za-z0-9_.-]/g, "_");
  const reserved = clean === "default" || clean === "dns" || clean === "dns_upstreams";
  if (clean === rule.name && /^[A-Za-z]/.test(clean) && clean.length <= NAME_MAX && !reserved) return clean;
  return `r${rule.order}_${clean}`.slice(0, NAME_MAX);
}

/** An NFLOG prefix: the name with quotes, backslashes and control characters made `_`, at most 127 bytes. */
export function logPrefix(name: string): string {
  // eslint-disable-next-line no-control-regex
  let s = name.replace(/["\\\u0000-\u001f\u007f]/g, "_");
  while (Buffer.byteLength(s, "utf8") > LOG_PREFIX_MAX) s = s.slice(0, -1);
  return s;
}

/** A comment string nft accepts inside `comment "..."` or after `#`: no quotes, no newlines. */
export function nftComment(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/["\\\u0000-\u001f\u007f]/g, "_").slice(0, 120);
}

export interface DynamicSetNames {
  /** `ipv4_addr . inet_proto . inet_service`, flags interval, timeout */
  readonly v4: string;
  readonly v6: string;
  /** address-only sets for ICMP grants; null when the rule cannot allow ICMP */
  readonly icmp4: string | null;
  readonly icmp6: string | null;
}

/** Does this rule's (protocol, ports) include ICMP? Ports make a rule tcp/udp only. */
export function ruleAllowsIcmp(rule: Pick<Rule, "protocol" | "ports">): boolean {
  return rule.protocol === "icmp" || (rule.protocol === "any" && rule.ports === null);
}

export function ruleHasNames(rule: Pick<Rule, "dests">): boolean {
  return rule.dests.some((d) => d.kind === "domain" || d.kind === "wildcard");
}

/**
 * The dynamic sets of a rule with domain or wildcard entries that the DNS guard programs:
 * allow rules (their `grants`) and monitor-mode deny rules (their `monitored` slices: the
 * would-deny traffic passes, logged). null for any other rule: an enforced deny's names are
 * refused by the guard, so nothing would fill them.
 * `_policy` is part of the signature so the layout may depend on policy-wide settings later.
 */
export function dynamicSetNames(_policy: Policy, rule: Rule): DynamicSetNames | null {
  if (!ruleHasNames(rule) || (rule.action === "deny" && rule.mode !== "monitor")) return null;
  const i = rule.order;
  const icmp = ruleAllowsIcmp(rule);
  return { v4: `d${i}_4`, v6: `d${i}_6`, icmp4: icmp ? `d${i}_4i` : null, icmp6: icmp ? `d${i}_6i` : null };
}

/** One element for the DNS guard to add: what, where, for how long. */
export interface DynamicElement {
  readonly set: string;
  readonly family: 4 | 6;
  /** canonical address text (no brackets) */
  readonly ip: string;
  readonly protocol: "tcp" | "udp" | "icmp";
  /** null for ICMP (address-only set) */
  readonly portRange: PortRange | null;
  readonly timeoutSeconds: number;
}

/** The shape of one `decideName().grants` (or `.monitored`) entry the guard passes in. */
export interface Grant {
  readonly rule: string;
  readonly order: number;
  readonly protocol: "tcp" | "udp" | "icmp";
  readonly ports: readonly PortRange[] | null;
}

const ALL_PORTS: PortRange = { from: 1, to: 65535 };

/**
 * The elements that open `grant` for `ip` (family 4 or 6, canonical text) for `timeoutSeconds`.
 * Returns [] when the granting rule has no dynamic sets (a grant from a rule without names
 * needs nothing: its static sets already cover the address) — the guard need not special-case it.
 */
export function elementsForGrant(
  policy: Policy,
  grant: Grant,
  ip: { readonly family: 4 | 6; readonly text: string },
  timeoutSeconds: number,
): DynamicElement[] {
  const rule = policy.rules[grant.order];
  if (!rule || rule.name !== grant.rule) return [];
  const sets = dynamicSetNames(policy, rule);
  if (!sets) return [];
  const timeout = Math.max(1, Math.ceil(timeoutSeconds));
  if (grant.protocol === "icmp") {
    const set = ip.family === 4 ? sets.icmp4 : sets.icmp6;
    return set ? [{ set, family: ip.family, ip: ip.text, protocol: "icmp", portRange: null, timeoutSeconds: timeout }] : [];
  }
  const set = ip.family === 4 ? sets.v4 : sets.v6;
  return (grant.ports ?? [ALL_PORTS]).map((r) => ({
    set,
    family: ip.family,
    ip: ip.text,
    protocol: grant.protocol,
    portRange: r,
    timeoutSeconds: timeout,
  }));
}

export function portText(r: PortRange): string {
  return r.from === r.to ? String(r.from) : `${r.from}-${r.to}`;
}

/** `nft -f` text adding `elements` to table `table` (family inet), one line per element. */
export function renderSetElements(table: string, elements: readonly DynamicElement[]): string {
  let out = "";
  for (const e of elements) {
    const key = e.portRange === null ? e.ip : `${e.ip} . ${e.protocol} . ${portText(e.portRange)}`;
    out += `add element inet ${table} ${e.set} { ${key} timeout ${Math.max(1, Math.ceil(e.timeoutSeconds))}s }\n`;
  }
  return out;
}
