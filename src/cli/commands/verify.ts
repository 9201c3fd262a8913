/**
 * cli/commands/verify — `clawfence verify --policy POLICY [--scenarios F] [--junit FILE]
 * [--format table|json] [--no-builtin] [--skip ID[,ID]] [--phase P] [--var k=v]...`
 *
 * Map: load the policy (cli/load-policy.ts), build the built-in scenarios for it
 * (verify/builtin.ts) and the user's (verify/scenarios-file.ts), run them through the static
 * runner (verify/runner.ts) and print the table as results arrive, or JSON at the end; write
 * JUnit XML to --junit. `--schema` prints the scenarios file's JSON Schema, `--list` the
 * built-in scenario ids. `--live` judges by what reaches the far side of a real `clawfence
 * run` sandbox in a throwaway world of namespaces (verify/live/runner.ts); it needs root.
 * Exit: 0 every expectation holds; 1 an expectation failed, nothing was judged, or the
 * policy has errors; 2 usage, I/O, a broken scenarios file, or --live without root;
 * 3 the live world or sandbox failed.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { didYouMean } from "../../policy/codes.ts";
import { PolicyError, formatDiagnostic } from "../../policy/errors.ts";
import { BUILTINS, builtinScenarios } from "../../verify/builtin.ts";
import { createStaticRunner, runVerify, type ProbeRunner } from "../../verify/runner.ts";
import { createLiveRunner } from "../../verify/live/runner.ts";
import { PlanError } from "../../verify/live/plan.ts";
import { idWidth, jsonReport, junitReport, succeeded, tableHeader, tableRow, tableSummary, type ReportContext } from "../../verify/report.ts";
import type { Scenario } from "../../verify/scenario.ts";
import { loadScenariosText, scenariosJsonSchema, type LoadedScenarios } from "../../verify/scenarios-file.ts";
import { checkPhaseArg, parseCommandArgs, parseVarOverrides } from "../args.ts";
import { CliError, type CliIo, type Command } from "../errors.ts";
import { loadPolicyFromCli, readPolicyFile } from "../load-policy.ts";

const HELP = `usage: clawfence verify --policy POLICY [options]

Validation scenarios and the escape suite: every expectation is decided with the policy's
decide() (static mode: fast, no privileges, for CI on every policy change), or, with --live,
by what reaches the far side of a real sandbox (needs root).

options:
  --policy FILE            the policy to verify (required)
  --scenarios FILE         your expectations (YAML; see --schema), judged with the built-ins
  --format table|json      output (default table, printed as scenarios finish)
  --junit FILE             also write JUnit XML (one suite per group: builtin, escape, user)
  --no-builtin             run only the scenarios file
  --skip ID[,ID]           switch built-in scenarios off by id or family (repeatable; see --list)
  --phase PHASE            judge in this phase only (default: every phase the policy declares)
  --var NAME=VALUE         set a policy variable (repeatable)
  --live                   probe inside a real \`clawfence run\` sandbox in a throwaway world of
                           network namespaces; judged by what reaches the far side (root)
  --user USER              live: the contained user (default nobody)
  --sandbox-mode MODE      live: run the sandbox with --mode monitor|enforce whatever the
                           policy says (a self-test: monitor must fail the escape scenarios)
  --list                   list the built-in scenarios
  --schema                 print the JSON Schema of the scenarios file

exit: 0 every expectation holds, 1 an expectation failed (or nothing was judged),
      2 usage, I/O, a broken scenarios file, --live without root; 3 the live world failed
`;

const FORMATS = ["table", "json"] as const;
type Format = (typeof FORMATS)[number];

function listText(): string {
  const w = Math.max(...BUILTINS.map((b) => b.id.length));
  const lines = BUILTINS.map((b) => `${b.group.padEnd(7)}  ${b.id.padEnd(w)}  ${b.liveOnly !== undefined ? "[live-only] " : ""}${b.description} (${b.source})`);
  return `${lines.join("\n")}\n\nallowed-destinations has one instance per allow rule: allowed-destinations:RULE\n`;
}

export const run: Command = async (argv: readonly string[], io: CliIo): Promise<number> => {
  const v = parseCommandArgs(
    argv,
    {
      allowPositionals: false,
      options: {
        policy: { type: "string" },
        scenarios: { type: "string" },
        format: { type: "string" },
        junit: { type: "string" },
        "no-builtin": { type: "boolean" },
        skip: { type: "string", multiple: true },
        phase: { type: "string" },
        var: { type: "string", multiple: true },
        live: { type: "boolean" },
        user: { type: "string" },
        "sandbox-mode": { type: "string" },
        list: { type: "boolean" },
        schema: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    },
    "run 'clawfence verify --help' for the options",
  ).values;
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (v.schema) {
    io.stdout.write(`${JSON.stringify(scenariosJsonSchema(), null, 2)}\n`);
    return 0;
  }
  if (v.list) {
    io.stdout.write(listText());
    return 0;
  }
  const sandboxMode = v["sandbox-mode"];
  if (sandboxMode !== undefined && sandboxMode !== "monitor" && sandboxMode !== "enforce") {
    throw new CliError("CF_USAGE_ARGS", `--sandbox-mode '${sandboxMode}' is not monitor or enforce`, "use --sandbox-mode monitor or --sandbox-mode enforce (with --live)");
  }
  if (!v.live && (sandboxMode !== undefined || v.user !== undefined)) {
    throw new CliError("CF_USAGE_ARGS", `--${sandboxMode !== undefined ? "sandbox-mode" : "user"} only applies to live mode`, "add --live, or drop the option");
  }
  if (v.live && process.getuid?.() !== 0) {
    throw new CliError(
      "CF_VERIFY_LIVE_ROOT",
      "verify --live needs root: it builds network namespaces and runs `clawfence run` (nftables) inside them",
      "run it with sudo (the probes themselves run as an unprivileged user, --user, default nobody), or drop --live for static mode",
      2,
    );
  }
  const format = (v.format ?? "table") as Format;
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new CliError("CF_USAGE_FORMAT", `--format ${v.format ?? ""}: not a format`, "use --format table or --format json");
  }
  if (v.policy === undefined) {
    throw new CliError("CF_USAGE_ARGS", "verify needs --policy", "run 'clawfence verify --policy policy.yaml' (see 'clawfence verify --help')");
  }
  if (v["no-builtin"] && v.scenarios === undefined) {
    throw new CliError("CF_USAGE_ARGS", "--no-builtin without --scenarios leaves nothing to verify", "add --scenarios FILE, or drop --no-builtin");
  }

  const policy = loadPolicyFromCli(v.policy, io, { overrides: parseVarOverrides(v.var ?? []) });
  const phase = v.phase;
  checkPhaseArg(policy, phase);

  let user: LoadedScenarios | undefined;
  if (v.scenarios !== undefined) {
    const text = readPolicyFile(resolve(io.cwd, v.scenarios), v.scenarios);
    try {
      user = loadScenariosText(text, v.scenarios, policy, phase !== undefined ? { phase } : {});
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      for (const d of e.diagnostics) io.stderr.write(`${formatDiagnostic(d)}\n`);
      io.stderr.write(`clawfence: error CF_VERIFY_SCENARIOS: ${v.scenarios} has ${e.diagnostics.length} problem${e.diagnostics.length === 1 ? "" : "s"}\n  fix: correct the file (see 'clawfence verify --schema')\n`);
      return 2;
    }
  }

  const scenarios: Scenario[] = [...(v["no-builtin"] ? [] : builtinScenarios(policy, phase !== undefined ? { phase } : {})), ...(user?.scenarios ?? [])];
  const disabled = new Map<string, string>(user?.disable ?? []);
  const known = new Set(scenarios.flatMap((s) => [s.id, s.family]));
  for (const id of (v.skip ?? []).flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean)) {
    if (!known.has(id)) {
      const guess = didYouMean(id, [...known]);
      throw new CliError("CF_USAGE_SKIP", `--skip ${id}: no such scenario`, guess ? `did you mean '${guess}'? ('clawfence verify --list' shows the built-ins)` : "see 'clawfence verify --list' for built-in ids; user ids come from the scenarios file");
    }
    disabled.set(id, "disabled by --skip");
  }

  const ctx: ReportContext = { policy, mode: v.live ? "live" : "static", builtin: !v["no-builtin"], ...(phase !== undefined ? { phase } : {}), ...(v.scenarios !== undefined ? { scenariosFile: v.scenarios } : {}) };
  const width = idWidth(scenarios);
  if (format === "table") io.stdout.write(tableHeader(ctx));
  let runner: ProbeRunner = createStaticRunner(policy);
  if (v.live) {
    const judged = scenarios.filter((s) => !disabled.has(s.id) && !disabled.has(s.family));
    const vars = parseVarOverrides(v.var ?? []);
    runner = createLiveRunner(policy, resolve(io.cwd, v.policy), {
      scenarios: judged,
      vars,
      env: io.env,
      ...(phase !== undefined ? { phase } : {}),
      ...(sandboxMode !== undefined ? { sandboxMode } : {}),
      ...(v.user !== undefined ? { user: v.user } : {}),
      log: (line) => io.stderr.write(`${line}\n`),
    });
  }
  let results;
  try {
    results = await runVerify(scenarios, runner, {
      disabled,
      ...(format === "table" ? { onResult: (r) => io.stdout.write(tableRow(r, width)) } : {}),
    });
  } catch (e) {
    if (e instanceof PlanError) throw new CliError(e.code, e.message, e.fix, 3);
    throw e;
  }
  if (format === "table") io.stdout.write(tableSummary(results));
  else io.stdout.write(jsonReport(ctx, results));

  if (v.junit !== undefined) {
    try {
      writeFileSync(resolve(io.cwd, v.junit), junitReport(ctx, results));
    } catch (e) {
      throw new CliError("CF_IO_WRITE", `cannot write '${v.junit}': ${e instanceof Error ? e.message : String(e)}`, "check that the directory exists and is writable");
    }
  }
  return succeeded(results) ? 0 : 1;
};
