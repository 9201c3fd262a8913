/**
 * cli/commands/compile — `clawfence compile POLICY --target T [-o FILE] [--hook output|forward]
 * [--iface NAME] [--resolve] [--log-group N] [--phase P] [--table NAME]`.
 *
 * Map: load the policy (cli/load-policy.ts), do the I/O the pure backends may not do —
 * `--resolve` lookups (node:dns) and, for host-mode Linux targets of a policy without
 * `dns.upstreams`, the system resolvers from /etc/resolv.conf — then call the backend from
 * compile/index.ts and write its text. Notes go to stderr.
 * Exit: 0 ok; 1 UnsupportedFeature (CF_COMPILE_UNSUPPORTED, with the rule and the fix) or
 * policy errors; 2 usage (unknown target: CF_USAGE_TARGET lists the targets) and I/O.
 */
import { Resolver } from "node:dns/promises";
import { checkPhaseArg, parseCommandArgs, writeOutputFile } from "../args.ts";
import { CliError, type Command } from "../errors.ts";
import type { Policy } from "../../policy/ir.ts";
import { UnsupportedFeature, type CompileOptions } from "../../compile/backend.ts";
import { BACKENDS, TARGETS, isTargetName } from "../../compile/index.ts";
import { loadPolicyFromCli } from "../load-policy.ts";
import { readSystemUpstreams, systemUpstreams } from "../../runtime/dns/upstreams.ts";

const HELP = `usage: clawfence compile POLICY --target TARGET [options]

targets: ${TARGETS.join(", ")}

options:
  -t, --target T        what to compile to (required)
  -o, --output FILE     write to FILE instead of stdout
  --hook output|forward nftables/iptables: host egress (output, default) or bridge/sandbox (forward)
  --iface NAME          only traffic leaving by (output) or arriving from (forward) this interface
  --resolve             pin names to the addresses they resolve to now (a comment says so)
  --log-group N         NFLOG group for denies and would-denies (default 0)
  --phase P             compile this phase (default: the policy's first)
  --table NAME          nftables table name (default clawfence_<policy name>)
`;

/** Every exact name in the policy's rules (wildcards cannot be resolved). */
export function namesToResolve(policy: Policy): string[] {
  const out = new Set<string>();
  for (const r of policy.rules) for (const d of r.dests) if (d.kind === "domain") out.add(d.name);
  return [...out].sort();
}

async function resolveAll(names: readonly string[]): Promise<Map<string, string[]>> {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  const out = new Map<string, string[]>();
  await Promise.all(
    names.map(async (n) => {
      const [a, aaaa] = await Promise.allSettled([resolver.resolve4(n), resolver.resolve6(n)]);
      const addrs = [...(a.status === "fulfilled" ? a.value : []), ...(aaaa.status === "fulfilled" ? aaaa.value : [])];
      if (addrs.length) out.set(n, addrs);
    }),
  );
  return out;
}

/** `nameserver` lines of a resolv.conf as upstreams (port 53). */
export const parseResolvConf = systemUpstreams;

function int(text: string | undefined, what: string, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) > max) throw new CliError("CF_USAGE_VALUE", `${what} must be a number 0..${max}, not '${text}'`, `write e.g. ${what} 1`);
  return Number(text);
}

export const run: Command = async (argv, io) => {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      allowPositionals: true,
      options: {
        target: { type: "string", short: "t" },
        output: { type: "string", short: "o" },
        hook: { type: "string" },
        iface: { type: "string" },
        resolve: { type: "boolean" },
        "log-group": { type: "string" },
        phase: { type: "string" },
        table: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    },
    "run 'clawfence compile --help'",
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) throw new CliError("CF_USAGE_ARGS", "compile takes exactly one POLICY file", "clawfence compile POLICY --target nftables");
  const target = values.target;
  if (target === undefined || !isTargetName(target)) {
    throw new CliError(
      "CF_USAGE_TARGET",
      target === undefined ? "--target is required" : `unknown target '${target}'`,
      `use one of: ${TARGETS.join(", ")}`,
    );
  }
  const backend = BACKENDS[target];
  const hook = values.hook;
  if (hook !== undefined && hook !== "output" && hook !== "forward") {
    throw new CliError("CF_USAGE_VALUE", `--hook must be output or forward, not '${hook}'`, "--hook output (host egress) or --hook forward (bridge/sandbox)");
  }
  if (values.iface !== undefined && !/^[A-Za-z0-9_.@-]{1,15}$/.test(values.iface)) {
    throw new CliError("CF_USAGE_VALUE", `--iface '${values.iface}' is not an interface name`, "interface names are 1-15 characters of letters, digits, _ . @ -");
  }
  if (values.table !== undefined && !/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(values.table)) {
    throw new CliError("CF_USAGE_VALUE", `--table '${values.table}' is not a table name`, "start with a letter; letters, digits and _ only; at most 64");
  }
  const logGroup = int(values["log-group"], "--log-group", 65535);

  let policy = loadPolicyFromCli(file, io);
  checkPhaseArg(policy, values.phase);
  const notes: string[] = [];
  const linux = target === "nftables" || target === "iptables" || target === "ip6tables";
  if (linux && (hook ?? "output") === "output" && policy.dns.upstreams === null) {
    const ups = readSystemUpstreams(); // none (or no resolv.conf): DNS stays blocked, said below
    notes.push(ups.length ? `dns.upstreams not set: using the system resolvers from /etc/resolv.conf (${ups.map((u) => u.address).join(", ")})` : "dns.upstreams not set and /etc/resolv.conf names no resolver: DNS is blocked");
    policy = { ...policy, dns: { ...policy.dns, upstreams: ups } };
  }
  const opts: { -readonly [K in keyof CompileOptions]: CompileOptions[K] } = {};
  if (hook !== undefined) opts.hook = hook;
  if (values.iface !== undefined) opts.iface = values.iface;
  if (logGroup !== undefined) opts.logGroup = logGroup;
  if (values.phase !== undefined) opts.phase = values.phase;
  if (values.table !== undefined) opts.tableName = values.table;
  if (values.resolve) opts.resolved = await resolveAll(namesToResolve(policy));

  let out;
  try {
    out = backend.compile(policy, opts);
  } catch (e) {
    if (e instanceof UnsupportedFeature) {
      io.stderr.write(`clawfence: error ${e.code}: ${e.message}\n  rule: ${e.rule}\n  fix: ${e.fix}\n`);
      return 1;
    }
    throw e;
  }
  for (const n of [...notes, ...out.notes]) io.stderr.write(`note: ${n}\n`);
  if (values.output !== undefined) writeOutputFile(io, values.output, out.text);
  else io.stdout.write(out.text);
  return 0;
};
