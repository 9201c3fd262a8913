/**
 * cli/lint-gate — the guardrails run on a freshly loaded policy, with the loader's facts (where
 * `mode`, `default`, `internal` and `dns.upstreams` were written, which variables were used)
 * so each finding points at the right line; and the gate the commands that put a policy into
 * effect (`enforce`, `allow`) pass it through: a finding of error severity refuses the policy.
 *
 * Map: load (cli/load-policy.ts or policy/load.ts) -> here (lint/index.ts) -> the command.
 * A refusal is a `PolicyError` carrying the error findings, printed by cli/main.ts as
 * diagnostics (exit 1). Imports lint/ and policy/ only; no I/O.
 */
import { failsCheck, lintPolicy } from "../lint/index.ts";
import { PolicyError, type Diagnostic } from "../policy/errors.ts";
import type { Policy } from "../policy/ir.ts";
import type { LoadInfo } from "../policy/load.ts";

export interface Loaded {
  readonly policy: Policy;
  readonly info: LoadInfo;
}

/** Every guardrail finding for a loaded policy, positioned by the loader's facts. */
export function lintLoaded(loaded: Loaded): Diagnostic[] {
  return lintPolicy(loaded.policy, { positions: loaded.info.positions, vars: loaded.info.vars });
}

/** The policy, if no finding is of error severity; else a PolicyError with those findings. */
export function passLintGate(loaded: Loaded): Policy {
  const findings = lintLoaded(loaded);
  if (failsCheck(findings, false)) throw new PolicyError(findings.filter((d) => d.severity === "error"));
  return loaded.policy;
}
