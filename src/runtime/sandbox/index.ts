/**
 * runtime/sandbox — `clawfence run`: contain one command in its own network namespace whose
 * network is the policy.
 *
 * Map (start, in this order; any failure undoes what was done and rethrows):
 *   claim a /30 of the pool -> write the state record (so a crash leaves findable leftovers)
 *   -> namespace + veth (netns.ts) -> ONE `nft -f` transaction with the compiled policy
 *   table (compile/nftables, hook forward, keyed to the host-side veth) and the host-side
 *   frame table (firewall.ts: only guard and proxy reachable on the host, NAT, transparent
 *   80/443 redirect, IPv6 dropped) -> set programmer on a long-lived `nft -i` session
 *   -> DNS guard on hostAddr:53 -> proxy listeners on hostAddr -> NFLOG reader for the
 *   kernel's drops -> resolv.conf for the sandbox -> the command (child.ts).
 * Close (always, on any exit): kill what is left of the command, stop readers and servers,
 * delete both tables, the namespace (and with it the veth), /etc/netns/<ns>, the slot and
 * the record.
 *
 * Fail closed: the tables exist before the command starts and are removed only after it is
 * gone; if the guard or proxy dies, the kernel keeps dropping what they would have opened.
 * The one host-wide setting changed is net.ipv4.ip_forward=1 in the namespace clawfence runs
 * in (needed for the sandbox's traffic to leave), documented in README.
 */
import { readdir, readFile, unlink, writeFile } from "node:fs/promises";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Policy, Upstream } from "../../policy/ir.ts";
import { compileDecider } from "../../match/decide.ts";
import { backend as nftables } from "../../compile/nftables/index.ts";
import { createDnsGuard, type DnsGuard } from "../dns/guard.ts";
import { createProxy, type Proxy } from "../proxy/proxy.ts";
import { createCachingResolver, createUpstreamResolver } from "../proxy/resolver.ts";
import { createNftSession, type NftRunner } from "../nft/session.ts";
import { createSetProgrammer } from "../nft/programmer.ts";
import type { EventSink } from "../events.ts";
import { execTool } from "../exec.ts";
import { RuntimeError } from "../errors.ts";
import { claimSlot, createSandboxNet, destroySandboxNet, netNames, parsePool, writeNetnsEtc, DEFAULT_POOL, type SandboxNet } from "./netns.ts";
import { hostSideTable } from "./firewall.ts";
import { exitStatus, proxyEnv, spawnContained, type Identity } from "./child.ts";
import { listRecords, pidAlive, removeRecord, stateDir, writeRecord } from "./state.ts";

export const PORTS = { dns: 53, http: 3128, socks: 1080, tls: 15443, plain: 15080 } as const;

export interface SandboxOptions {
  readonly policy: Policy;
  /** the policy as decided here (with --mode applied) */
  readonly name?: string;
  readonly upstreams: readonly Upstream[];
  readonly user: Identity;
  readonly phase?: string;
  readonly pool?: string;
  /** send tcp 80/443 through the transparent proxy (default true) */
  readonly transparent?: boolean;
  readonly sink: EventSink;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock?: { now(): number };
  /** optional: start a reader of the kernel's NFLOG group (wired by the caller) */
  readonly packetLog?: (o: { group: number; id: string; policy: Policy }) => Promise<{ close(): Promise<void> }>;
}

export interface Sandbox {
  readonly id: string;
  readonly net: SandboxNet;
  readonly tables: readonly string[];
  readonly logGroup: number;
  /** run the command; resolves with its exit status (128+N on signal N) */
  run(cmd: string, args: readonly string[]): Promise<number>;
  /** pass a signal to the command */
  signal(sig: NodeJS.Signals): void;
  close(): Promise<void>;
}

/** Policy as `--mode` says: monitor makes every rule and the default would-deny only. */
export function withMode(policy: Policy, mode: "monitor" | "enforce" | undefined): Policy {
  if (mode === undefined || mode === policy.mode) return policy;
  if (mode === "monitor") return { ...policy, mode, rules: policy.rules.map((r) => ({ ...r, mode: "monitor" as const })) };
  return { ...policy, mode, rules: policy.rules.map((r) => (r.modeOverride ? r : { ...r, mode: "enforce" as const })) };
}

export async function createSandbox(o: SandboxOptions): Promise<Sandbox> {
  const clock = o.clock ?? { now: () => Date.now() };
  const base = stateDir(o.env);
  const pool = parsePool(o.pool ?? o.env["CLAWFENCE_POOL"] ?? DEFAULT_POOL);
  const id = randomBytes(4).toString("hex");
  const { ns, hostIf } = netNames(id);
  const tables = [`cfp_${id}`, `cfh_${id}`] as const;
  const undo: Array<() => Promise<void>> = [];
  const cleanupAll = async (): Promise<void> => {
    for (const u of undo.reverse()) await u().catch(() => undefined);
    undo.length = 0;
  };

  let guard: DnsGuard | null = null;
  let proxy: Proxy | null = null;
  let nft: NftRunner | null = null;
  let child: ChildProcess | null = null;
  let net: SandboxNet;
  let logGroup = 0;
  try {
    const slot = await claimSlot(base, pool, id);
    undo.push(slot.release);
    logGroup = 2000 + (slot.slot % 60000);
    await writeRecord(base, {
      id,
      name: o.name ?? o.policy.name,
      pid: process.pid,
      ns,
      hostIf,
      tables: [...tables],
      policy: o.policy.name,
      ...(o.phase !== undefined ? { phase: o.phase } : {}),
      created: new Date(clock.now()).toISOString(),
    });
    undo.push(() => removeRecord(base, id));

    net = await createSandboxNet(id, pool, slot.slot);
    undo.push(() => destroySandboxNet(id));

    await enableForwarding();

    // one transaction: the policy table and its frame appear together
    const compiled = nftables.compile(o.policy, { hook: "forward", iface: hostIf, tableName: tables[0], logGroup, ...(o.phase !== undefined ? { phase: o.phase } : {}) });
    const frame = hostSideTable({
      table: tables[1],
      hostIf,
      hostAddr: net.hostAddr,
      sandboxAddr: net.sandboxAddr,
      dnsPort: PORTS.dns,
      proxyPorts: [PORTS.http, PORTS.socks],
      ...(o.transparent === false ? {} : { transparent: { tlsPort: PORTS.tls, httpPort: PORTS.plain } }),
      logGroup,
      logPrefix: "host-side",
    });
    undo.push(async () => {
      for (const t of tables) await execTool("nft", ["delete", "table", "inet", t]).catch(() => undefined);
    });
    await execTool("nft", ["-f", "-"], { input: `${compiled.text}\n${frame}` });

    if (o.packetLog) {
      const reader = await o.packetLog({ group: logGroup, id, policy: o.policy });
      undo.push(() => reader.close());
    }

    nft = createNftSession();
    const runner = nft;
    undo.push(() => runner.close());
    const programmer = createSetProgrammer({ policy: o.policy, table: tables[0], runner, clock });
    const decider = compileDecider(o.policy);
    guard = createDnsGuard({
      listen: { address: net.hostAddr, port: PORTS.dns },
      policy: o.policy,
      decider,
      upstreams: o.upstreams,
      programmer,
      sink: o.sink,
      clock,
      sandbox: id,
      ...(o.phase !== undefined ? { phase: o.phase } : {}),
    });
    await guard.start();
    const g = guard;
    undo.push(() => g.close());

    const listeners = [
      { kind: "http" as const, address: net.hostAddr, port: PORTS.http },
      { kind: "socks5" as const, address: net.hostAddr, port: PORTS.socks },
      ...(o.transparent === false
        ? []
        : [
            { kind: "transparent-tls" as const, address: net.hostAddr, port: PORTS.tls, targetPort: 443 },
            { kind: "transparent-http" as const, address: net.hostAddr, port: PORTS.plain, targetPort: 80 },
          ]),
    ];
    proxy = createProxy({
      listeners,
      policy: o.policy,
      decider,
      resolver: createCachingResolver(createUpstreamResolver({ servers: o.upstreams.map((u) => (u.family === 6 ? `[${u.address}]:${u.port}` : `${u.address}:${u.port}`)) }), {
        minTtl: o.policy.dns.minTtl,
        clock,
      }),
      sink: o.sink,
      clock,
      sandbox: id,
      ...(o.phase !== undefined ? { phase: o.phase } : {}),
    });
    await proxy.start();
    const p = proxy;
    undo.push(() => p.close());

    await writeNetnsEtc(ns, { "resolv.conf": `# written by clawfence: the sandbox's only resolver is the DNS guard\nnameserver ${net.hostAddr}\noptions edns0 trust-ad\n` });
  } catch (e) {
    await cleanupAll();
    throw e;
  }

  const sandboxNet = net;
  return {
    id,
    net: sandboxNet,
    tables,
    logGroup,
    run(cmd, args) {
      const proxyUrl = `http://${sandboxNet.hostAddr}:${PORTS.http}`;
      const socksUrl = `socks5h://${sandboxNet.hostAddr}:${PORTS.socks}`;
      const env = { ...o.env, ...proxyEnv(proxyUrl, socksUrl, "localhost,127.0.0.1,::1"), CLAWFENCE_SANDBOX: id };
      return new Promise<number>((resolve, reject) => {
        try {
          child = spawnContained(ns, o.user, cmd, args, env);
        } catch (e) {
          reject(e as Error);
          return;
        }
        child.once("error", (err) =>
          reject(new RuntimeError("CF_RUNTIME_SPAWN", `could not start '${cmd}': ${err.message}`, "check that ip (iproute2) and setpriv (util-linux) are installed")),
        );
        child.once("exit", (code, signal) => {
          child = null;
          resolve(exitStatus(code, signal));
        });
      });
    },
    signal(sig) {
      child?.kill(sig);
    },
    async close() {
      const c = child;
      if (c && c.exitCode === null) {
        c.kill("SIGKILL");
        await new Promise((r) => c.once("exit", r));
      }
      // the command's other processes (it may have forked) live on in the namespace: end them
      await killNamespaceProcesses(ns);
      await cleanupAll();
    },
  };
}

async function enableForwarding(): Promise<void> {
  const f = "/proc/sys/net/ipv4/ip_forward";
  const cur = (await readFile(f, "utf8").catch(() => "")).trim();
  if (cur === "1") return;
  try {
    await writeFile(f, "1");
  } catch (e) {
    throw new RuntimeError("CF_RUNTIME_FORWARDING", `cannot enable IPv4 forwarding: ${(e as Error).message}`, "run clawfence as root (it needs CAP_NET_ADMIN and CAP_SYS_ADMIN)");
  }
}

async function killNamespaceProcesses(ns: string): Promise<void> {
  const r = await execTool("ip", ["netns", "pids", ns]).catch(() => ({ stdout: "" }));
  for (const pid of r.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Remove what crashed clawfence processes left behind; returns the ids removed. */
export async function cleanupLeftovers(env: Readonly<Record<string, string | undefined>>): Promise<string[]> {
  const base = stateDir(env);
  const removed: string[] = [];
  for (const rec of await listRecords(base)) {
    if (pidAlive(rec.pid) && rec.pid !== process.pid) continue;
    await killNamespaceProcesses(rec.ns);
    for (const t of rec.tables) await execTool("nft", ["delete", "table", "inet", t]).catch(() => undefined);
    await destroySandboxNet(rec.id);
    const slotsDir = `${base}/slots`;
    for (const f of await readdir(slotsDir).catch(() => [] as string[])) {
      const owner = await readFile(`${slotsDir}/${f}`, "utf8").catch(() => "");
      if (owner === rec.id) await unlink(`${slotsDir}/${f}`).catch(() => undefined);
    }
    await removeRecord(base, rec.id);
    removed.push(rec.id);
  }
  return removed;
}
