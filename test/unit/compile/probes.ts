/**
 * test/unit/compile/probes — what the non-Linux backends' differential tests share: random
 * address-only policies (aviatrix, pf), and the walk over probe flows (each probe address x
 * tcp/udp/icmp x probe port; icmp has no port) that hands each flow and decide()'s decision to
 * the test's own model of the backend (aviatrix, pf, kubernetes, cilium). The models and their
 * assertions stay in the test files: each says how its backend evaluates, this only feeds them.
 *
 * Imports match/ and policy/ (and fast-check); no backend, no node:fs. The caller compiles the
 * decider (from the same policy it compiled for the backend).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Decider } from "../../../src/match/decide.ts";
import { parseIp } from "../../../src/policy/addr.ts";
import type { Policy } from "../../../src/policy/ir.ts";
import type { Decision, Flow, IpAddr } from "../../../src/match/decision.ts";
import { policy, type RuleSpec } from "../match/ir-builder.ts";

/** a strict address, or a failed assertion naming the text */
export function probeIp(text: string): IpAddr {
  const x = parseIp(text);
  assert.ok(x, text);
  return x;
}

const POOL = ["any", "10.0.0.0/8", "10.1.2.3", "192.0.2.0/24", "93.184.216.0/24", "93.184.216.34", "169.254.169.254", "2606:2800::/32", "fd00::/8"] as const;
const PORTS = [53, 443, "1000-2000", 8443] as const;

/** the probe ports for the address-only policies below: each edge of their port pool */
export const ADDRESS_PROBE_PORTS = [53, 80, 443, 999, 1000, 1500, 2000, 2001, 8443];

/**
 * Random address-only policies: up to 6 rules over a fixed pool of addresses and networks,
 * any protocol (icmp rules without ports), monitor-mode denies, policy-wide monitor mode, and
 * `internal` drawn from `internals`.
 */
export function addressPolicyArb(internals: ReadonlyArray<readonly string[]>): fc.Arbitrary<Policy> {
  return fc
    .record({
      rules: fc.array(
        fc.record({
          action: fc.constantFrom("allow", "deny"),
          dests: fc.uniqueArray(fc.constantFrom(...POOL), { minLength: 1, maxLength: 3 }),
          ports: fc.option(fc.uniqueArray(fc.constantFrom(...PORTS), { minLength: 1, maxLength: 2 }), { nil: undefined }),
          protocol: fc.constantFrom("tcp", "udp", "any", "icmp"),
          monitor: fc.boolean(),
        }),
        { maxLength: 6 },
      ),
      default: fc.constantFrom("allow", "deny"),
      mode: fc.constantFrom("enforce", "enforce", "monitor"),
      internal: fc.constantFrom(...internals),
    })
    .map((s): Policy =>
      policy({
        default: s.default as "allow" | "deny",
        mode: s.mode as "enforce" | "monitor",
        internal: s.internal,
        rules: s.rules.map(
          (r, i): RuleSpec => ({
            name: `r${i}`,
            action: r.action as "allow" | "deny",
            dests: r.dests,
            ...(r.ports && r.protocol !== "icmp" ? { ports: r.ports } : {}),
            protocol: r.protocol as "tcp" | "udp" | "any" | "icmp",
            ...(r.monitor && r.action === "deny" ? { mode: "monitor" as const } : {}),
          }),
        ),
      }),
    );
}

export interface Probe {
  /** the address as written in the probe list, and parsed */
  readonly text: string;
  readonly addr: IpAddr;
  readonly proto: "tcp" | "udp" | "icmp";
  readonly port: number | undefined;
  /** the flow decide() was asked about (no port for icmp, no names) */
  readonly flow: Flow;
  /** decide()'s answer for `flow` */
  readonly d: Decision;
}

/** call `check` for every probe flow with `decider`'s decision, in address, protocol, port order */
export function forEachProbe(decider: Decider, ips: readonly string[], ports: readonly number[], check: (probe: Probe) => void): void {
  for (const text of ips) {
    const addr = probeIp(text);
    for (const proto of ["tcp", "udp", "icmp"] as const) {
      for (const port of proto === "icmp" ? [undefined] : ports) {
        const flow: Flow = port === undefined ? { protocol: proto, ip: addr } : { protocol: proto, port, ip: addr };
        check({ text, addr, proto, port, flow, d: decider.decide(flow) });
      }
    }
  }
}
