/**
 * cli/commands/phase — `clawfence phase SANDBOX [PHASE]`: move a running `clawfence run`
 * sandbox to a later phase of its policy (default: the next one), and wait until it confirms.
 * Without SANDBOX: list the running sandboxes and their phases.
 *
 * Map: argv -> the state records (runtime/sandbox/state.ts) -> the sandbox by id, else by
 * the `--name` given to run -> requestPhase() over the sandbox's unix socket (phase.ts) ->
 * the running clawfence applies the phase (one nft transaction, then guard and proxy),
 * writes it into the record and replies -> print. Exit 0 moved; 2 refused (CF_PHASE_
 * BACKWARDS, _UNKNOWN, _LAST, _NONE, _NO_SANDBOX, _AMBIGUOUS) or usage; 3 no reply or the
 * change failed (the sandbox stays in its phase).
 */
import { parseArgs } from "node:util";
import { CliError, type CliIo } from "../errors.ts";
import { listRecords, phaseSocketPath, pidAlive, stateDir, type SandboxRecord } from "../../runtime/sandbox/state.ts";
import { requestPhase } from "../../runtime/sandbox/phase.ts";

const HELP = `usage: clawfence phase SANDBOX [PHASE] [--json] [--timeout SECONDS]
       clawfence phase                      (list running sandboxes and their phases)

Moves a running 'clawfence run' sandbox (SANDBOX: its id, or the --name given to run) to
PHASE, a phase of its policy later than the current one (default: the next phase), and waits
until it confirms (default 5 s). Phases only move forward. The policy table for the new
phase replaces the old one in one nft transaction, with the names resolved so far kept open
where the new phase allows them; connections already established stay up.
Needs root (the sandbox's socket lives in the root-only state directory).
`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        json: { type: "boolean", default: false },
        timeout: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    throw new CliError("CF_USAGE_ARGS", (e as Error).message, "run 'clawfence phase --help'");
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 2) throw new CliError("CF_USAGE_ARGS", `too many arguments: ${positionals.slice(2).join(" ")}`, "clawfence phase SANDBOX [PHASE]");
  let timeoutMs = 5000;
  if (values.timeout !== undefined) {
    const t = Number(values.timeout);
    if (!Number.isFinite(t) || t <= 0 || t > 3600) throw new CliError("CF_USAGE_ARGS", `--timeout '${values.timeout}' is not a number of seconds`, "write e.g. --timeout 10");
    timeoutMs = Math.round(t * 1000);
  }

  const base = stateDir(io.env);
  const records = await listRecords(base);
  const running = records.filter((r) => pidAlive(r.pid));
  const [target, requested] = positionals;
  if (target === undefined) {
    if (values.json) io.stdout.write(`${JSON.stringify(running.map((r) => ({ id: r.id, name: r.name, policy: r.policy, phase: r.phase ?? null, pid: r.pid })))}\n`);
    else if (running.length === 0) io.stdout.write("no running sandboxes\n");
    else for (const r of running) io.stdout.write(`${describe(r)}\n`);
    return 0;
  }

  const rec = pick(target, records, running);
  const reply = await requestPhase(phaseSocketPath(base, rec.id), requested, timeoutMs);
  if (!reply.ok) throw new CliError(reply.code, `sandbox ${rec.id}: ${reply.message}`, reply.fix, reply.exit === 3 ? 3 : 2);
  if (values.json) io.stdout.write(`${JSON.stringify({ id: rec.id, name: rec.name, ...reply })}\n`);
  else {
    io.stdout.write(`sandbox ${rec.id} (${rec.name}): phase ${reply.from} -> ${reply.to} (${reply.names} live name(s) re-decided, ${reply.elements} element(s) kept, ${reply.ms} ms)\n`);
  }
  if (reply.warning !== undefined) io.stderr.write(`clawfence: warning: ${reply.warning}\n`);
  return 0;
}

function describe(r: SandboxRecord): string {
  return `${r.id}  ${r.name}  policy ${r.policy}  phase ${r.phase ?? "(none)"}  pid ${r.pid}`;
}

/** The running sandbox `target` names: an id first, else a unique name. */
function pick(target: string, all: readonly SandboxRecord[], running: readonly SandboxRecord[]): SandboxRecord {
  const list = running.length === 0 ? "no sandbox is running" : `running: ${running.map((r) => `${r.id} (${r.name}, phase ${r.phase ?? "none"})`).join("; ")}`;
  const byId = running.find((r) => r.id === target);
  if (byId) return byId;
  const byName = running.filter((r) => r.name === target);
  if (byName.length === 1 && byName[0]) return byName[0];
  if (byName.length > 1) {
    throw new CliError("CF_PHASE_AMBIGUOUS", `${byName.length} running sandboxes are named '${target}': ${byName.map((r) => r.id).join(", ")}`, "name the sandbox by its id (give each run its own --name to avoid this)");
  }
  if (all.some((r) => r.id === target || r.name === target)) {
    throw new CliError("CF_PHASE_NO_SANDBOX", `sandbox '${target}' is not running (its clawfence exited; ${list})`, "run 'clawfence cleanup' to remove its leftovers");
  }
  throw new CliError("CF_PHASE_NO_SANDBOX", `no running sandbox with id or name '${target}' (${list})`, "pass an id or --name of a running 'clawfence run' (run 'clawfence phase' to list them; CLAWFENCE_STATE_DIR must match the run's)");
}
