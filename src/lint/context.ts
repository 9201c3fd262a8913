/**
 * lint/context — what every check shares: the policy, its analysed flow space, positions for
 * policy-level settings, and helpers that build findings and explain rule order.
 *
 * Pure: no I/O. Checks (order.ts, exposure.ts, hygiene.ts) take a `LintContext` and return
 * diagnostics; index.ts sorts and returns them.
 */
import type { Diagnostic } from "../policy/errors.ts";
import type { Dest, Policy, Rule, SourcePos } from "../policy/ir.ts";
import { lintRule, type LintCode } from "./rules.ts";
import type { Space } from "./space.ts";

/** Where policy-level settings were written; the IR keeps positions only for rules, entries and groups. */
export interface SettingPositions {
  readonly mode?: SourcePos;
  readonly default?: SourcePos;
  /** one per `internal` entry, in IR order */
  readonly internal?: readonly SourcePos[];
  readonly upstreams?: SourcePos;
}

/** A variable the policy's own files define, and whether any string used it (from the loader). */
export interface VarUse {
  readonly name: string;
  readonly pos: SourcePos;
  readonly used: boolean;
}

export interface LintOptions {
  readonly positions?: SettingPositions;
  /** variables defined in the policy's own files; without it, unused variables are not checked */
  readonly vars?: readonly VarUse[];
}

export interface LintContext {
  readonly policy: Policy;
  readonly space: Space;
  readonly opts: LintOptions;
  /** the policy file's first line, for findings about settings without a recorded position */
  readonly top: SourcePos;
}

export function finding(code: LintCode, message: string, fix: string, pos: SourcePos, data?: Readonly<Record<string, unknown>>): Diagnostic {
  const r = lintRule(code);
  return { code, severity: r.severity, message, fix, pos, ...(data ? { data } : {}) };
}

export function destText(d: Dest): string {
  switch (d.kind) {
    case "any":
      return "any";
    case "domain":
      return d.name;
    case "wildcard":
      return `*.${d.suffix}`;
    case "cidr":
      return d.cidr.prefix === (d.cidr.family === 4 ? 32 : 128) ? d.cidr.text.slice(0, d.cidr.text.indexOf("/")) : d.cidr.text;
    default: {
      const never: never = d;
      throw new Error(`unhandled dest ${JSON.stringify(never)}`);
    }
  }
}

/** `api.openai.com (from catalog:shadow-model-providers)` */
export function destLabel(d: Dest): string {
  const o = d.origin;
  switch (o.via) {
    case "literal":
      return destText(d);
    case "group":
      return `${destText(d)} (from group:${o.group})`;
    case "catalog":
      return `${destText(d)} (from catalog:${o.catalog})`;
    default: {
      const never: never = o;
      throw new Error(`unhandled origin ${JSON.stringify(never)}`);
    }
  }
}

export function where(pos: SourcePos): string {
  return `${pos.file}:${pos.line}`;
}

/** `'allow-models' (policy.yaml:12)` */
export function ruleRef(r: Rule): string {
  return `'${r.name}' (${where(r.pos)})`;
}

/** Why `first` decides before `later` (the IR order: priority, own file before extended, file order). */
export function whyFirst(first: Rule, later: Rule): string {
  if (first.priority !== later.priority) return `its priority ${first.priority} is lower than ${later.priority}`;
  if (first.pos.file !== later.pos.file) return `both have priority ${first.priority} and '${first.name}' comes first in the merged order (${first.pos.file} before ${later.pos.file})`;
  return `both have priority ${first.priority} and '${first.name}' comes first in the file (line ${first.pos.line} before ${later.pos.line})`;
}

/** "a, b, c and 4 more" */
export function listSome(items: readonly string[], max = 3): string {
  if (items.length <= max) return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1] ?? ""}`;
  return `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}

export function ruleByOrder(policy: Policy, order: number): Rule {
  const r = policy.rules[order];
  if (!r) throw new Error(`no rule with order ${order}`);
  return r;
}
