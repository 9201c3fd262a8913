/**
 * runtime/nflog/map — from a logged packet to a flow event: which rule an NFLOG prefix names,
 * with what verdict, mode and reason, and the `FlowEvent` (kind "packet") that says so.
 *
 * Map: `prefixMapperFor(policy, extra)` builds the `mapPrefix` function the reader takes
 * (rule names as compile/nftables wrote them with `logPrefix()`, plus the chain's own
 * `default` and `dns`, plus prefixes the runner logs elsewhere, e.g. its host-side frame);
 * `packetEvent(packet, ip, mapping, ctx)` builds the event.
 *
 * Reason codes (closed set, match/decision.ts; nothing added here):
 *   a rule's prefix      -> deny: "rule-deny", allow: "rule-allow"
 *   "default"            -> deny: "default-deny", allow: "default-allow" (default: allow is logged too)
 *   "dns"                -> rule "dns", "rule-deny" (DNS to anything but dns.upstreams is the chain's own deny)
 *   extra prefixes       -> as the caller says (default "rule-deny")
 *   unknown prefix       -> rule = the prefix, deny, enforced, "rule-deny", detail says it is unknown
 *                           (fail closed: our log statements sit on drops; a record is never lost)
 * Pure: no I/O, no clock (the time comes with the packet).
 */
import type { Reason } from "../../match/decision.ts";
import type { Action, Policy } from "../../policy/ir.ts";
import { logPrefix } from "../../compile/nftables/layout.ts";
import type { FlowEvent } from "../events.ts";
import type { IpPacket, NflogPacket } from "./parse.ts";

/** What an NFLOG prefix stands for. `verdict` defaults to "deny", `reason` to the table above. */
export interface PrefixMapping {
  readonly rule: string;
  readonly enforced: boolean;
  readonly verdict?: Action;
  readonly reason?: Reason;
}

export type PrefixMapper = (prefix: string) => PrefixMapping | null;

/** The rule name used when a log statement had no prefix at all. */
export const UNLABELLED = "unlabelled";

/**
 * `mapPrefix` for a policy as compiled by compile/nftables: every rule by its log prefix
 * (quotes and control characters made `_`, cut to 127 bytes, as `logPrefix()` does), then
 * `default` and `dns` (the chain's own; they win over a rule that happens to carry the same
 * name), then `extra` (the runner's own prefixes, e.g. `host-side`), which win over both.
 * Two rules with the same prefix: the first in decision order is named (the log cannot say).
 */
export function prefixMapperFor(policy: Policy, extra: Readonly<Record<string, PrefixMapping>> = {}): PrefixMapper {
  const monitor = policy.mode === "monitor";
  const table = new Map<string, PrefixMapping>();
  for (const r of policy.rules) {
    const p = logPrefix(r.name);
    if (!table.has(p)) table.set(p, { rule: r.name, enforced: r.action === "allow" || r.mode !== "monitor", verdict: r.action });
  }
  table.set(
    "default",
    policy.default === "allow"
      ? { rule: "default", enforced: true, verdict: "allow", reason: "default-allow" }
      : { rule: "default", enforced: !monitor, verdict: "deny", reason: "default-deny" },
  );
  table.set("dns", { rule: "dns", enforced: !monitor, verdict: "deny", reason: "rule-deny" });
  for (const [p, m] of Object.entries(extra)) table.set(p, m);
  return (prefix) => table.get(prefix) ?? null;
}

export interface EventContext {
  readonly sandbox?: string;
  readonly policyHash?: string;
  /** time of the record in ms when the packet carries none (NFULA_TIMESTAMP or pcap time) */
  readonly fallbackTimeMs: number;
}

function reasonFor(m: PrefixMapping, verdict: Action): Reason {
  if (m.reason !== undefined) return m.reason;
  if (m.rule === "default") return verdict === "allow" ? "default-allow" : "default-deny";
  return verdict === "allow" ? "rule-allow" : "rule-deny";
}

/** Date's range is +-8.64e15 ms; a kernel timestamp outside it (or 0, "not set") is not used. */
function validTime(ms: number | null): number | null {
  return ms !== null && Number.isFinite(ms) && ms > 0 && ms <= 8.64e15 ? ms : null;
}

function clientText(ip: IpPacket): string {
  if (ip.srcPort === null) return ip.src;
  return ip.family === 6 ? `[${ip.src}]:${ip.srcPort}` : `${ip.src}:${ip.srcPort}`;
}

/**
 * The flow event for one logged packet. `mapping` null means the prefix is unknown (see the
 * header). `ip` null means the payload was missing or unreadable: the event still names the
 * rule (the prefix is known) with address, port and protocol null, and `why` in `detail`.
 * Ports are null for ICMP, other protocols and non-first fragments; the ICMP type, the IP
 * protocol of others and the socket's uid go to `detail`.
 */
export function packetEvent(pkt: NflogPacket, ip: IpPacket | null, mapping: PrefixMapping | null, ctx: EventContext, why?: string): FlowEvent {
  const m: PrefixMapping = mapping ?? { rule: pkt.prefix === "" ? UNLABELLED : pkt.prefix, enforced: true, verdict: "deny", reason: "rule-deny" };
  const verdict = m.verdict ?? "deny";
  const details: string[] = [];
  if (mapping === null) details.push(`NFLOG prefix '${pkt.prefix}' is not known to the policy`);
  if (ip === null) details.push(`packet not readable: ${why ?? "no payload"}`);
  if (ip?.l4 === "icmp" && ip.icmpType !== null) details.push(`${ip.family === 6 ? "icmpv6" : "icmp"} type ${ip.icmpType} code ${ip.icmpCode ?? 0}`);
  if (ip !== null && ip.l4 === null) details.push(`ip protocol ${ip.protocol}`);
  if (ip?.fragment) details.push("fragment without transport header");
  if (pkt.uid !== null) details.push(`uid ${pkt.uid}`);
  const timeMs = validTime(pkt.timeMs) ?? validTime(ctx.fallbackTimeMs) ?? 0;
  return {
    ts: new Date(timeMs).toISOString(),
    kind: "packet",
    name: null,
    dst_ip: ip?.dst ?? null,
    dst_port: ip !== null && (ip.l4 === "tcp" || ip.l4 === "udp") ? ip.dstPort : null,
    proto: ip?.l4 ?? null,
    verdict,
    enforced: verdict === "allow" ? true : m.enforced,
    rule: m.rule,
    reason: reasonFor(m, verdict),
    ...(ip !== null ? { client: clientText(ip) } : {}),
    ...(details.length ? { detail: details.join("; ") } : {}),
    ...(ctx.sandbox !== undefined ? { sandbox: ctx.sandbox } : {}),
    ...(ctx.policyHash !== undefined ? { policy_hash: ctx.policyHash } : {}),
  };
}
