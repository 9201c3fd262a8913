/**
 * cli/commands/check — `clawfence check POLICY [--format text|json|sarif] [--strict] [--var k=v]...`
 *
 * Map: load the policy (cli/load-policy.ts: parse, schema, normalize; all diagnostics at
 * once), then run the guardrails (lint/index.ts) on the loaded IR, and print everything in
 * the chosen format (cli/format-diagnostics.ts). The loader's extra facts (where `mode`,
 * `default`, `internal` and `dns.upstreams` were written; which variables were used) are
 * handed to lint so its findings point at the right line.
 * Exit: 0 ok; 1 a finding of error severity (with --strict: or of warning severity);
 * 2 usage or I/O (CliError, printed by cli/main.ts).
 */
import { failsCheck } from "../../lint/index.ts";
import { PolicyError, type Diagnostic } from "../../policy/errors.ts";
import { parseCommandArgs, parseVarOverrides } from "../args.ts";
import { CliError, type CliIo, type Command } from "../errors.ts";
import { lintLoaded } from "../lint-gate.ts";
import { formatJson, formatSarif, formatText, type CheckReport } from "../format-diagnostics.ts";
import { loadPolicyFromCliWithInfo } from "../load-policy.ts";

const HELP = `usage: clawfence check POLICY [options]

Validate a policy (YAML, schema, names, references) and run the guardrails.

options:
  --format text|json|sarif   output format (default text)
  --strict                   warnings fail the check too (exit 1)
  --var NAME=VALUE           set a variable, overriding the policy's vars (repeatable)

exit: 0 ok, 1 findings of error severity (or warnings with --strict), 2 usage or I/O
`;

const FORMATS = ["text", "json", "sarif"] as const;
type Format = (typeof FORMATS)[number];

export const run: Command = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      allowPositionals: true,
      options: {
        format: { type: "string", short: "f" },
        strict: { type: "boolean" },
        var: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    },
    "run 'clawfence check --help' for the options",
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new CliError(
      "CF_USAGE_ARGS",
      positionals.length === 0 ? "check needs a policy file" : `check takes one policy file, got ${positionals.length}`,
      "run 'clawfence check POLICY.yaml' (see 'clawfence check --help')",
    );
  }
  const file = positionals[0] as string;
  const format = values.format ?? "text";
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new CliError("CF_USAGE_FORMAT", `unknown format '${format}'`, `use --format ${FORMATS.join(", --format ")}`);
  }
  const overrides = parseVarOverrides(values.var ?? []);
  const strict = values.strict === true;

  let diagnostics: Diagnostic[] = [];
  let policy: CheckReport["policy"];
  try {
    const loaded = loadPolicyFromCliWithInfo(file, io, { overrides });
    policy = { name: loaded.policy.name, rules: loaded.policy.rules.length, hash: loaded.policy.hash };
    diagnostics = lintLoaded(loaded);
  } catch (e) {
    // CliError (usage, I/O) propagates to cli/main.ts: exit 2
    if (!(e instanceof PolicyError)) throw e;
    diagnostics = [...e.diagnostics];
  }
  const ok = policy !== undefined && !failsCheck(diagnostics, strict);
  const report: CheckReport = { file, ok, ...(policy ? { policy } : {}), diagnostics };
  io.stdout.write(render(format as Format, report));
  return ok ? 0 : 1;
};

function render(format: Format, r: CheckReport): string {
  switch (format) {
    case "text":
      return formatText(r);
    case "json":
      return formatJson(r);
    case "sarif":
      return formatSarif(r);
  }
}
