/**
 * verify/runner — how scenarios are judged: the `ProbeRunner` interface, the static runner
 * (decide() on the policy, no privileges), and the driver that runs a list of scenarios
 * through a runner with progress.
 *
 * Map: cli/commands/verify.ts builds the scenario list (verify/builtin.ts + the scenarios
 * file), picks a runner, and calls `runVerify`; each `ScenarioResult` is handed to
 * `onResult` as soon as it is known (the table prints it), then the reporters
 * (verify/report.ts) format the whole list.
 *
 * The static runner decides every probe with `compileDecider()` (match/decide.ts) on the
 * probe's policy variant (verify/twins.ts) and cross-checks it with `explainFlow()`, whose
 * walk is also the evidence; a disagreement fails the probe (fail closed). explainFlow is a
 * linear walk, so on policies above EXPLAIN_ALL_UP_TO entries only failing probes are
 * explained (and cross-checked); passing ones carry the deciding rule and its position.
 * It cannot judge `liveOnly` scenarios and reports them skipped with the reason. The live
 * runner (verify/live/runner.ts: namespaces, a real `clawfence run` sandbox, judging by what
 * reached the far side) implements the same interface and uses this one for decide()'s side.
 *
 * No I/O here: the static runner is pure computation behind an async interface.
 */
import { compileDecider, type Decider, type Explanation } from "../match/decide.ts";
import type { Decision } from "../match/decision.ts";
import { formatPorts } from "../match/ports.ts";
import { formatPos } from "../policy/errors.ts";
import type { Policy } from "../policy/ir.ts";
import { decisionExpect, mismatches, selectedBy, type Probe, type ProbeResult, type Scenario, type ScenarioResult, type Variant } from "./scenario.ts";
import { enforcedTwin, monitoredTwin, withAddedAllow } from "./twins.ts";

export type RunnerMode = "static" | "live";

/** Judges scenarios. Implementations: static (here), live (verify/live/runner.ts). */
export interface ProbeRunner {
  readonly mode: RunnerMode;
  /** Judge one scenario; never throws for a failing expectation (that is a `fail` result). */
  judge(scenario: Scenario): Promise<ScenarioResult>;
  /** Release what the runner holds (live: namespaces, servers). Idempotent. */
  close(): Promise<void>;
}

/** The stable error code for `verify --live` in a build without the live runner (kept: codes are never reused). */
export const LIVE_UNAVAILABLE = "CF_VERIFY_LIVE_UNAVAILABLE";

function variantKey(v: Variant): string {
  switch (v.kind) {
    case "policy":
    case "enforced":
    case "monitored":
      return v.kind;
    case "added":
      return `added:${v.name}:${v.port}/${v.protocol}`;
    default: {
      const never: never = v;
      throw new Error(`unknown variant ${String(never)}`);
    }
  }
}

function variantText(v: Variant, policy: Policy): string {
  switch (v.kind) {
    case "policy":
      return "";
    case "enforced":
      return policy.mode === "monitor" ? " [judged as enforced: the policy is in monitor mode]" : "";
    case "monitored":
      return " [policy switched to mode: monitor]";
    case "added":
      return ` [policy with an allow rule for ${v.name} on ${v.port}/${v.protocol} added at priority 100]`;
    default: {
      const never: never = v;
      throw new Error(`unknown variant ${String(never)}`);
    }
  }
}

function decisionText(d: Decision): string {
  return `${decisionExpect(d)} by ${d.rule} (${d.reason})`;
}

function sameDecision(a: Decision, b: Decision): boolean {
  return a.verdict === b.verdict && a.enforced === b.enforced && a.rule === b.rule && a.reason === b.reason;
}

function explainWhy(e: Explanation, decider: Decider): string {
  if (e.rule) {
    const last = e.considered[e.considered.length - 1];
    return `rule ${e.rule.name} at ${formatPos(e.rule.pos)}: ${last?.why ?? ""}`;
  }
  const n = e.considered.length;
  switch (e.decision.reason) {
    case "special-range":
      return e.special ? `${e.special.range} is special-purpose (${e.special.name}) and not under internal; no rule lists it (${n} rules considered)` : `special-purpose address (${n} rules considered)`;
    case "phase-inactive": {
      const c = e.considered.find((x) => x.why.includes("inactive in phase"));
      return `only a rule of another phase would match${c ? `: ${c.rule}` : ""} (${n} rules considered)`;
    }
    case "default-allow":
    case "default-deny":
      return n === 0 ? "the policy has no rules" : `no rule matched (${n} rules considered); policy default: ${decider.policy.default}`;
    case "rule-allow":
    case "rule-deny":
    case "dns-exfiltration":
    case "sni-mismatch":
    case "no-sni":
    case "malformed":
      return `${e.decision.rule}: ${e.decision.reason}`;
    default: {
      const never: never = e.decision.reason;
      throw new Error(`unknown reason ${String(never)}`);
    }
  }
}

export interface StaticRunnerOptions {
  /** builds the decider for a policy variant (default compileDecider; tests inject a broken one) */
  readonly compile?: (policy: Policy) => Decider;
  /**
   * Cross-check every probe with explainFlow() (and use its walk as evidence) when the policy
   * has at most this many destination entries; above it, only failing probes are explained
   * (explainFlow is linear: ~65 ms per probe at 150k entries). Default 20000.
   */
  readonly explainAllUpTo?: number;
}

/** Entries above which passing probes are not cross-checked with explainFlow (see StaticRunnerOptions). */
export const EXPLAIN_ALL_UP_TO = 20_000;

/** The static runner: decide() on the policy (and its variants), explainFlow() as evidence. */
export function createStaticRunner(policy: Policy, opts: StaticRunnerOptions = {}): ProbeRunner {
  const compile = opts.compile ?? compileDecider;
  const entries = policy.rules.reduce((n, r) => n + r.dests.length, 0);
  const crossCheckAll = entries <= (opts.explainAllUpTo ?? EXPLAIN_ALL_UP_TO);
  const deciders = new Map<string, Decider>();
  const addedRules = new Map<string, string>();
  const deciderFor = (v: Variant): Decider => {
    const key = variantKey(v);
    let d = deciders.get(key);
    if (d) return d;
    switch (v.kind) {
      case "policy":
        d = compile(policy);
        break;
      case "enforced": {
        const twin = enforcedTwin(policy);
        d = twin === policy ? deciderFor({ kind: "policy" }) : compile(twin);
        break;
      }
      case "monitored":
        d = compile(monitoredTwin(policy));
        break;
      case "added": {
        const a = withAddedAllow(policy, v.name, v.port, v.protocol);
        addedRules.set(key, a.rule);
        d = compile(a.policy);
        break;
      }
      default: {
        const never: never = v;
        throw new Error(`unknown variant ${String(never)}`);
      }
    }
    deciders.set(key, d);
    return d;
  };

  const judgeProbe = (probe: Probe): ProbeResult => {
    const decider = deciderFor(probe.variant);
    const note = variantText(probe.variant, policy);
    const check = probe.check;
    let actual: Decision;
    let evidence: string;
    switch (check.kind) {
      case "flow": {
        const d = decider.decide(check.flow);
        actual = { verdict: d.verdict, enforced: d.enforced, rule: d.rule, reason: d.reason };
        // explainFlow is a linear walk: on big policies only failures pay for it
        const explain = crossCheckAll || mismatches(probe, actual).length > 0;
        if (explain) {
          const e = decider.explainFlow(check.flow);
          if (!sameDecision(d, e.decision)) {
            return {
              probe,
              actual,
              status: "fail",
              evidence: `decide() says ${decisionText(d)} but explainFlow() says ${decisionText(e.decision)}; refusing to judge (this is a bug in match/decide.ts)${note}`,
            };
          }
          evidence = `decide(): ${decisionText(d)}; ${explainWhy(e, decider)}${note}`;
        } else {
          const r = decider.policy.rules.find((x) => x.name === d.rule);
          evidence = `decide(): ${decisionText(d)}${r ? `; rule ${r.name} at ${formatPos(r.pos)}` : ""}${note}`;
        }
        if (probe.variant.kind === "enforced" && policy.mode === "monitor") {
          const today = deciderFor({ kind: "policy" }).decide(check.flow);
          evidence += `; today (monitor): ${decisionText(today)}`;
        }
        break;
      }
      case "dns-question": {
        const nd = decider.decideName(check.name, check.phase);
        actual = { verdict: nd.verdict, enforced: nd.enforced, rule: nd.rule, reason: nd.reason };
        const grants = nd.grants.map((g) => `${g.protocol}${g.ports === null ? "" : ` ${formatPorts(g.ports)}`} by ${g.rule}`);
        evidence =
          grants.length > 0
            ? `decideName(): answered, and the guard would open ${grants.join(", ")}${note}`
            : nd.monitored.length > 0
              ? `decideName(): answered in monitor mode only (would-deny by ${nd.rule}); refused once enforced${note}`
              : `decideName(): refused (REFUSED, never sent upstream): no allow rule matches the name${nd.rule === "default" ? "" : ` (first matching rule: ${nd.rule}, ${nd.reason})`}${note}`;
        break;
      }
      default: {
        const never: never = check;
        throw new Error(`unknown check ${String(never)}`);
      }
    }
    const miss = mismatches(probe, actual);
    if (miss.length > 0) return { probe, actual, status: "fail", evidence: `${miss.join("; ")}. ${evidence}` };
    return { probe, actual, status: "pass", evidence };
  };

  return {
    mode: "static",
    judge: (scenario) => {
      if (scenario.liveOnly !== undefined) {
        return Promise.resolve({ scenario, status: "skip", skipReason: `live-only: ${scenario.liveOnly}`, probes: [] });
      }
      if (scenario.probes.length === 0) {
        const why = scenario.exempt.length > 0 ? `every probe is exempt (${scenario.exempt.map((x) => `${x.destination}: ${x.reason}`).join("; ")})` : "nothing in this policy to probe for it";
        return Promise.resolve({ scenario, status: "skip", skipReason: `not applicable: ${why}`, probes: [] });
      }
      const probes = scenario.probes.map(judgeProbe);
      const status = probes.some((p) => p.status === "fail") ? "fail" : "pass";
      return Promise.resolve({ scenario, status, probes });
    },
    close: () => Promise.resolve(),
  };
}

export interface RunOptions {
  /** ids or families to skip, with the reason shown (e.g. "disabled by --skip") */
  readonly disabled?: ReadonlyMap<string, string>;
  /** called with each result as soon as it is known (progress) */
  readonly onResult?: (r: ScenarioResult) => void;
}

/** Judge every scenario in order; disabled ones are reported skipped with their reason. */
export async function runVerify(scenarios: readonly Scenario[], runner: ProbeRunner, opts: RunOptions = {}): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = [];
  const disabled = opts.disabled ?? new Map<string, string>();
  const ids = new Set(disabled.keys());
  try {
    for (const s of scenarios) {
      let r: ScenarioResult;
      if (selectedBy(s, ids)) {
        r = { scenario: s, status: "skip", skipReason: disabled.get(s.id) ?? disabled.get(s.family) ?? "disabled", probes: [] };
      } else {
        r = await runner.judge(s);
      }
      out.push(r);
      opts.onResult?.(r);
    }
  } finally {
    await runner.close();
  }
  return out;
}
