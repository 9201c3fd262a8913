/**
 * policy/errors — diagnostics with stable codes, source positions and a fix.
 *
 * Map: every stage that can refuse input (YAML parse, schema, normalize, extends, lint,
 * import) reports `Diagnostic`s; a fatal one is thrown as `PolicyError` carrying the full
 * list. The CLI formats them (text, json, sarif); nothing here prints.
 *
 * Code scheme: `CF` + area + number, e.g. CF1001. Areas: 1xxx YAML/structure, 2xxx schema,
 * 3xxx names/addresses/ports, 4xxx references (vars, groups, catalogs, extends, phases),
 * 5xxx lint findings (issue: guardrails), 6xxx import, 9xxx internal.
 * Codes are stable: never reuse or renumber one.
 */
import type { SourcePos } from "./ir.ts";

export type Severity = "error" | "warning" | "info";

export interface Diagnostic {
  readonly code: string;
  readonly severity: Severity;
  readonly message: string;
  /** what to write instead; always present for errors */
  readonly fix?: string;
  readonly pos?: SourcePos;
  /** machine-readable extras (rule names, entries) for json/sarif */
  readonly data?: Readonly<Record<string, unknown>>;
}

export class PolicyError extends Error {
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    const first = diagnostics[0];
    super(first ? formatDiagnostic(first) : "policy error");
    this.name = "PolicyError";
    this.diagnostics = diagnostics;
  }
}

export function formatPos(pos: SourcePos | undefined): string {
  return pos ? `${pos.file}:${pos.line}:${pos.column}` : "";
}

/** One line per diagnostic, then an indented fix line: `file:1:2: error CF3001: msg\n  fix: ...` */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.pos ? `${formatPos(d.pos)}: ` : "";
  const head = `${where}${d.severity} ${d.code}: ${d.message}`;
  return d.fix ? `${head}\n  fix: ${d.fix}` : head;
}
