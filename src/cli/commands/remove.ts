/**
 * cli/commands/remove — `clawfence remove [--on TARGET | --all] [--delete-bridge]`: a clean
 * teardown of enforcers: stop a running one (SIGTERM, wait), delete its nftables table, its
 * state record and names book; with --delete-bridge also the bridge clawfence created.
 * Without a record, `--on TARGET` still deletes the target's table (a lost state directory).
 * Exit: 0 done, 1 nothing to remove, 2 usage, 3 an enforcer did not stop.
 */
import { parseCommandArgs } from "../args.ts";
import { CliError, type CliIo } from "../errors.ts";
import { execTool } from "../../runtime/exec.ts";
import { listEnforcerRecords, pidAlive, removeEnforcerRecord, type EnforcerRecord } from "../../runtime/enforce/state.ts";
import { removeBridge } from "../../runtime/enforce/bridge.ts";
import { parseTarget, tableFor, targetId, targetText } from "../../runtime/enforce/target.ts";
import { stateDir } from "../../runtime/sandbox/state.ts";

const HELP = `usage: clawfence remove (--on host|bridge:NAME|interface:NAME | --all) [--delete-bridge]

Stops the enforcer (if it runs) and deletes its rules and state. The rules are otherwise left
in place when an enforcer stops (fail closed). --delete-bridge also deletes a bridge clawfence
created (containers on it lose their network).
`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(argv, { allowPositionals: false, options: { on: { type: "string" }, all: { type: "boolean", default: false }, "delete-bridge": { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false } } }, "run 'clawfence remove --help'");
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if ((values.on === undefined) === !values.all) throw new CliError("CF_USAGE_ARGS", "give --on TARGET or --all", "e.g. clawfence remove --on bridge:openclaw-egress");
  const base = stateDir(io.env);
  const target = values.on === undefined ? null : parseTarget(values.on);
  const records = (await listEnforcerRecords(base)).filter((r) => target === null || r.target === targetText(target));
  let status = 0;
  let removed = 0;
  for (const rec of records) {
    if (!(await stop(rec))) {
      io.stderr.write(`clawfence remove: the enforcer on ${rec.target} (pid ${rec.pid}) did not stop; nothing removed for it\n`);
      status = 3;
      continue;
    }
    await execTool("nft", ["delete", "table", "inet", rec.table]).catch(() => undefined);
    if (values["delete-bridge"] && rec.createdBridge !== null && rec.iface !== null) {
      await removeBridge(execTool, rec.iface, rec.createdBridge).catch((e: unknown) => io.stderr.write(`clawfence remove: bridge ${rec.iface ?? ""}: ${(e as Error).message}\n`));
    }
    await removeEnforcerRecord(base, rec.id, true);
    io.stdout.write(`removed the enforcer on ${rec.target} (table inet ${rec.table})\n`);
    removed++;
  }
  if (target !== null && records.length === 0) {
    const table = tableFor(target);
    const gone = await execTool("nft", ["delete", "table", "inet", table]).then(
      () => true,
      () => false,
    );
    await removeEnforcerRecord(base, targetId(target), true);
    if (gone) {
      io.stdout.write(`removed table inet ${table} (no state record was left)\n`);
      removed++;
    }
  }
  if (removed === 0 && status === 0) {
    io.stdout.write("nothing to remove\n");
    return 1;
  }
  return status;
}

async function stop(rec: EnforcerRecord): Promise<boolean> {
  if (!pidAlive(rec.pid)) return true;
  try {
    process.kill(rec.pid, "SIGTERM");
  } catch {
    return !pidAlive(rec.pid);
  }
  const end = Date.now() + 20_000;
  while (Date.now() < end) {
    if (!pidAlive(rec.pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
