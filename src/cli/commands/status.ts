/**
 * cli/commands/status — `clawfence status [--json] [--on TARGET]`: every enforcer of this
 * state directory (or one): running or not, the policy (name, hash, mode, phase) and file, the
 * kernel's per-rule counters and set sizes, and whether its DNS guard answers.
 * Exit: 0 when every enforcer listed runs and its resolver answers; 1 otherwise (none, a
 * stopped one whose rules stay, a resolver that does not answer).
 */
import { parseCommandArgs } from "../args.ts";
import type { CliIo } from "../errors.ts";
import { listEnforcerRecords } from "../../runtime/enforce/state.ts";
import { enforcerStatus, type EnforcerStatus } from "../../runtime/enforce/status.ts";
import { parseTarget, targetText } from "../../runtime/enforce/target.ts";
import { stateDir } from "../../runtime/sandbox/state.ts";

const HELP = `usage: clawfence status [--json] [--on host|bridge:NAME|interface:NAME]

Shows each enforcer: running or stopped (rules left in place), policy hash and mode, per-rule
counters, set sizes, and whether its DNS guard answers.
`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(argv, { allowPositionals: false, options: { json: { type: "boolean", default: false }, on: { type: "string" }, help: { type: "boolean", short: "h", default: false } } }, "run 'clawfence status --help'");
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const only = values.on === undefined ? null : targetText(parseTarget(values.on));
  const records = (await listEnforcerRecords(stateDir(io.env))).filter((r) => only === null || r.target === only);
  const all: EnforcerStatus[] = [];
  for (const r of records) all.push(await enforcerStatus(r));
  if (values.json) {
    io.stdout.write(`${JSON.stringify(all.map(toJson), null, 2)}\n`);
  } else if (all.length === 0) {
    io.stdout.write(`no enforcer${only !== null ? ` on ${only}` : ""} (state directory ${stateDir(io.env)})\n`);
  } else {
    for (const s of all) io.stdout.write(text(s));
  }
  return all.length > 0 && all.every((s) => s.running && s.resolver.ok) ? 0 : 1;
}

function toJson(s: EnforcerStatus): Record<string, unknown> {
  const r = s.record;
  return {
    target: r.target,
    running: s.running,
    pid: r.pid,
    mode: r.mode,
    iface: r.iface,
    users: r.users,
    policy: { path: r.policyPath, name: r.policyName, hash: r.hash, mode: r.policyMode, phase: r.phase },
    table: r.table,
    table_present: s.table.present,
    counters: s.table.counters,
    sets: s.table.sets,
    resolver: { address: `${r.guard.address}:${r.guard.port}`, ...s.resolver },
    proxy: s.proxy,
    flows: r.flows,
    started: r.started,
    reloads: r.reloads,
    last_reload: r.lastReload,
  };
}

function text(s: EnforcerStatus): string {
  const r = s.record;
  const lines = [
    `${r.target}: ${s.running ? `running (pid ${r.pid})` : s.table.present ? "STOPPED, rules left in place (fail closed)" : "stopped, no rules"}`,
    `  policy   ${r.policyName} ${r.hash.slice(0, 12)} (${r.policyMode}${r.phase !== null ? `, phase ${r.phase}` : ""}) from ${r.policyPath}`,
    `  selects  ${r.mode === "host" ? (r.users === null ? "the whole host" : `uids ${r.users.join(", ")}`) : `traffic from ${r.iface ?? ""}`}; table inet ${r.table}`,
    `  resolver ${r.guard.address}:${r.guard.port} ${s.resolver.ok ? `answers (${s.resolver.latencyMs ?? 0} ms)` : `DOWN: ${s.resolver.error ?? ""}`}; proxy: none (enforce runs no proxy)`,
    `  reloads  ${r.reloads}${r.lastReload ? `, last ${r.lastReload.at} ${r.lastReload.ok ? "ok" : `REFUSED: ${r.lastReload.error ?? ""}`}` : ""}`,
  ];
  const counters = Object.entries(s.table.counters);
  if (counters.length) {
    const w = Math.max(...counters.map(([n]) => n.length));
    lines.push("  counters (packets bytes):");
    for (const [n, c] of counters) lines.push(`    ${n.padEnd(w)}  ${String(c.packets).padStart(10)} ${String(c.bytes).padStart(12)}`);
  }
  const sets = Object.entries(s.table.sets);
  if (sets.length) lines.push(`  sets: ${sets.map(([n, k]) => `${n}=${k}`).join(" ")}`);
  return `${lines.join("\n")}\n`;
}
