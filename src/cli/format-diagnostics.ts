/**
 * cli/format-diagnostics — `check` results as text, JSON or SARIF 2.1.0.
 *
 * Map: cli/commands/check.ts builds a `CheckReport` (the file, whether it passed, the loaded
 * policy's name and rule count if it loaded, every diagnostic from the loader and lint) and
 * picks one of the formatters here. Pure string building; nothing here writes.
 *
 * JSON format (stable; fields are only ever added):
 *   { "version": 1, "file": string, "ok": boolean,
 *     "policy": { "name", "rules", "hash" } | null,          // null when the policy did not load
 *     "summary": { "errors": n, "warnings": n, "infos": n },
 *     "diagnostics": [ { "code", "severity": "error"|"warning"|"info", "message",
 *                        "fix": string|null, "file": string|null, "line": n|null,
 *                        "column": n|null, "data": object } ] }
 * Lines and columns are 1-based; columns count UTF-16 code units (SARIF `columnKind`).
 *
 * SARIF: one run, tool.driver `clawfence` with every known code as a rule (policy codes from
 * policy/codes.ts, lint codes from lint/rules.ts), results with level error/warning/note and a
 * physicalLocation region (startLine/startColumn). Built-in presets are named `preset:NAME`.
 */
import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import type { Log as SarifLog } from "sarif";
import { LINT_RULES } from "../lint/index.ts";
import { CODES } from "../policy/codes.ts";
import { formatDiagnostic, type Diagnostic, type Severity } from "../policy/errors.ts";

export const TOOL_VERSION = "0.1.0";
export const SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json";
const INFO_URI = "https://github.com/clawfence/clawfence";

export interface CheckReport {
  /** the policy file as the user named it */
  readonly file: string;
  readonly ok: boolean;
  /** absent when the policy did not load */
  readonly policy?: { readonly name: string; readonly rules: number; readonly hash: string };
  readonly diagnostics: readonly Diagnostic[];
}

export function countBySeverity(ds: readonly Diagnostic[]): { errors: number; warnings: number; infos: number } {
  let errors = 0;
  let warnings = 0;
  let infos = 0;
  for (const d of ds) {
    switch (d.severity) {
      case "error":
        errors++;
        break;
      case "warning":
        warnings++;
        break;
      case "info":
        infos++;
        break;
    }
  }
  return { errors, warnings, infos };
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

/** `file:line:col: error CF1234: message` + `  fix: ...` per diagnostic, then a one-line summary. */
export function formatText(r: CheckReport): string {
  const lines: string[] = [];
  for (const d of r.diagnostics) lines.push(d.pos ? formatDiagnostic(d) : `${r.file}: ${formatDiagnostic(d)}`);
  const c = countBySeverity(r.diagnostics);
  const counts = [plural(c.errors, "error"), plural(c.warnings, "warning"), ...(c.infos ? [plural(c.infos, "note")] : [])].join(", ");
  const what = r.policy ? `${r.policy.name} (${plural(r.policy.rules, "rule")}, ${counts})` : `${r.file} (${counts})`;
  lines.push(`${r.ok ? "ok" : "failed"}: ${what}`);
  return `${lines.join("\n")}\n`;
}

export function formatJson(r: CheckReport): string {
  const c = countBySeverity(r.diagnostics);
  const doc = {
    version: 1,
    file: r.file,
    ok: r.ok,
    policy: r.policy ? { name: r.policy.name, rules: r.policy.rules, hash: r.policy.hash } : null,
    summary: c,
    diagnostics: r.diagnostics.map((d) => ({
      code: d.code,
      severity: d.severity,
      message: d.message,
      fix: d.fix ?? null,
      file: d.pos?.file ?? null,
      line: d.pos?.line ?? null,
      column: d.pos?.column ?? null,
      data: toJsonSafe(d.data ?? {}),
    })),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** bigints (CIDR addresses in `data`) as decimal strings, so JSON.stringify never throws */
function toJsonSafe(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x))) as unknown;
}

function level(s: Severity): "error" | "warning" | "note" {
  switch (s) {
    case "error":
      return "error";
    case "warning":
      return "warning";
    case "info":
      return "note";
  }
}

/** A SARIF artifact URI: presets as `preset:NAME`, absolute paths as file URLs, relative paths with '/'. */
export function artifactUri(file: string): string {
  if (file.startsWith("preset:")) return file;
  if (isAbsolute(file)) return pathToFileURL(file).href;
  return file
    .split(/[\\/]/)
    .map((seg) => encodeURIComponent(seg))
    .join("/");
}

interface RuleMeta {
  readonly id: string;
  readonly name?: string;
  readonly title: string;
  readonly help?: string;
  readonly severity?: Severity;
}

function knownRules(): RuleMeta[] {
  const policy: RuleMeta[] = Object.entries(CODES).map(([id, title]) => ({ id, title }));
  const lint: RuleMeta[] = LINT_RULES.map((r) => ({ id: r.code, name: r.name, title: r.title, help: r.help, severity: r.severity }));
  return [...policy, ...lint];
}

export function formatSarif(r: CheckReport): string {
  const rules = knownRules();
  const index = new Map(rules.map((m, i) => [m.id, i]));
  for (const d of r.diagnostics) {
    if (!index.has(d.code)) {
      index.set(d.code, rules.length);
      rules.push({ id: d.code, title: d.message });
    }
  }
  const results = r.diagnostics.map((d) => {
    const file = d.pos?.file ?? r.file;
    const region = d.pos ? { startLine: d.pos.line, startColumn: d.pos.column } : undefined;
    return {
      ruleId: d.code,
      ruleIndex: index.get(d.code) ?? 0,
      level: level(d.severity),
      message: { text: d.fix ? `${d.message}\nFix: ${d.fix}` : d.message },
      locations: [{ physicalLocation: { artifactLocation: { uri: artifactUri(file) }, ...(region ? { region } : {}) } }],
      properties: { ...(d.fix ? { fix: d.fix } : {}), ...(d.data ? { data: toJsonSafe(d.data) } : {}) },
    };
  });
  const log: SarifLog = {
    $schema: SARIF_SCHEMA,
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "clawfence",
            version: TOOL_VERSION,
            informationUri: INFO_URI,
            rules: rules.map((m) => ({
              id: m.id,
              ...(m.name ? { name: m.name } : {}),
              shortDescription: { text: m.title },
              ...(m.help ? { help: { text: m.help } } : {}),
              ...(m.severity ? { defaultConfiguration: { level: level(m.severity) } } : {}),
            })),
          },
        },
        columnKind: "utf16CodeUnits",
        results,
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
