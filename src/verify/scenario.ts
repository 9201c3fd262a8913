/**
 * verify/scenario — the model of `clawfence verify`: scenarios, the probes they are made of,
 * what each probe expects, and what a runner reports back.
 *
 * Map: built-in scenarios (verify/builtin.ts) and the user's scenarios file
 * (verify/scenarios-file.ts) both produce `Scenario`s; a `ProbeRunner` (verify/runner.ts:
 * static now, live later) judges each one into a `ScenarioResult`; the reporters
 * (verify/report.ts) print table, JSON and JUnit from those results.
 *
 * A scenario holds one or more probes and passes only when it has at least one judged probe
 * and every judged probe holds; a scenario with nothing to judge is skipped with the reason,
 * never passed. Types and small pure helpers only; imports nothing with I/O.
 */
import type { Decision, Flow, Reason } from "../match/decision.ts";
import type { SourcePos } from "../policy/ir.ts";

/** allow: verdict allow. deny: an enforced deny. would-deny: a deny downgraded by monitor mode. */
export const EXPECTS = ["allow", "deny", "would-deny"] as const;
export type Expect = (typeof EXPECTS)[number];

/** JUnit test suites: seed 003/002 validation tests, PRODUCT.md section 7 escape classes, the user's file. */
export const GROUPS = ["builtin", "escape", "user"] as const;
export type Group = (typeof GROUPS)[number];

/**
 * Which policy a probe is decided against.
 *  - `policy`: the policy as loaded (user scenarios);
 *  - `enforced`: the policy as it will be once `mode: enforce` (built-in and escape scenarios:
 *    PRODUCT.md section 7 escapes must fail in enforce mode; for an enforce policy this is the
 *    policy itself; rules that set their own `mode:` keep it);
 *  - `monitored`: the policy switched to `mode: monitor` (the monitor -> enforce rollout);
 *  - `added`: the enforced policy plus an allow rule for one new destination, inserted where a
 *    rule written in the policy's own file at the default priority would land.
 */
export type Variant =
  | { readonly kind: "policy" }
  | { readonly kind: "enforced" }
  | { readonly kind: "monitored" }
  | { readonly kind: "added"; readonly name: string; readonly port: number; readonly protocol: "tcp" | "udp" };

/**
 * What one probe asks.
 *  - `flow`: a connection (decide()); live mode opens it from inside the sandbox;
 *  - `dns-question`: a DNS question for `name` through the sandbox's resolver (decideName():
 *    answered only when some allow rule matches the name; refused ones never reach upstream).
 */
export type Check = { readonly kind: "flow"; readonly flow: Flow } | { readonly kind: "dns-question"; readonly name: string; readonly phase?: string };

export interface Probe {
  /** as shown to the user, e.g. `8.8.8.8:53/udp` or `api.example.com at 127.0.0.1:443/tcp` */
  readonly destination: string;
  readonly check: Check;
  readonly expect: Expect;
  /** the rule that must decide, when pinned */
  readonly rule?: string;
  /** accepted reason codes, when pinned (any of them) */
  readonly reasons?: readonly Reason[];
  readonly variant: Variant;
}

/** A probe that was considered and deliberately not judged, with the reason (shown as evidence). */
export interface Exempt {
  readonly destination: string;
  readonly reason: string;
}

export interface Scenario {
  /** unique; instances of a derived family are `family:detail` (e.g. `allowed-destinations:allow-core`) */
  readonly id: string;
  /** the id `builtin.disable` and `--skip` match besides the full id */
  readonly family: string;
  readonly group: Group;
  readonly description: string;
  readonly probes: readonly Probe[];
  readonly exempt: readonly Exempt[];
  /** set: only a live runner can judge it; a static runner reports it skipped with this reason */
  readonly liveOnly?: string;
  /** where a user scenario was written */
  readonly pos?: SourcePos;
}

export type ProbeStatus = "pass" | "fail";

export interface ProbeResult {
  readonly probe: Probe;
  /** what decided (static: decide()); live: what was observed, mapped to a decision */
  readonly actual: Decision;
  readonly status: ProbeStatus;
  /** why it passed or failed: the deciding rule, its position, the explain walk, observed traffic */
  readonly evidence: string;
}

export type ScenarioStatus = "pass" | "fail" | "skip";

export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly status: ScenarioStatus;
  /** for skip: why (live-only, disabled, nothing applicable) */
  readonly skipReason?: string;
  readonly probes: readonly ProbeResult[];
}

/** How a decision reads against expectations: allow, deny, would-deny. */
export function decisionExpect(d: Decision): Expect {
  switch (d.verdict) {
    case "allow":
      return "allow";
    case "deny":
      return d.enforced ? "deny" : "would-deny";
    default: {
      const never: never = d.verdict;
      throw new Error(`unknown verdict ${String(never)}`);
    }
  }
}

/** Does `actual` satisfy the probe? Returns the list of mismatches (empty: it holds). */
export function mismatches(probe: Probe, actual: Decision): string[] {
  const out: string[] = [];
  const got = decisionExpect(actual);
  if (got !== probe.expect) out.push(`expected ${probe.expect}, got ${got}`);
  if (probe.rule !== undefined && actual.rule !== probe.rule) out.push(`expected rule ${probe.rule}, decided by ${actual.rule}`);
  if (probe.reasons !== undefined && !probe.reasons.includes(actual.reason)) out.push(`expected reason ${probe.reasons.join(" or ")}, got ${actual.reason}`);
  return out;
}

/** Does `id` (or its family) appear in `ids`? */
export function selectedBy(s: Pick<Scenario, "id" | "family">, ids: ReadonlySet<string>): boolean {
  return ids.has(s.id) || ids.has(s.family);
}
