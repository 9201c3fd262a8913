/**
 * policy/codes — the registry of diagnostic codes the parser, schema check and normalizer
 * emit, with a short title each (SARIF `rules[].shortDescription`, docs).
 *
 * Map: parse.ts (1xxx), wire-errors.ts (2xxx), names.ts / normalize.ts (3xxx, 4xxx) create
 * diagnostics with `diag()`; cli/format-diagnostics.ts reads `CODES` for rule metadata.
 * Lint (5xxx) keeps its own registry beside its checks. Codes are stable: never reuse or
 * renumber one; retire a code by leaving it here.
 *
 * Pure data, no I/O.
 */
import type { Diagnostic, Severity } from "./errors.ts";
import type { SourcePos } from "./ir.ts";

export const CODES = {
  // 1xxx: YAML and document structure
  CF1001: "YAML syntax error",
  CF1002: "duplicate key in a mapping",
  CF1003: "more than one YAML document in a policy file",
  CF1004: "the policy document is not a mapping",
  CF1005: "too many YAML aliases (possible alias bomb)",
  CF1006: "policy file too large",
  CF1007: "empty policy document",
  CF1008: "unsupported YAML tag or construct",
  CF1009: "mapping key is not a plain value",
  CF1010: "document nested too deeply",
  // 2xxx: schema
  CF2001: "unknown key",
  CF2002: "required key missing",
  CF2003: "value has the wrong type",
  CF2004: "value is not one of the allowed choices",
  CF2005: "name has the wrong format",
  CF2006: "number out of range",
  CF2007: "a rule needs exactly one of allow or deny",
  CF2008: "list must not be empty",
  CF2010: "version missing",
  CF2011: "unsupported version",
  CF2099: "value does not match the schema",
  // 3xxx: names, addresses, ports
  CF3001: "invalid character in a domain name",
  CF3002: "empty or too long domain label",
  CF3003: "domain name too long",
  CF3004: "domain label starts or ends with a hyphen",
  CF3005: "invalid internationalized domain name",
  CF3006: "name ends in a number (an address, not a name)",
  CF3010: "wildcard directly under a public suffix",
  CF3011: "partial-label or repeated wildcard",
  CF3012: "bare wildcard",
  CF3013: "URL where a host name was expected",
  CF3014: "port written into a destination",
  CF3015: "invalid address or CIDR",
  CF3016: "keyword in the wrong case",
  CF3017: "entry of the wrong kind for this list",
  CF3020: "port out of range",
  CF3021: "reversed port range",
  CF3022: "malformed port",
  CF3023: "ports on an icmp rule",
  CF3030: "invalid DNS upstream",
  CF3031: "phase declared twice",
  // 4xxx: references
  CF4001: "undefined variable",
  CF4002: "malformed variable reference",
  CF4010: "unknown preset in extends",
  CF4011: "extended file cannot be read",
  CF4012: "extends cycle",
  CF4013: "a preset can only extend presets",
  CF4014: "too many extended files",
  CF4020: "unknown group",
  CF4021: "group defined twice with different content",
  CF4022: "unknown catalog",
  CF4030: "duplicate rule name",
  CF4031: "reserved rule name",
  CF4040: "phase not declared",
  // 9xxx: internal
  CF9001: "invalid built-in catalog or preset entry",
} as const;

export type Code = keyof typeof CODES;

/** Build a diagnostic; errors always carry a fix. */
export function diag(
  code: Code,
  message: string,
  fix: string,
  pos: SourcePos | undefined,
  data?: Readonly<Record<string, unknown>>,
  severity: Severity = "error",
): Diagnostic {
  return {
    code,
    severity,
    message,
    fix,
    ...(pos ? { pos } : {}),
    ...(data ? { data } : {}),
  };
}

/** A problem found by a pure checker that does not know where its input was written. */
export interface Problem {
  readonly code: Code;
  readonly message: string;
  readonly fix: string;
}

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: Problem };

export function problem(code: Code, message: string, fix: string): { readonly ok: false; readonly problem: Problem } {
  return { ok: false, problem: { code, message, fix } };
}

/** Levenshtein distance, for "did you mean" suggestions (short strings only). */
export function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Math.abs(a.length - b.length) + 64;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, sub));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The closest known word within a small distance, or null. */
export function didYouMean(word: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

/** "a, b and c" with backticks, for messages listing known names. */
export function listNames(names: readonly string[], max = 30): string {
  if (names.length === 0) return "(none)";
  const shown = names.slice(0, max).map((n) => `\`${n}\``);
  const more = names.length > max ? ` and ${names.length - max} more` : "";
  return shown.join(", ") + more;
}
