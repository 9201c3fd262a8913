/**
 * cli/commands/allow — `clawfence allow HOST[:PORT] --policy P [--comment TEXT] [--rule NAME]`
 * (seed 002's allow-domain.sh): add a destination to the policy file in place, keeping its
 * comments and order, check the result, write it atomically, and reload the enforcer that
 * runs this policy file, if any.
 *
 * Map: read P -> runtime/enforce/policy-edit.addAllow (YAML document edit) -> load + lint the
 * new text (nothing is written when it has errors) -> the decider must allow HOST:PORT by the
 * rule the entry went to (a rule before it could still decide otherwise) -> temp file +
 * rename -> SIGHUP the enforcer whose record names P, and wait for its outcome.
 * Exit: 0 written (and reloaded, or no enforcer runs it), 1 policy errors or the entry would
 * not take effect, 2 usage/IO, 3 the enforcer refused the reload (it keeps the previous policy).
 */
import { renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseCommandArgs } from "../args.ts";
import { CliError, type CliIo } from "../errors.ts";
import { passLintGate } from "../lint-gate.ts";
import { machineVarFromSystem, readPolicyFile } from "../load-policy.ts";
import { loadPolicyTextWithInfo } from "../../policy/load.ts";
import type { Policy } from "../../policy/ir.ts";
import { parseIp } from "../../policy/addr.ts";
import { compileDecider } from "../../match/decide.ts";
import { addAllow, parseHostArg } from "../../runtime/enforce/policy-edit.ts";
import { listEnforcerRecords, pidAlive, requestReload } from "../../runtime/enforce/state.ts";
import { stateDir } from "../../runtime/sandbox/state.ts";

const HELP = `usage: clawfence allow HOST[:PORT] --policy POLICY [--comment TEXT] [--rule NAME] [--no-reload]

Adds HOST (a name, *.name, an address or a network) to an allow rule of POLICY, in place:
--rule NAME (an existing allow rule), else the rule 'allowed-by-cli' (created with the port, or
'allowed-by-cli-PORT' when that one has other ports). The result is checked before it is
written; then the enforcer running this policy file is reloaded.
`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      allowPositionals: true,
      options: {
        policy: { type: "string" },
        comment: { type: "string" },
        rule: { type: "string" },
        "no-reload": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    },
    "run 'clawfence allow --help'",
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] === undefined) throw new CliError("CF_USAGE_ARGS", "give exactly one HOST[:PORT]", "e.g. clawfence allow api.example.com:443 --policy policy.yaml");
  if (!values.policy) throw new CliError("CF_USAGE_ARGS", "--policy is required", "e.g. clawfence allow api.example.com:443 --policy policy.yaml");
  const { host, port } = parseHostArg(positionals[0]);
  const file = resolve(io.cwd, values.policy);
  const text = readPolicyFile(file, values.policy);
  const edit = addAllow(text, { host, port, ...(values.comment !== undefined ? { comment: values.comment } : {}), ...(values.rule !== undefined ? { rule: values.rule } : {}) });

  let policy: Policy;
  if (!edit.unchanged) {
    policy = passLintGate(loadPolicyTextWithInfo(edit.text, values.policy, (p) => readPolicyFile(p, p), { cwd: io.cwd, resolveVar: machineVarFromSystem(io) }));
    checkTakesEffect(policy, edit.rule, host, port);
    const mode = statSync(file).mode & 0o777;
    const tmp = join(dirname(file), `.${process.pid}.clawfence-allow.tmp`);
    writeFileSync(tmp, edit.text, { mode });
    renameSync(tmp, file);
    io.stdout.write(`added ${host}${port !== null ? `:${port}` : ""} to rule '${edit.rule}'${edit.created ? " (new rule)" : ""} in ${values.policy}\n`);
  } else {
    io.stdout.write(`${host} is already in rule '${edit.rule}' of ${values.policy}\n`);
  }
  if (values["no-reload"]) return 0;
  const base = stateDir(io.env);
  const running = (await listEnforcerRecords(base)).filter((r) => r.policyPath === file && pidAlive(r.pid));
  let status = 0;
  for (const rec of running) {
    const outcome = await requestReload(base, rec);
    if (outcome === null) {
      io.stderr.write(`clawfence allow: the enforcer on ${rec.target} (pid ${rec.pid}) did not report a reload in time\n`);
      status = 3;
    } else if (!outcome.ok) {
      io.stderr.write(`clawfence allow: the enforcer on ${rec.target} refused the reload and keeps the previous policy: ${outcome.error ?? ""}\n`);
      status = 3;
    } else {
      io.stdout.write(`reloaded the enforcer on ${rec.target}: ${outcome.hash.slice(0, 12)} in ${outcome.ms ?? 0} ms\n`);
    }
  }
  if (running.length === 0) io.stdout.write("no running enforcer uses this policy file; it takes effect at the next start\n");
  return status;
}

/** The first matching rule for HOST:PORT must be the one the entry went to. */
function checkTakesEffect(policy: Policy, rule: string, host: string, port: number | null): void {
  const decider = compileDecider(policy);
  const p = port ?? 443;
  const ip = parseIp(host);
  let decided: string;
  if (ip !== null) decided = decider.decide({ protocol: "tcp", port: p, ip }).rule;
  else if (host.includes("/")) return; // a network: lint has checked coverage
  else {
    const name = host.startsWith("*.") ? `clawfence-check.${host.slice(2)}` : host;
    const d = decider.decideName(name);
    const grant = d.grants.find((g) => g.protocol === "tcp" && (g.ports === null || g.ports.some((r) => p >= r.from && p <= r.to)));
    decided = grant ? grant.rule : d.rule;
  }
  if (decided !== rule) {
    throw new CliError("CF_ALLOW_SHADOWED", `${host}:${p} would still be decided by rule '${decided}', which comes before '${rule}'`, `give --rule an allow rule before '${decided}', or move '${rule}' up (a lower priority) by hand; nothing was written`, 1);
  }
}
