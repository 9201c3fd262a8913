/**
 * cli/args — the argument handling the commands share: strict option parsing that turns a
 * bad option into a usage error, `--var NAME=VALUE` overrides, the `--phase` check against
 * the loaded policy, and writing a command's output to `-o FILE`.
 *
 * Map: a command (cli/commands/<name>.ts) calls `parseCommandArgs` first, then these helpers
 * on the values; every failure is a `CliError` (exit 2) with a stable code and a fix, which
 * cli/main.ts prints. Each command keeps its own help text, option table and fix wording: this
 * module owns the logic, not the words.
 * Imports node:util, node:fs, node:path, cli/errors.ts and policy/ (types and the variable-name
 * grammar); it must not import a command, runtime/, flows/ or verify/.
 */
import { writeFileSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import type { Policy, Upstream } from "../policy/ir.ts";
import { parseHostPort, readSystemUpstreams } from "../runtime/dns/upstreams.ts";
import { VAR_NAME_RE } from "../policy/wire.ts";
import { CliError, type CliIo } from "./errors.ts";

/**
 * `parseArgs` in strict mode over `argv`; an unknown option, a missing value or (with
 * `allowPositionals: false`) a positional is CF_USAGE_ARGS with `usageFix` as the fix.
 */
export function parseCommandArgs<const O extends ParseArgsOptionsConfig, const P extends boolean>(argv: readonly string[], config: { readonly options: O; readonly allowPositionals: P }, usageFix: string) {
  try {
    return parseArgs({ args: [...argv], options: config.options, allowPositionals: config.allowPositionals, strict: true });
  } catch (e) {
    throw new CliError("CF_USAGE_ARGS", e instanceof Error ? e.message : String(e), usageFix);
  }
}

/** `--var k=v` values to an overrides map; a malformed one is a usage error. */
export function parseVarOverrides(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    const name = eq === -1 ? v : v.slice(0, eq);
    if (eq === -1 || !VAR_NAME_RE.test(name)) {
      throw new CliError("CF_USAGE_VAR", `--var '${v}' is not NAME=VALUE`, "write --var name=value, with a name of letters, digits and '_' (e.g. --var aws_region=us-east-1)");
    }
    Object.defineProperty(out, name, { value: v.slice(eq + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** `--phase P` must name a phase the policy declares (CF_USAGE_PHASE); no --phase passes. */
export function checkPhaseArg(policy: Policy, phase: string | undefined): void {
  if (phase === undefined || policy.phases.includes(phase)) return;
  throw new CliError(
    "CF_USAGE_PHASE",
    policy.phases.length === 0 ? `--phase ${phase}: the policy declares no phases` : `--phase ${phase}: not a phase of this policy`,
    policy.phases.length === 0 ? "drop --phase, or declare `phases:` in the policy" : `use one of: ${policy.phases.join(", ")}`,
  );
}

/** Write `text` to `-o FILE` (relative to io.cwd); a failed write is CF_IO_WRITE naming the full path. */
export function writeOutputFile(io: CliIo, file: string, text: string): void {
  const path = resolvePath(io.cwd, file);
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new CliError("CF_IO_WRITE", `cannot write ${path}: ${(e as Error).message}`, "check the directory exists and is writable");
  }
}

/**
 * The DNS guard's upstreams: `--dns-upstream` flags, else the policy's `dns.upstreams`, else
 * /etc/resolv.conf's nameservers (minus `exclude`, the guard's own address where resolv.conf
 * may point at it). A bad flag is CF_USAGE_ARGS; nothing at all is CF_USAGE_UPSTREAM.
 */
export function pickUpstreams(flags: readonly string[], fromPolicy: readonly Upstream[] | null, exclude?: string): Upstream[] {
  if (flags.length > 0) {
    return flags.map((t) => {
      const u = parseHostPort(t, 53);
      if (!u) throw new CliError("CF_USAGE_ARGS", `--dns-upstream '${t}' is not an address[:port]`, "write e.g. --dns-upstream 10.0.0.2 or --dns-upstream [2001:db8::53]:53");
      return u;
    });
  }
  if (fromPolicy) return [...fromPolicy];
  const sys = readSystemUpstreams().filter((u) => u.address !== exclude);
  if (sys.length === 0) {
    throw new CliError(
      "CF_USAGE_UPSTREAM",
      `no DNS upstream: the policy has no dns.upstreams and /etc/resolv.conf lists no ${exclude === undefined ? "" : "other "}nameserver${exclude === undefined ? "" : " than the guard"}`,
      "set dns.upstreams in the policy or pass --dns-upstream ADDR",
      2,
    );
  }
  return sys;
}
