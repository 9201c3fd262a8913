/**
 * lint — guardrails: finds the policy mistakes that let agents out, before anything is
 * enforced (`clawfence check`). Every finding has a stable CF5xxx code (lint/rules.ts), a
 * severity, the file:line:column it is about, a message that says what happens and why, and a
 * fix.
 *
 * Map: `lintPolicy(policy)` analyses the flow space once (lint/space.ts: exact coverage of
 * each rule entry by the union of earlier rules, over names, wildcard subtrees, CIDRs, port
 * ranges, protocols and phases), then runs the order checks (order.ts), exposure checks
 * (exposure.ts) and hygiene checks (hygiene.ts), and returns the findings sorted by position.
 *
 * Layering: lint sits above match/ (it needs the special-purpose table of match/special.ts)
 * and below cli/ (cli/commands/check.ts calls it). Pure: no I/O, no clock.
 */
import type { Diagnostic } from "../policy/errors.ts";
import type { Policy } from "../policy/ir.ts";
import type { LintContext, LintOptions } from "./context.ts";
import { checkExposure } from "./exposure.ts";
import { checkHygiene } from "./hygiene.ts";
import { checkOrder } from "./order.ts";
import { analyze } from "./space.ts";

export { LINT_RULES, lintRule, type LintCode, type LintRule } from "./rules.ts";
export type { LintOptions, SettingPositions, VarUse } from "./context.ts";

export function lintPolicy(policy: Policy, opts: LintOptions = {}): Diagnostic[] {
  const ctx: LintContext = {
    policy,
    space: analyze(policy),
    opts,
    top: { file: policy.sources[0] ?? policy.name, line: 1, column: 1 },
  };
  const all = [...checkOrder(ctx), ...checkExposure(ctx), ...checkHygiene(ctx)];
  return all.sort(
    (a, b) =>
      (a.pos?.file ?? "").localeCompare(b.pos?.file ?? "") ||
      (a.pos?.line ?? 0) - (b.pos?.line ?? 0) ||
      (a.pos?.column ?? 0) - (b.pos?.column ?? 0) ||
      a.code.localeCompare(b.code),
  );
}

/** Exit status `check` derives from findings: 1 when an error (or, with strict, a warning) is present. */
export function failsCheck(findings: readonly Diagnostic[], strict: boolean): boolean {
  return findings.some((d) => d.severity === "error" || (strict && d.severity === "warning"));
}
