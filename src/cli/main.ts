#!/usr/bin/env node
/**
 * cli/main — the entry point: picks the command, runs it, maps failures to exit codes.
 *
 * Map: argv[2] names a command; each command lives in cli/commands/<name>.ts and exports
 * `run: Command`. Commands are loaded lazily so `clawfence run -- true` does not pay for
 * the compilers. This is the only place (with the command files) that reads argv or
 * calls process.exit. Exit codes: 0 ok, 1 findings/policy errors, 2 usage or I/O,
 * 3 runtime failure, or what a command returns (run: the child's status).
 */
import { lstatSync, mkdirSync } from "node:fs";
import { enableCompileCache } from "node:module";
import { dirname, join } from "node:path";
import { CliError, type CliIo, type Command } from "./errors.ts";
import { PolicyError, formatDiagnostic } from "../policy/errors.ts";
import { RuntimeError } from "../runtime/errors.ts";

export const COMMANDS: Readonly<Record<string, string>> = {
  check: "validate a policy and report findings",
  explain: "show which rule decides a destination, and why",
  compile: "compile a policy to nftables, iptables, ip6tables, pf, kubernetes, cilium, aviatrix, hosts",
  schema: "print the JSON Schema of the policy format",
  import: "convert an allowlist.conf or attestation YAML list into a policy",
  run: "run a command in a contained network namespace under a policy",
  demo: "run a self-contained demo world in namespaces (no network needed)",
  cleanup: "remove leftovers of crashed `clawfence run` sandboxes",
  phase: "move a running sandbox to its next phase",
  flows: "read the flow log",
  learn: "propose a policy from monitor-mode flows",
  report: "audit evidence from the flow log",
  verify: "run validation scenarios and the escape suite",
  enforce: "enforce a policy on a host, bridge or interface (daemon)",
  allow: "add a destination to a policy file and reload the enforcer",
  status: "show the state of a running enforcer",
  remove: "remove an enforcer's rules",
  "install-service": "write a systemd unit or LaunchDaemon for the enforcer",
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([c, d]) => `  ${c.padEnd(width)}  ${d}`);
  return `usage: clawfence COMMAND [ARGS...]\n\ncommands:\n${lines.join("\n")}\n\nRun 'clawfence COMMAND --help' for a command's options.\n`;
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V") {
    io.stdout.write("clawfence 0.1.0\n");
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, name)) {
    throw new CliError("CF_USAGE_COMMAND", `unknown command '${name}'`, `run 'clawfence --help' for the list of commands`);
  }
  let mod: { run?: Command };
  try {
    mod = (await import(`./commands/${name}.ts`)) as { run?: Command };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND" && String((e as Error).message).includes(`commands/${name}.`)) {
      throw new CliError("CF_USAGE_NOT_AVAILABLE", `command '${name}' is not available in this build`, "see README.md for the commands this version provides", 2);
    }
    throw e;
  }
  if (typeof mod.run !== "function") {
    throw new CliError("CF_INTERNAL", `command module '${name}' has no run()`, "report this as a bug", 3);
  }
  return mod.run(rest, io);
}

export function reportFailure(e: unknown, io: CliIo): number {
  if (e instanceof CliError || e instanceof RuntimeError) {
    io.stderr.write(`clawfence: error ${e.code}: ${e.message}\n  fix: ${e.fix}\n`);
    return e.exit;
  }
  if (e instanceof PolicyError) {
    for (const d of e.diagnostics) io.stderr.write(`${formatDiagnostic(d)}\n`);
    return 1;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  io.stderr.write(`clawfence: error CF_INTERNAL: ${err.message}\n  fix: this is a bug; rerun with CLAWFENCE_DEBUG=1 and report the stack trace\n`);
  if (io.env["CLAWFENCE_DEBUG"]) io.stderr.write(`${err.stack ?? ""}\n`);
  return 3;
}

/**
 * Node's on-disk compile cache for the modules a command loads (start-up time: `clawfence run
 * -- true` loads ~280 modules). Root only, in the state directory (default /run/clawfence,
 * root's alone): code cache is trusted input, so it is used only from a directory that we own
 * and that no one else can write, nor can its parent be swapped by someone else. Off with
 * NODE_DISABLE_COMPILE_CACHE=1. A failure here only costs speed.
 */
export function useCompileCache(env: Readonly<Record<string, string | undefined>>): string | null {
  if (process.getuid?.() !== 0) return null;
  const dir = join(env["CLAWFENCE_STATE_DIR"] || "/run/clawfence", "compile-cache");
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const d of [dir, dirname(dir)]) {
      const st = lstatSync(d);
      if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) return null;
    }
    const r = enableCompileCache(dir);
    return r.directory ?? null;
  } catch {
    return null;
  }
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), env: process.env };
  useCompileCache(io.env);
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.exitCode = reportFailure(e, io);
    },
  );
}
