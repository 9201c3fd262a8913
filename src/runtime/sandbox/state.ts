/**
 * runtime/sandbox/state — a record per running sandbox, so leftovers of a crashed clawfence
 * can be found and removed (next start and `clawfence cleanup`), and `clawfence phase` can
 * find a sandbox by id or name.
 *
 * Layout: $CLAWFENCE_STATE_DIR (default /run/clawfence) / sandboxes / <id>.json, written
 * atomically (temp file + rename). A record whose owner pid is gone is a leftover.
 * Beside it, <id>.sock: the running clawfence's phase socket (runtime/sandbox/phase.ts), in
 * the same 0700 directory, so only root reaches it; `phase` in the record is the phase the
 * sandbox is enforcing, rewritten after each confirmed change.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface SandboxRecord {
  readonly id: string;
  readonly name: string;
  readonly pid: number;
  readonly ns: string;
  readonly hostIf: string;
  readonly tables: readonly string[];
  readonly slotFile?: string;
  readonly policy: string;
  readonly phase?: string;
  readonly created: string;
  /**
   * the sandbox namespace's identity (nsfs device and inode), so `cleanup` can find the
   * command's processes after a crash even where /run/netns/<ns> is no longer reachable
   * (it was mounted in the dead clawfence's private mount namespace)
   */
  readonly netns?: { readonly dev: number; readonly ino: number };
}

export function stateDir(env: Readonly<Record<string, string | undefined>>): string {
  return env["CLAWFENCE_STATE_DIR"] || "/run/clawfence";
}

function dir(base: string): string {
  return join(base, "sandboxes");
}

export async function writeRecord(base: string, rec: SandboxRecord): Promise<void> {
  await mkdir(dir(base), { recursive: true, mode: 0o700 });
  const file = join(dir(base), `${rec.id}.json`);
  await writeFile(`${file}.tmp`, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

export async function removeRecord(base: string, id: string): Promise<void> {
  await rm(join(dir(base), `${id}.json`), { force: true });
  await rm(phaseSocketPath(base, id), { force: true });
}

/** The unix socket on which the sandbox's clawfence takes phase requests. */
export function phaseSocketPath(base: string, id: string): string {
  return join(dir(base), `${id}.sock`);
}

export async function listRecords(base: string): Promise<SandboxRecord[]> {
  let names: string[];
  try {
    names = await readdir(dir(base));
  } catch {
    return [];
  }
  const out: SandboxRecord[] = [];
  for (const n of names.filter((x) => x.endsWith(".json")).sort()) {
    try {
      out.push(JSON.parse(await readFile(join(dir(base), n), "utf8")) as SandboxRecord);
    } catch {
      // a half-written record: its .tmp never got renamed; skip
    }
  }
  return out;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
