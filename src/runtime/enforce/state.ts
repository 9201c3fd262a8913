/**
 * runtime/enforce/state — what a running enforcer tells other clawfence commands, and how they
 * talk to it. Kept deliberately small (docs/enforce.md, "State and control"):
 *
 *   $CLAWFENCE_STATE_DIR (default /run/clawfence) / enforcers /
 *     <id>.json         the record: pid, target, policy path and hash, table, guard address,
 *                       log group, reload count and the last reload's outcome (written
 *                       atomically: temp file + rename, by the enforcer only)
 *     <id>.names.json   the guard's (name -> addresses) book, so a restart can re-derive the
 *                       live set elements (runtime/enforce/live.ts)
 *     <id>.phase        a phase request: written by a controller before SIGHUP, read and
 *                       removed by the enforcer's reload
 *
 * Control is by signal: SIGHUP reloads (policy file, phase request), SIGTERM/SIGINT stop and
 * leave the rules in place. A controller (`allow`, `remove`) finds the record, signals the pid,
 * and reads the record again to see the outcome (`waitForReload`).
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface ReloadOutcome {
  readonly at: string;
  readonly ok: boolean;
  /** policy hash now enforced */
  readonly hash: string;
  /** what went wrong (the running policy stayed) */
  readonly error?: string;
  /** live (name, address) pairs re-added to the new table */
  readonly carried?: number;
  readonly ms?: number;
}

export interface EnforcerRecord {
  readonly id: string;
  readonly pid: number;
  /** `host`, `bridge:NAME`, `interface:NAME` */
  readonly target: string;
  readonly mode: "host" | "bridge" | "interface";
  readonly iface: string | null;
  /** host mode: the agent's uids, null for the whole host */
  readonly users: readonly number[] | null;
  readonly table: string;
  /** absolute path of the policy file */
  readonly policyPath: string;
  readonly policyName: string;
  readonly hash: string;
  readonly policyMode: "enforce" | "monitor";
  readonly phase: string | null;
  readonly guard: { readonly address: string; readonly port: number };
  readonly logGroup: number;
  readonly flows: string | null;
  /** the bridge was created by clawfence (remove --delete-bridge may delete it) */
  readonly createdBridge: "docker" | "linux" | null;
  readonly started: string;
  readonly reloads: number;
  readonly lastReload: ReloadOutcome | null;
}

export function enforcerDir(stateDir: string): string {
  return join(stateDir, "enforcers");
}

export function recordPath(stateDir: string, id: string): string {
  return join(enforcerDir(stateDir), `${id}.json`);
}

export function namesPath(stateDir: string, id: string): string {
  return join(enforcerDir(stateDir), `${id}.names.json`);
}

export function phasePath(stateDir: string, id: string): string {
  return join(enforcerDir(stateDir), `${id}.phase`);
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(join(file, ".."), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}

export async function writeEnforcerRecord(stateDir: string, rec: EnforcerRecord): Promise<void> {
  await writeAtomic(recordPath(stateDir, rec.id), `${JSON.stringify(rec, null, 2)}\n`);
}

export async function writeNames(stateDir: string, id: string, names: Readonly<Record<string, readonly string[]>>): Promise<void> {
  await writeAtomic(namesPath(stateDir, id), `${JSON.stringify(names)}\n`);
}

export async function readNames(stateDir: string, id: string): Promise<Record<string, string[]>> {
  try {
    const doc = JSON.parse(await readFile(namesPath(stateDir, id), "utf8")) as unknown;
    return typeof doc === "object" && doc !== null && !Array.isArray(doc) ? (doc as Record<string, string[]>) : {};
  } catch {
    return {};
  }
}

export async function readEnforcerRecord(stateDir: string, id: string): Promise<EnforcerRecord | null> {
  try {
    return JSON.parse(await readFile(recordPath(stateDir, id), "utf8")) as EnforcerRecord;
  } catch {
    return null;
  }
}

export async function listEnforcerRecords(stateDir: string): Promise<EnforcerRecord[]> {
  let names: string[];
  try {
    names = await readdir(enforcerDir(stateDir));
  } catch {
    return [];
  }
  const out: EnforcerRecord[] = [];
  for (const n of names.filter((x) => x.endsWith(".json") && !x.endsWith(".names.json")).sort()) {
    const rec = await readEnforcerRecord(stateDir, n.slice(0, -".json".length));
    if (rec !== null) out.push(rec);
  }
  return out;
}

/** Remove the record (and, with `all`, the names book and a pending phase request). */
export async function removeEnforcerRecord(stateDir: string, id: string, all: boolean): Promise<void> {
  await rm(recordPath(stateDir, id), { force: true });
  if (all) {
    await rm(namesPath(stateDir, id), { force: true });
    await rm(phasePath(stateDir, id), { force: true });
  }
}

/** Is `pid` a live process? An exited one its parent has not reaped yet (a zombie) is not. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/**
 * Send SIGHUP to a running enforcer and wait until its record shows a reload newer than the
 * one it had (the outcome), or `timeoutMs` passes (null).
 */
export async function requestReload(stateDir: string, rec: EnforcerRecord, opts: { phase?: string; timeoutMs?: number } = {}): Promise<ReloadOutcome | null> {
  if (opts.phase !== undefined) await writeAtomic(phasePath(stateDir, rec.id), `${opts.phase}\n`);
  const before = rec.reloads;
  process.kill(rec.pid, "SIGHUP");
  const end = Date.now() + (opts.timeoutMs ?? 15_000);
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    const now = await readEnforcerRecord(stateDir, rec.id);
    if (now !== null && now.reloads > before && now.lastReload !== null) return now.lastReload;
    if (!pidAlive(rec.pid)) return null;
  }
  return null;
}
