/**
 * cli/commands/learn — `clawfence learn --db DB [--policy POLICY] [-o FILE] [--since T]
 * [--until T] [--sandbox NAME] [--min-subdomains N] [--explain] [--format text|json]`
 *
 * Map: open the flow store read-only (flows/store.ts), group the flows in the time range
 * with `countBy` (a million events become a few thousand groups), stream the DNS rows for
 * their answers, load the base policy when given, and hand all of it to the pure learner
 * (flows/learn.ts). Then lint the proposal (lint/), write it (-o FILE, else stdout) and print
 * the learn report: rules added, destinations not added and why, declined wildcards, lint
 * findings, the diff against the base policy, and with --explain the evidence of each entry.
 * The report goes to stdout when the policy goes to a file, else to stderr (so
 * `clawfence learn --db f.db > proposed.yaml` works). `--format json` prints one JSON object
 * (the policy text included) on stdout instead.
 * Exit: 0 proposal written; 1 the proposal fails its own verification or has lint errors
 * (still written, for review); 2 usage or I/O.
 */
import { resolve as resolvePath } from "node:path";
import {
  DEFAULT_MIN_SUBDOMAINS,
  LEARN_GROUP_COLUMNS,
  fromGroupRow,
  learn,
  resolutionFromRow,
  type Evidence,
  type LearnResult,
  type Resolution,
} from "../../flows/learn.ts";
import type { FlowFilter, FlowReader } from "../../flows/store.ts";
import { failsCheck, lintPolicy } from "../../lint/index.ts";
import { formatDiagnostic, type Diagnostic } from "../../policy/errors.ts";
import type { Policy } from "../../policy/ir.ts";
import { loadPolicyText } from "../../policy/load.ts";
import { parseCommandArgs, parseVarOverrides, writeOutputFile } from "../args.ts";
import { CliError, type CliIo, type Command } from "../errors.ts";
import { openReader, storeError, timeFilter } from "../flow-args.ts";
import { loadPolicyFromCli, machineVarFromSystem, readPolicyFile } from "../load-policy.ts";

const HELP = `usage: clawfence learn --db DB [options]

Propose the smallest policy that allows the flows recorded in DB (run the agent with
\`clawfence run --mode monitor --flows DB\` first). Destinations that must never be allowed
(shadow-model providers, DoH resolvers, paste and file-drop sites, special-purpose
addresses, DNS to other resolvers) are reported, not added.

options:
  --db FILE             the flow store written by \`clawfence run --flows\` (required)
  --policy FILE         add the rules to this policy (comments and order kept) and show a diff
  -o, --output FILE     write the proposed policy to FILE (default: stdout)
  --since T, --until T  time range: a duration back from now (30m, 2h, 7d) or an ISO 8601 time
  --sandbox NAME        only flows of this sandbox
  --min-subdomains N    distinct names below a domain before *.domain is proposed (default ${DEFAULT_MIN_SUBDOMAINS}; 0: never)
  --explain             show the evidence of each suggestion (flows, first/last seen, sandboxes)
  --format text|json    the learn report as text (default) or one JSON object on stdout
  --name NAME           name of a new policy (without --policy; default "learned")
  --var NAME=VALUE      set a policy variable (repeatable)

exit: 0 proposal written, 1 the proposal failed verification or lint (still written), 2 usage or I/O
`;

function* resolutions(reader: FlowReader, filter: FlowFilter): Generator<Resolution> {
  const seen = new Set<string>();
  for (const row of reader.rows({ ...filter, kind: "dns" })) {
    if (row.answers === null || row.name === null) continue;
    const key = `${row.sandbox ?? ""}\u0000${row.name}\u0000${row.answers}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const r = resolutionFromRow(row);
    if (r) yield r;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, "Z");
}

function slicesText(e: Evidence): string {
  return e.slices.map((s) => (s.protocol === "icmp" ? "icmp" : `${s.protocol} ${s.ports.join(",")}`)).join("; ");
}

function evidenceText(e: Evidence): string {
  const parts = [
    `${e.count} flow${e.count === 1 ? "" : "s"}`,
    `first ${iso(e.firstMs)}`,
    `last ${iso(e.lastMs)}`,
    `sandboxes: ${e.sandboxes.length > 0 ? e.sandboxes.join(", ") : "(none recorded)"}`,
  ];
  const s = slicesText(e);
  if (s) parts.push(s);
  parts.push(`via ${e.kinds.join(", ")}`);
  if (e.addresses.length > 0) parts.push(`addresses ${e.addresses.join(", ")}`);
  return parts.join("; ");
}

export function renderLearnReport(r: LearnResult, o: { source: string; basePath?: string; explain: boolean; lint: readonly Diagnostic[] }): string {
  const out: string[] = [];
  const range = r.firstMs !== null && r.lastMs !== null ? ` (${iso(r.firstMs)} .. ${iso(r.lastMs)})` : "";
  out.push(`learn: ${r.totalFlows} flows from ${o.source}${range}${o.basePath ? `; base policy ${o.basePath}` : ""}`);
  if (r.rules.length === 0) out.push("nothing to add: every learnable flow is already allowed");
  else {
    out.push(`added ${r.rules.length} rule${r.rules.length === 1 ? "" : "s"} with ${r.suggestions.length} destination${r.suggestions.length === 1 ? "" : "s"}${r.placement.before ? ` (before catch-all '${r.placement.before}')` : ""}:`);
    for (const rule of r.rules) out.push(`  ${rule.name}: ${rule.allow.join(", ")}`);
  }
  if (r.placement.warning) out.push(`warning: ${r.placement.warning}`);
  if (r.reformatted) out.push("note: the policy's YAML layout could not be edited in place; the file was re-written (comments kept)");
  out.push(`already allowed: ${r.alreadyAllowed.flows} flows to ${r.alreadyAllowed.destinations} destinations`);
  if (o.explain && r.suggestions.length > 0) {
    out.push("evidence:");
    for (const s of r.suggestions) {
      out.push(`  ${s.entry} -> ${s.rules.join(", ")}`);
      out.push(`      ${evidenceText(s.evidence)}`);
      if (s.kind === "wildcard") out.push(`      names: ${s.names.join(", ")}`);
      for (const n of s.notes) out.push(`      note: ${n}`);
    }
  }
  if (r.notAdded.length > 0) {
    out.push(`not added (${r.notAdded.length}):`);
    const w = Math.min(40, Math.max(...r.notAdded.map((n) => n.destination.length)));
    const cw = Math.max(...r.notAdded.map((n) => n.category.length));
    for (const n of r.notAdded) {
      out.push(`  ${n.destination.padEnd(w)}  ${n.category.padEnd(cw)}  ${String(n.evidence.count).padStart(6)} flows  ${n.detail}`);
      if (o.explain) out.push(`      ${evidenceText(n.evidence)}`);
    }
  }
  if (r.declinedWildcards.length > 0) {
    out.push("wildcards not proposed:");
    for (const d of r.declinedWildcards) out.push(`  *.${d.suffix} (${d.names.length} names): ${d.reason}`);
  }
  const errors = o.lint.filter((d) => d.severity === "error").length;
  const warnings = o.lint.filter((d) => d.severity === "warning").length;
  out.push(`check: ${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`);
  for (const d of o.lint) if (d.severity !== "info") out.push(`  ${formatDiagnostic(d).split("\n").join("\n  ")}`);
  for (const p of r.problems) out.push(`problem: ${p}`);
  if (r.diff) out.push("", r.diff.trimEnd());
  return `${out.join("\n")}\n`;
}

export const run: Command = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const { values } = parseCommandArgs(
    argv,
    {
      allowPositionals: false,
      options: {
        db: { type: "string" },
        policy: { type: "string" },
        output: { type: "string", short: "o" },
        since: { type: "string" },
        until: { type: "string" },
        sandbox: { type: "string" },
        "min-subdomains": { type: "string" },
        explain: { type: "boolean" },
        format: { type: "string", short: "f" },
        name: { type: "string" },
        var: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    },
    "run 'clawfence learn --help' for the options",
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (values.db === undefined) throw new CliError("CF_USAGE_ARGS", "learn needs --db DB", "run 'clawfence learn --db flows.db' (the file given to `clawfence run --flows`)");
  const format = values.format ?? "text";
  if (format !== "text" && format !== "json") throw new CliError("CF_USAGE_FORMAT", `unknown format '${format}'`, "use --format text or --format json");
  let minSubdomains = DEFAULT_MIN_SUBDOMAINS;
  if (values["min-subdomains"] !== undefined) {
    const v = values["min-subdomains"];
    if (!/^[0-9]{1,4}$/.test(v)) throw new CliError("CF_USAGE_VALUE", `--min-subdomains must be a whole number, not '${v}'`, "write e.g. --min-subdomains 3 (0 never proposes wildcards)");
    minSubdomains = Number(v);
  }
  if (values.name !== undefined && !/^[a-z0-9][a-z0-9-]*$/.test(values.name)) {
    throw new CliError("CF_USAGE_VALUE", `--name '${values.name}' is not a policy name`, "use lowercase letters, digits and '-', starting with a letter or digit");
  }
  const overrides = parseVarOverrides(values.var ?? []);
  const filter = timeFilter(values, Date.now());

  const resolveVar = machineVarFromSystem(io);
  const read = (p: string): string => readPolicyFile(p, p);
  const load = (text: string, file: string): Policy => loadPolicyText(text, file, read, { cwd: io.cwd, overrides, resolveVar });
  let base: { text: string; file: string; policy: Policy } | undefined;
  if (values.policy !== undefined) {
    const policy = loadPolicyFromCli(values.policy, io, { overrides, machineVar: resolveVar });
    base = { text: readPolicyFile(resolvePath(io.cwd, values.policy), values.policy), file: values.policy, policy };
  }

  const reader = openReader(values.db, io);
  let result: LearnResult;
  try {
    const groups = reader.countBy(LEARN_GROUP_COLUMNS, filter).map(fromGroupRow);
    result = learn(groups, resolutions(reader, filter), {
      load,
      minSubdomains,
      source: values.db,
      ...(base ? { base } : {}),
      ...(values.output !== undefined ? { file: values.output } : {}),
      ...(values.name !== undefined ? { name: values.name } : {}),
    });
  } catch (e) {
    return storeError(e);
  } finally {
    reader.close();
  }

  const lint = lintPolicy(result.policy);
  const failed = result.problems.length > 0 || failsCheck(lint, false);
  if (values.output !== undefined) writeOutputFile(io, values.output, result.text);
  if (format === "json") {
    io.stdout.write(
      `${JSON.stringify(
        {
          source: values.db,
          base: values.policy ?? null,
          ok: !failed,
          totalFlows: result.totalFlows,
          first: result.firstMs === null ? null : new Date(result.firstMs).toISOString(),
          last: result.lastMs === null ? null : new Date(result.lastMs).toISOString(),
          rules: result.rules,
          suggestions: result.suggestions,
          notAdded: result.notAdded,
          declinedWildcards: result.declinedWildcards,
          alreadyAllowed: result.alreadyAllowed,
          placement: result.placement,
          reformatted: result.reformatted,
          problems: result.problems,
          lint,
          policyHash: result.policy.hash,
          policy: result.text,
          diff: result.diff,
        },
        null,
        2,
      )}\n`,
    );
    return failed ? 1 : 0;
  }
  const text = renderLearnReport(result, { source: values.db, ...(values.policy !== undefined ? { basePath: values.policy } : {}), explain: values.explain === true, lint });
  if (values.output !== undefined) io.stdout.write(text);
  else {
    io.stdout.write(result.text);
    io.stderr.write(text);
  }
  return failed ? 1 : 0;
};
