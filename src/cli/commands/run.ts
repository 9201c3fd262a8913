/**
 * cli/commands/run — `clawfence run --policy P [options] -- CMD [ARGS...]`: run CMD in a
 * contained network namespace whose network is the policy. Exit status: CMD's (128+N when it
 * died of signal N); 2 usage; 3 runtime failure before CMD started.
 *
 * Reads argv, loads the policy, picks the upstreams and the user, wires the flow sinks, and
 * hands the rest to runtime/sandbox. SIGINT/SIGTERM/SIGHUP are passed on to CMD; whatever
 * happens, the sandbox is removed before we exit.
 */
import { CliError, type CliIo } from "../errors.ts";
import { checkPhaseArg, parseCommandArgs, parseVarOverrides, pickUpstreams } from "../args.ts";
import { loadPolicyFromCli } from "../load-policy.ts";
import { createSandbox, cleanupLeftovers, withMode } from "../../runtime/sandbox/index.ts";
import { resolveIdentity } from "../../runtime/sandbox/identity.ts";
import { openFlowSinks } from "../flow-sinks.ts";

const HELP = `usage: clawfence run --policy POLICY [--mode monitor|enforce] [--dns-upstream ADDR]...
                     [--flows DB] [--user USER] [--phase P] [--name NAME] [--pool CIDR] [--no-transparent]
                     [--quiet|--verbose] [--no-packet-log] [--metrics ADDR:PORT]
                     [--var k=v]... -- CMD [ARGS...]

Runs CMD in its own network namespace: its only resolver is clawfence's DNS guard, its proxy
variables point at clawfence's proxy, and the kernel lets through only what the policy allows.
Needs root (namespaces, nftables); CMD itself runs unprivileged (--user, or the sudo user).
Denied attempts are printed on stderr (--quiet: none, --verbose: allowed ones too), and every
decision goes to --flows DB. Packets the kernel drops are read from NFLOG with tcpdump
(--no-packet-log: enforce without recording them).
A policy with phases starts in --phase (default: its first phase); 'clawfence phase ID|NAME'
moves the running sandbox forward (--name names it for that).
`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const dd = argv.indexOf("--");
  const own = dd >= 0 ? argv.slice(0, dd) : argv;
  const cmd = dd >= 0 ? argv.slice(dd + 1) : [];
  const { values } = parseCommandArgs(
    own,
    {
      allowPositionals: false,
      options: {
        policy: { type: "string" },
        mode: { type: "string" },
        "dns-upstream": { type: "string", multiple: true },
        flows: { type: "string" },
        user: { type: "string" },
        phase: { type: "string" },
        pool: { type: "string" },
        name: { type: "string" },
        "no-transparent": { type: "boolean", default: false },
        quiet: { type: "boolean", default: false },
        verbose: { type: "boolean", default: false },
        "no-packet-log": { type: "boolean", default: false },
        metrics: { type: "string" },
        var: { type: "string", multiple: true },
        help: { type: "boolean", short: "h", default: false },
      },
    },
    "run 'clawfence run --help'",
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (!values.policy) throw new CliError("CF_USAGE_ARGS", "--policy is required", "clawfence run --policy policy.yaml -- CMD");
  if (cmd.length === 0 || cmd[0] === undefined) throw new CliError("CF_USAGE_ARGS", "no command to run", "put the command after --, e.g. clawfence run --policy p.yaml -- curl https://example.com");
  const mode = values.mode;
  if (mode !== undefined && mode !== "monitor" && mode !== "enforce") throw new CliError("CF_USAGE_ARGS", `--mode '${mode}' is not monitor or enforce`, "use --mode monitor or --mode enforce");
  if (process.getuid?.() !== 0) throw new CliError("CF_USAGE_ROOT", "clawfence run needs root to create namespaces and firewall rules", "run it with sudo; the command itself still runs as you", 2);

  const overrides = parseVarOverrides(values.var ?? []);
  const policy = withMode(loadPolicyFromCli(values.policy, io, { overrides }), mode);
  checkPhaseArg(policy, values.phase);
  const upstreams = pickUpstreams(values["dns-upstream"] ?? [], policy.dns.upstreams);
  const user = resolveIdentity(values.user, io.env);

  await cleanupLeftovers(io.env); // a crashed run's namespace, tables and slot
  const sinks = await openFlowSinks({ db: values.flows, quiet: values.quiet, verbose: values.verbose, metrics: values.metrics, stderr: io.stderr, policy });
  let sandbox;
  try {
    sandbox = await createSandbox({
      policy,
      ...(values.name !== undefined ? { name: values.name } : {}),
      upstreams,
      user,
      ...(values.phase !== undefined ? { phase: values.phase } : {}),
      ...(values.pool !== undefined ? { pool: values.pool } : {}),
      transparent: !values["no-transparent"],
      sink: sinks.sink,
      env: io.env,
      ...(sinks.packetLog && !values["no-packet-log"] ? { packetLog: sinks.packetLog } : {}),
      // phase changes (`clawfence phase`) are announced on stderr
      ...(values.quiet ? {} : { log: (line: string) => void io.stderr.write(`${line}\n`) }),
    });
  } catch (e) {
    await sinks.close();
    throw e;
  }
  const forward = (sig: NodeJS.Signals): void => sandbox.signal(sig);
  const sigs: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of sigs) process.on(s, forward);
  try {
    const [file, ...args] = cmd;
    return await sandbox.run(file ?? "", args);
  } finally {
    for (const s of sigs) process.off(s, forward);
    await sandbox.close();
    await sinks.close();
  }
}
