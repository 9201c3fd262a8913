/**
 * verify/report — `ScenarioResult`s to text: the table (a header, one row per scenario as it
 * finishes, evidence under failures, a summary), JSON, and JUnit XML.
 *
 * Map: cli/commands/verify.ts prints `tableHeader`, then `tableRow` for each result as
 * `runVerify` reports it (progress), then `tableSummary`; or `jsonReport` at the end; and
 * writes `junitReport` to the `--junit` file. JUnit has one <testsuite> per group (builtin,
 * escape, user), one <testcase> per scenario, <failure> naming the deciding rule and the
 * evidence, <skipped> with the reason for live-only, disabled and not-applicable scenarios.
 *
 * Pure: strings in, strings out.
 */
import type { Policy } from "../policy/ir.ts";
import { decisionExpect, GROUPS, type Group, type ProbeResult, type Scenario, type ScenarioResult } from "./scenario.ts";
import type { RunnerMode } from "./runner.ts";

export const TOOL_VERSION = "0.1.0";

export interface ReportContext {
  readonly policy: Policy;
  readonly mode: RunnerMode;
  /** the phase asked for with --phase, if any */
  readonly phase?: string;
  /** the scenarios file, if any */
  readonly scenariosFile?: string;
  /** false with --no-builtin */
  readonly builtin?: boolean;
}

export interface Summary {
  readonly scenarios: number;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly liveOnly: number;
  readonly probes: number;
  readonly probesFailed: number;
}

export function summarize(results: readonly ScenarioResult[]): Summary {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let liveOnly = 0;
  let probes = 0;
  let probesFailed = 0;
  for (const r of results) {
    switch (r.status) {
      case "pass":
        passed++;
        break;
      case "fail":
        failed++;
        break;
      case "skip":
        skipped++;
        if (r.skipReason?.startsWith("live-only")) liveOnly++;
        break;
      default: {
        const never: never = r.status;
        throw new Error(`unknown status ${String(never)}`);
      }
    }
    probes += r.probes.length;
    probesFailed += r.probes.filter((p) => p.status === "fail").length;
  }
  return { scenarios: results.length, passed, failed, skipped, liveOnly, probes, probesFailed };
}

/** Every expectation held: no failure, and at least one scenario was judged. */
export function succeeded(results: readonly ScenarioResult[]): boolean {
  return results.every((r) => r.status !== "fail") && results.some((r) => r.status === "pass");
}

// ---------------------------------------------------------------- table

export function tableHeader(ctx: ReportContext): string {
  const p = ctx.policy;
  const lines = [`clawfence verify: policy ${p.name} (${p.sources[0] ?? "?"}, sha256 ${p.hash.slice(0, 12)}), ${ctx.mode} mode${ctx.phase !== undefined ? `, phase ${ctx.phase}` : p.phases.length > 0 ? `, phases ${p.phases.join(", ")}` : ""}`];
  const builtin = ctx.builtin ?? true;
  lines.push(`scenarios: ${[...(builtin ? ["built-in", "escape suite"] : []), ...(ctx.scenariosFile !== undefined ? [ctx.scenariosFile] : [])].join(", ")}`);
  if (p.mode === "monitor") lines.push("note: the policy is in monitor mode; built-in and escape scenarios are judged as it will behave with `mode: enforce`");
  if (ctx.mode === "static") lines.push(`static mode judges decide()${builtin ? "; live-only escape classes are skipped (they need a sandbox: run `clawfence verify --live` as root)" : ""}`);
  return `${lines.join("\n")}\n\n`;
}

export function idWidth(scenarios: readonly Scenario[]): number {
  return Math.min(48, Math.max(8, ...scenarios.map((s) => s.id.length)));
}

function probeCount(r: ScenarioResult): string {
  const n = r.probes.length;
  const bad = r.probes.filter((p) => p.status === "fail").length;
  const ex = r.scenario.exempt.length;
  const base = bad > 0 ? `${bad}/${n} probes failed` : `${n} probe${n === 1 ? "" : "s"}`;
  return ex > 0 ? `${base}, ${ex} exempt` : base;
}

export function tableRow(r: ScenarioResult, width: number): string {
  const s = r.scenario;
  const head = `${r.status.toUpperCase().padEnd(4)}  ${s.group.padEnd(7)}  ${s.id.padEnd(width)}  `;
  switch (r.status) {
    case "skip":
      return `${head}${r.skipReason ?? "skipped"}\n`;
    case "pass":
      return `${head}${probeCount(r)}: ${s.description}\n`;
    case "fail": {
      const lines = [`${head}${probeCount(r)}: ${s.description}`];
      for (const p of r.probes) if (p.status === "fail") lines.push(`        x ${p.probe.destination}: ${p.evidence}`);
      if (s.pos) lines.push(`        (scenario at ${s.pos.file}:${s.pos.line}:${s.pos.column})`);
      return `${lines.join("\n")}\n`;
    }
    default: {
      const never: never = r.status;
      throw new Error(`unknown status ${String(never)}`);
    }
  }
}

export function tableSummary(results: readonly ScenarioResult[]): string {
  const s = summarize(results);
  const verdict = succeeded(results) ? "ok: every expectation holds" : s.failed > 0 ? "FAILED: an expectation does not hold" : "FAILED: nothing was judged";
  return `\n${s.scenarios} scenarios: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped (${s.liveOnly} live-only); ${s.probes} probes judged, ${s.probesFailed} failed\n${verdict}\n`;
}

// ---------------------------------------------------------------- JSON

function probeJson(p: ProbeResult): Record<string, unknown> {
  return {
    destination: p.probe.destination,
    expected: { verdict: p.probe.expect, ...(p.probe.rule !== undefined ? { rule: p.probe.rule } : {}), ...(p.probe.reasons ? { reasons: p.probe.reasons } : {}) },
    actual: { verdict: p.actual.verdict, enforced: p.actual.enforced, rule: p.actual.rule, reason: p.actual.reason, as: decisionExpect(p.actual) },
    variant: p.probe.variant.kind,
    status: p.status,
    evidence: p.evidence,
  };
}

export function jsonReport(ctx: ReportContext, results: readonly ScenarioResult[]): string {
  const s = summarize(results);
  const out = {
    tool: "clawfence",
    version: TOOL_VERSION,
    mode: ctx.mode,
    policy: { name: ctx.policy.name, file: ctx.policy.sources[0] ?? null, hash: ctx.policy.hash, mode: ctx.policy.mode },
    ...(ctx.phase !== undefined ? { phase: ctx.phase } : {}),
    ...(ctx.scenariosFile !== undefined ? { scenarios_file: ctx.scenariosFile } : {}),
    ok: succeeded(results),
    summary: { scenarios: s.scenarios, passed: s.passed, failed: s.failed, skipped: s.skipped, live_only: s.liveOnly, probes: s.probes, probes_failed: s.probesFailed },
    results: results.map((r) => ({
      id: r.scenario.id,
      family: r.scenario.family,
      group: r.scenario.group,
      description: r.scenario.description,
      status: r.status,
      ...(r.skipReason !== undefined ? { skip_reason: r.skipReason } : {}),
      ...(r.scenario.pos ? { pos: `${r.scenario.pos.file}:${r.scenario.pos.line}:${r.scenario.pos.column}` } : {}),
      exempt: r.scenario.exempt,
      probes: r.probes.map(probeJson),
    })),
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}

// ---------------------------------------------------------------- JUnit XML

/** Text safe in XML 1.0 content and attributes: escaped, and characters XML cannot carry replaced. */
export function xmlEscape(text: string): string {
  // oxlint-disable-next-line no-control-regex
  const clean = text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, "\ufffd").replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
  return clean.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

function attrs(a: Readonly<Record<string, string | number>>): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`)
    .join("");
}

function testcase(r: ScenarioResult): string {
  const s = r.scenario;
  const head = `    <testcase${attrs({ classname: `clawfence.verify.${s.group}`, name: s.id, ...(s.pos ? { file: s.pos.file, line: s.pos.line } : {}) })}`;
  const lines: string[] = [];
  switch (r.status) {
    case "skip":
      lines.push(`      <skipped${attrs({ message: r.skipReason ?? "skipped" })}/>`);
      break;
    case "fail": {
      const bad = r.probes.filter((p) => p.status === "fail");
      const first = bad[0];
      const message = first ? `${first.probe.destination}: expected ${first.probe.expect}${first.probe.rule !== undefined ? ` by ${first.probe.rule}` : ""}, decided ${decisionExpect(first.actual)} by rule ${first.actual.rule} (${first.actual.reason})` : "failed";
      const body = bad.map((p) => `${p.probe.destination}: ${p.evidence}`).join("\n");
      lines.push(`      <failure${attrs({ message, type: "expectation" })}>${xmlEscape(body)}</failure>`);
      break;
    }
    case "pass":
      break;
    default: {
      const never: never = r.status;
      throw new Error(`unknown status ${String(never)}`);
    }
  }
  const out = [s.description, ...r.probes.map((p) => `${p.status} ${p.probe.destination}: ${p.evidence}`), ...s.exempt.map((x) => `exempt ${x.destination}: ${x.reason}`)].join("\n");
  lines.push(`      <system-out>${xmlEscape(out)}</system-out>`);
  return `${head}>\n${lines.join("\n")}\n    </testcase>`;
}

export function junitReport(ctx: ReportContext, results: readonly ScenarioResult[]): string {
  const all = summarize(results);
  const suites: string[] = [];
  for (const g of GROUPS) {
    const rs = results.filter((r) => r.scenario.group === (g as Group));
    if (rs.length === 0) continue;
    const s = summarize(rs);
    suites.push(
      `  <testsuite${attrs({ name: g, tests: s.scenarios, failures: s.failed, errors: 0, skipped: s.skipped })}>\n` +
        `    <properties>\n      <property${attrs({ name: "policy", value: ctx.policy.name })}/>\n      <property${attrs({ name: "policy.hash", value: ctx.policy.hash })}/>\n      <property${attrs({ name: "mode", value: ctx.mode })}/>\n    </properties>\n` +
        `${rs.map(testcase).join("\n")}\n  </testsuite>`,
    );
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites${attrs({ name: `clawfence verify ${ctx.policy.name}`, tests: all.scenarios, failures: all.failed, errors: 0, skipped: all.skipped })}>\n${suites.join("\n")}\n</testsuites>\n`;
}
