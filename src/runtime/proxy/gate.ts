/**
 * runtime/proxy/gate — the proxy's decision for one requested destination: name, then
 * addresses, then the exact list of addresses it may dial.
 *
 * Map: a listener parses what the client asked for into a `Target` (target.ts) and calls
 * `authorize`. A literal address is decided as an address (`{ip, port}`, no names: a rule
 * that lists it literally matches, `any` and names do not reach special ranges). A name is
 * decided as a name first (`{names, port}`), so a denied name is never even resolved; then
 * each resolved address is classified — special-purpose outside `internal` is refused with
 * `special-range` — and decided again with the name attached (`{ip, names, port}`). The
 * result lists only the addresses that passed, and the listener dials exactly those: there
 * is no second lookup, so DNS rebinding cannot switch the target after the check.
 *
 * Monitor mode is the decider's business: a deny with `enforced: false` lets the flow
 * through, and the proxy's own `special-range` check follows the policy's mode the same way.
 * Imports match/ (pure) and the injected resolver; no sockets.
 */
import type { Decision, Flow, IpAddr } from "../../match/decision.ts";
import { compileSpecialCheck, classifySpecial } from "../../match/special.ts";
import { formatIp } from "../../match/ip.ts";
import type { Policy } from "../../policy/ir.ts";
import type { Target } from "./target.ts";
import { ResolveError, type NameResolver } from "./resolver.ts";

/** What the proxy needs of match/decide.ts's `Decider`. */
export interface FlowDecider {
  decide(flow: Flow): Decision;
}

export type Authorization =
  /** go ahead: dial `addresses` in order (each one was decided; `decision` is the first one's) */
  | { readonly kind: "allow"; readonly decision: Decision; readonly name: string | null; readonly addresses: readonly IpAddr[]; readonly detail?: string }
  /** refused; `address` is the address the refusal is about, if any */
  | { readonly kind: "deny"; readonly decision: Decision; readonly name: string | null; readonly address: IpAddr | null; readonly detail?: string }
  /** the name was allowed but has no address (or DNS failed): an upstream failure, 502 */
  | { readonly kind: "unresolved"; readonly decision: Decision; readonly name: string; readonly code: string; readonly detail: string };

export interface GateOptions {
  readonly policy: Policy;
  readonly decider: FlowDecider;
  readonly resolver: NameResolver;
  readonly phase?: string | (() => string | undefined);
}

export interface Gate {
  authorize(target: Target): Promise<Authorization>;
  /** a second name for an address target (the SNI inside a tunnel to a literal address) */
  decideName(name: string, port: number): Decision;
  /** the policy's answer for a deny the proxy itself finds (sni-mismatch, no-sni, special-range) */
  proxyDeny(rule: string, reason: Decision["reason"]): Decision;
}

export function createGate(opts: GateOptions): Gate {
  const { policy, decider, resolver } = opts;
  const special = compileSpecialCheck(policy.internal);
  const phaseNow = (): string | undefined => (typeof opts.phase === "function" ? opts.phase() : opts.phase);
  const withPhase = (f: Omit<Flow, "phase">): Flow => {
    const phase = phaseNow();
    return phase === undefined ? f : { ...f, phase };
  };
  const proxyDeny = (rule: string, reason: Decision["reason"]): Decision => ({ verdict: "deny", enforced: policy.mode === "enforce", rule, reason });
  const passes = (d: Decision): boolean => d.verdict === "allow" || !d.enforced;

  return {
    proxyDeny,
    decideName(name: string, port: number): Decision {
      return decider.decide(withPhase({ protocol: "tcp", port, names: [name] }));
    },
    async authorize(target: Target): Promise<Authorization> {
      const { host, port } = target;
      if (host.kind === "ip") {
        const d = decider.decide(withPhase({ protocol: "tcp", port, ip: host.ip }));
        return passes(d) ? { kind: "allow", decision: d, name: null, addresses: [host.ip] } : { kind: "deny", decision: d, name: null, address: host.ip };
      }
      const name = host.name;
      const nameDecision = decider.decide(withPhase({ protocol: "tcp", port, names: [name] }));
      if (!passes(nameDecision)) return { kind: "deny", decision: nameDecision, name, address: null };
      let addrs: readonly IpAddr[];
      try {
        addrs = (await resolver.resolve(name)).addresses;
      } catch (e) {
        const code = e instanceof ResolveError ? e.code : "CF_PROXY_DNS_FAILED";
        return { kind: "unresolved", decision: nameDecision, name, code, detail: e instanceof Error ? e.message : String(e) };
      }
      const allowed: IpAddr[] = [];
      const wouldDeny: IpAddr[] = [];
      let firstAllow: Decision | null = null;
      let firstWould: Decision | null = null;
      let refusal: { d: Decision; ip: IpAddr; detail?: string } | null = null;
      for (const ip of addrs) {
        let d: Decision;
        let detail: string | undefined;
        if (special(ip)) {
          const c = classifySpecial(ip);
          d = proxyDeny(nameDecision.verdict === "allow" ? nameDecision.rule : "default", "special-range");
          detail = `${name} resolved to ${formatIp(ip)}${c ? ` in ${c.range} (${c.name})` : ""}, outside internal`;
        } else {
          d = decider.decide(withPhase({ protocol: "tcp", port, ip, names: [name] }));
        }
        if (d.verdict === "allow") {
          allowed.push(ip);
          firstAllow ??= d;
        } else if (!d.enforced) {
          wouldDeny.push(ip);
          firstWould ??= d;
          refusal ??= detail === undefined ? { d, ip } : { d, ip, detail };
        } else {
          refusal ??= detail === undefined ? { d, ip } : { d, ip, detail };
        }
      }
      // a name that only passed because of monitor mode stays a would-deny, whatever its address says
      if (firstAllow) return { kind: "allow", decision: nameDecision.verdict === "allow" ? firstAllow : nameDecision, name, addresses: [...allowed, ...wouldDeny] };
      if (firstWould) {
        const base = { kind: "allow" as const, decision: firstWould, name, addresses: wouldDeny };
        return refusal?.detail === undefined ? base : { ...base, detail: refusal.detail };
      }
      if (refusal) {
        const base = { kind: "deny" as const, decision: refusal.d, name, address: refusal.ip };
        return refusal.detail === undefined ? base : { ...base, detail: refusal.detail };
      }
      return { kind: "unresolved", decision: nameDecision, name, code: "CF_PROXY_NXDOMAIN", detail: `${name} has no address` };
    },
  };
}
