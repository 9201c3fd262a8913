/**
 * match/decision — the value every decision is: verdict, enforced, the rule, a reason code.
 *
 * Map: `decide()` (match/decide.ts) produces a `Decision` for a `Flow`; the resolver, the
 * proxy, explain, verify and the compilers' differential tests all consume it. The set
 * of reason codes is closed: add one here, and the exhaustive switches elsewhere fail to
 * compile until they handle it.
 *
 * Pure: types and tiny constructors only, no I/O.
 */
import type { Action, FlowProtocol } from "../policy/ir.ts";

export const REASONS = [
  "rule-allow", // an allow rule matched
  "rule-deny", // a deny rule matched
  "default-allow", // no rule matched, policy default is allow
  "default-deny", // no rule matched, policy default is deny
  "special-range", // the address is special-purpose (loopback, metadata, private, ...) outside `internal`
  "dns-exfiltration", // a name looked like data smuggled through DNS
  "sni-mismatch", // the TLS SNI differs from the name that was allowed
  "phase-inactive", // only a rule of another phase would have matched
  "no-sni", // a TLS connection without SNI where the policy requires one
  "malformed", // the request could not be parsed; nothing to decide on
] as const;
export type Reason = (typeof REASONS)[number];

/** "default" when no rule decided */
export type RuleRef = string;

export interface Decision {
  readonly verdict: Action;
  /** false only when a deny was downgraded by monitor mode ("would deny") */
  readonly enforced: boolean;
  readonly rule: RuleRef;
  readonly reason: Reason;
}

/**
 * What is being decided. `ip` is a parsed address (see match/ip.ts), `names` are normalized
 * names the destination is known by (the name asked for, or the names whose DNS answers
 * contained `ip`). `port` is absent for ICMP, and absent when asking "any port" (a DNS
 * question). `phase` absent means the policy's first phase.
 */
export interface Flow {
  readonly protocol: FlowProtocol;
  readonly port?: number;
  readonly ip?: IpAddr;
  readonly names?: readonly string[];
  readonly phase?: string;
}

/** A parsed IP address: family and value as an unsigned integer. */
export interface IpAddr {
  readonly family: 4 | 6;
  readonly value: bigint;
}

export function isReason(x: string): x is Reason {
  return (REASONS as readonly string[]).includes(x);
}
