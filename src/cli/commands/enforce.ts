/**
 * cli/commands/enforce — `clawfence enforce --policy P --on host|bridge:NAME|interface:NAME`:
 * the foreground enforcer daemon (for systemd or launchd; docs/enforce.md).
 *
 * Reads argv, builds the policy loader (load + lint: a policy `check` would fail is never
 * enforced, at start or on reload), the upstream and user lookups, the flow sinks, and hands
 * the rest to runtime/enforce. Signals: SIGHUP reloads; SIGTERM/SIGINT stop, leaving the rules
 * in place (fail closed) unless --remove-on-exit. Exit: 0 after a signal stop, 2 usage,
 * 1 policy errors, 3 runtime failure.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseCommandArgs, parseVarOverrides, pickUpstreams } from "../args.ts";
import { CliError, type CliIo } from "../errors.ts";
import { passLintGate } from "../lint-gate.ts";
import { loadPolicyFromCliWithInfo } from "../load-policy.ts";
import { openFlowSinks } from "../flow-sinks.ts";
import type { Policy, Upstream } from "../../policy/ir.ts";
import { parseCidr } from "../../policy/addr.ts";
import { parseHostPort } from "../../runtime/dns/upstreams.ts";
import { parsePasswd } from "../../runtime/sandbox/identity.ts";
import { createEnforcer, DEFAULT_HOST_GUARD, parseTarget } from "../../runtime/enforce/index.ts";
import type { Inbound } from "../../runtime/enforce/frame.ts";
import type { BridgeDriver } from "../../runtime/enforce/bridge.ts";
import type { EventSink } from "../../runtime/events.ts";
import { stateDir } from "../../runtime/sandbox/state.ts";

const HELP = `usage: clawfence enforce --policy POLICY --on host|bridge:NAME|interface:NAME [options]

Enforces POLICY until stopped: one atomic nftables transaction, the DNS guard as the resolver
of the host or the bridge, dynamic sets kept across reloads and restarts. SIGHUP reloads the
policy file (or 'systemctl reload'); SIGTERM stops and leaves the rules in place (fail closed).

options:
  --flows DB                  write every decision to this flow store
  --phase P                   start in phase P (default: the policy's first)
  --dns-listen ADDR[:PORT]    host mode: where the guard listens (default ${DEFAULT_HOST_GUARD.address}:53);
                              bridge/interface: the port on the interface's address (default 53)
  --dns-upstream ADDR[:PORT]  the guard's upstreams (default: dns.upstreams, else /etc/resolv.conf)
  --bridge-driver auto|docker|linux   how a missing bridge is created (default auto: docker when
                              a Docker engine answers, else a Linux bridge)
  --bridge-cidr ADDR/PREFIX   address of a bridge clawfence creates (default 10.250.0.1/24)
  --allow-inbound PROTO/PORT[@CIDR]   whole-host mode: management access in (e.g. tcp/22@10.0.0.0/8)
  --log-group N               NFLOG group of the rules' log statements (default per target)
  --no-packet-log             do not read the kernel's packet log
  --remove-on-exit            delete the rules when stopping (default: keep them, fail closed)
  --quiet | --verbose         denied (default), no, or all decisions on stderr
  --var k=v                   policy variable override
`;

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      allowPositionals: false,
      options: {
        policy: { type: "string" },
        on: { type: "string" },
        flows: { type: "string" },
        phase: { type: "string" },
        "dns-listen": { type: "string" },
        "dns-upstream": { type: "string", multiple: true },
        "bridge-driver": { type: "string" },
        "bridge-cidr": { type: "string" },
        "allow-inbound": { type: "string", multiple: true },
        "log-group": { type: "string" },
        "no-packet-log": { type: "boolean", default: false },
        "remove-on-exit": { type: "boolean", default: false },
        quiet: { type: "boolean", default: false },
        verbose: { type: "boolean", default: false },
        var: { type: "string", multiple: true },
        help: { type: "boolean", short: "h", default: false },
      },
    },
    "run 'clawfence enforce --help'",
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (!values.policy) throw new CliError("CF_USAGE_ARGS", "--policy is required", "clawfence enforce --policy policy.yaml --on host");
  if (!values.on) throw new CliError("CF_USAGE_ARGS", "--on is required", "say what to enforce on: --on host, --on bridge:openclaw-egress or --on interface:NAME");
  const target = parseTarget(values.on);
  const driver = values["bridge-driver"] ?? "auto";
  if (driver !== "auto" && driver !== "docker" && driver !== "linux") throw new CliError("CF_USAGE_ARGS", `--bridge-driver '${driver}' is not auto, docker or linux`, "use --bridge-driver auto, docker or linux");
  const logGroup = values["log-group"] === undefined ? undefined : Number(values["log-group"]);
  if (logGroup !== undefined && !(Number.isInteger(logGroup) && logGroup >= 0 && logGroup <= 65535)) throw new CliError("CF_USAGE_ARGS", `--log-group '${values["log-group"]}' is not 0-65535`, "give an NFLOG group number, e.g. --log-group 3001");
  const dnsListen = values["dns-listen"] === undefined ? undefined : parseListen(values["dns-listen"]);
  const inbound = (values["allow-inbound"] ?? []).map(parseInbound);
  if (inbound.length > 0 && target.kind !== "host") throw new CliError("CF_USAGE_ARGS", "--allow-inbound is for --on host (whole-host mode)", "drop --allow-inbound; bridge mode does not filter traffic to the host's other services");
  if (process.getuid?.() !== 0) throw new CliError("CF_USAGE_ROOT", "clawfence enforce needs root (nftables, the DNS port, the bridge)", "run it as root, e.g. from the systemd unit of 'clawfence install-service'", 2);

  const overrides = parseVarOverrides(values.var ?? []);
  const policyPath = resolve(io.cwd, values.policy);
  const load = (): Policy => {
    return passLintGate(loadPolicyFromCliWithInfo(policyPath, io, { overrides }));
  };
  const guardHost = target.kind === "host" ? (dnsListen?.address ?? DEFAULT_HOST_GUARD.address) : null;
  // flags are checked once, at start; the policy fallback follows reloads
  pickUpstreams(values["dns-upstream"] ?? [], [], guardHost ?? undefined);
  const upstreams = (p: Policy): readonly Upstream[] => pickUpstreams(values["dns-upstream"] ?? [], p.dns.upstreams, guardHost ?? undefined);
  let passwd: string | null = null;
  const users = (p: Policy): readonly number[] | null => {
    const names = p.workload.host?.users;
    if (names === undefined || names.length === 0) return null;
    passwd ??= readFileSync("/etc/passwd", "utf8");
    const known = parsePasswd(passwd);
    return names.map((n) => {
      const u = known.find((k) => k.name === n);
      if (u) return u.uid;
      if (/^\d+$/.test(n)) return Number(n);
      throw new CliError("CF_USAGE_USER", `workload.host.users names '${n}', who is not in /etc/passwd`, "create the user, or list a numeric uid");
    });
  };

  const first = load();
  // stderr lines and the flow store; the packet log is the enforcer's own (its prefix map follows reloads)
  const flows = values.flows === undefined ? undefined : resolve(io.cwd, values.flows);
  const sinks = await openFlowSinks({ db: flows, quiet: values.quiet, verbose: values.verbose, stderr: io.stderr, policy: first });
  const sink: EventSink = sinks.sink;
  let loaded: Policy | null = first;
  const enforcer = createEnforcer({
    target,
    policyPath,
    load: () => {
      const p = loaded ?? load();
      loaded = null;
      return p;
    },
    upstreams,
    users,
    ...(values.phase !== undefined ? { phase: values.phase } : {}),
    stateDir: stateDir(io.env),
    sink,
    log: (line) => io.stderr.write(`${line}\n`),
    ...(dnsListen !== undefined ? { dnsListen: target.kind === "host" ? dnsListen : { address: "", port: dnsListen.port } } : {}),
    bridge: { driver: driver as BridgeDriver, ...(values["bridge-cidr"] !== undefined ? { cidr: values["bridge-cidr"] } : {}) },
    inbound,
    ...(logGroup !== undefined ? { logGroup } : {}),
    packetLog: !values["no-packet-log"],
    flows: flows ?? null,
  });

  const cleanup = (): Promise<void> => sinks.close();
  try {
    await enforcer.start();
  } catch (e) {
    await enforcer.close().catch(() => undefined);
    await cleanup();
    throw e;
  }
  io.stdout.write(`ready ${enforcer.record().table} ${enforcer.record().guard.address}:${enforcer.record().guard.port}\n`);

  return await new Promise<number>((done) => {
    const onHup = (): void => {
      void enforcer.reload();
    };
    const onStop = (sig: NodeJS.Signals): void => {
      process.off("SIGHUP", onHup);
      process.off("SIGTERM", onStop);
      process.off("SIGINT", onStop);
      io.stderr.write(`clawfence enforce: ${sig}: stopping; ${values["remove-on-exit"] ? "removing the rules" : "the rules stay in place (clawfence remove deletes them)"}\n`);
      void enforcer
        .close({ remove: values["remove-on-exit"] })
        .then(cleanup)
        .then(
          () => done(0),
          (e: unknown) => {
            io.stderr.write(`clawfence enforce: stopping failed: ${(e as Error).message}\n`);
            done(3);
          },
        );
    };
    process.on("SIGHUP", onHup);
    process.on("SIGTERM", onStop);
    process.on("SIGINT", onStop);
  });
}

function parseListen(text: string): { address: string; port: number } {
  const u = parseHostPort(text, 53);
  if (!u || u.family !== 4) throw new CliError("CF_USAGE_ARGS", `--dns-listen '${text}' is not an IPv4 address[:port]`, "write e.g. --dns-listen 127.0.0.153:53");
  return { address: u.address, port: u.port };
}

function parseInbound(text: string): Inbound {
  const m = /^(tcp|udp)\/(\d{1,5})(?:@(.+))?$/.exec(text);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) throw new CliError("CF_USAGE_ARGS", `--allow-inbound '${text}' is not PROTO/PORT[@CIDR]`, "write e.g. --allow-inbound tcp/22 or --allow-inbound tcp/22@10.0.0.0/8");
  if (m[3] === undefined) return { protocol: m[1] as "tcp" | "udp", port, from: null, family: null };
  const c = parseCidr(m[3].includes("/") ? m[3] : `${m[3]}/${m[3].includes(":") ? 128 : 32}`);
  if (!c) throw new CliError("CF_USAGE_ARGS", `--allow-inbound source '${m[3]}' is not an address or network`, "write e.g. tcp/22@10.0.0.0/8 (host bits zero)");
  return { protocol: m[1] as "tcp" | "udp", port, from: c.text, family: c.family };
}
