/**
 * runtime/sandbox — `clawfence run`: contain one command in its own network namespace whose
 * network is the policy.
 *
 * Map (start, in this order; any failure undoes what was done and rethrows):
 *   claim a /30 of the pool -> write the state record (so a crash leaves findable leftovers)
 *   -> side by side, all awaited: namespace + veth (netns.ts), ONE `nft -f` transaction with
 *   the compiled policy table (compile/nftables, hook forward, keyed to the host-side veth
 *   by name) and the host-side frame table (firewall.ts: only guard and proxy reachable on
 *   the host, NAT, transparent 80/443 redirect, IPv6 dropped), ip_forward, the NFLOG reader
 *   for the kernel's drops -> set programmer on a long-lived `nft -i` session
 *   -> DNS guard on hostAddr:53 -> proxy listeners on hostAddr -> resolv.conf for the sandbox -> the phase socket (phase.ts; policies
 *   with phases move forward on `clawfence phase`: one `nft -f` with the table compiled for
 *   the new phase and the guard's live names re-decided, then guard and proxy follow)
 *   -> the command (child.ts).
 * Close (always, on any exit): kill what is left of the command, then at once stop readers
 * and servers, delete both tables (one transaction), the veth and the namespace,
 * /etc/netns/<ns>; then the slot and the record.
 *
 * Fail closed: the tables exist before the command starts and are removed only after it is
 * gone; if the guard or proxy dies, the kernel keeps dropping what they would have opened.
 * The one host-wide setting changed is net.ipv4.ip_forward=1 in the namespace clawfence runs
 * in (needed for the sandbox's traffic to leave), documented in README.
 */
import { readdir, readFile, unlink, writeFile } from "node:fs/promises";
import type { ChildProcess } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import type { Policy, Upstream } from "../../policy/ir.ts";
import { compileDecider } from "../../match/decide.ts";
import { backend as nftables } from "../../compile/nftables/index.ts";
import { createDnsGuard, type DnsGuard } from "../dns/guard.ts";
import { createProxy, type Proxy } from "../proxy/proxy.ts";
import { createCachingResolver, createUpstreamResolver } from "../proxy/resolver.ts";
import { createNftSession, type NftRunner } from "../nft/session.ts";
import { createSetProgrammer } from "../nft/programmer.ts";
import type { EventSink } from "../events.ts";
import { createPhaseSwitch, servePhaseRequests, type PhaseChange, type PhaseReply } from "./phase.ts";
import { execTool } from "../exec.ts";
import { RuntimeError } from "../errors.ts";
import { claimSlot, createSandboxNet, destroySandboxNet, namespaceIdentity, namespacePids, netNames, parsePool, slotAddresses, writeNetnsEtc, DEFAULT_POOL, type SandboxNet } from "./netns.ts";
import { hostSideTable } from "./firewall.ts";
import { exitStatus, proxyEnv, spawnContained, type Identity } from "./child.ts";
import { listRecords, phaseSocketPath, pidAlive, removeRecord, stateDir, writeRecord, type SandboxRecord } from "./state.ts";

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
  /** one line for people (phase changes); absent: silent */
  readonly log?: (line: string) => void;
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
  /** the phase enforced now (undefined: the policy has no phases) */
  phase(): string | undefined;
  /** move to a later phase (undefined: the next); what `clawfence phase` asks over the socket */
  changePhase(requested?: string): Promise<PhaseChange>;
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
  // what start did, undone at close: `last` (the slot, then the record) after everything in
  // `undo`, which goes all at once (the command is gone by then; teardown time counts too)
  const last: Array<() => Promise<void>> = [];
  const undo: Array<() => Promise<void>> = [];
  const cleanupAll = async (): Promise<void> => {
    await Promise.all(undo.splice(0).map((u) => u().catch(() => undefined)));
    for (const u of last.splice(0).reverse()) await u().catch(() => undefined);
  };

  let guard: DnsGuard | null = null;
  let proxy: Proxy | null = null;
  let nft: NftRunner | null = null;
  let child: ChildProcess | null = null;
  let net: SandboxNet;
  let logGroup = 0;
  // phases: the sandbox starts in --phase, else the policy's first (what the compiler and the
  // decider assume when no phase is given); `clawfence phase` moves it forward (phase.ts)
  const initialPhase = o.phase ?? o.policy.phases[0];
  let movePhase: ((requested: string | undefined) => Promise<PhaseReply & { ok: true }>) | null = null;
  let currentPhase: () => string | undefined = () => initialPhase;
  let record: SandboxRecord | null = null;
  try {
    const slot = await claimSlot(base, pool, id);
    last.push(slot.release);
    record = {
      id,
      name: o.name ?? o.policy.name,
      pid: process.pid,
      ns,
      hostIf,
      tables: [...tables],
      policy: o.policy.name,
      ...(initialPhase !== undefined ? { phase: initialPhase } : {}),
      created: new Date(clock.now()).toISOString(),
    };
    await writeRecord(base, record);
    last.push(() => removeRecord(base, id));

    // one transaction: the policy table and its frame appear together
    const policyTable = (phase: string | undefined): string =>
      nftables.compile(o.policy, { hook: "forward", iface: hostIf, tableName: tables[0], logGroup, ...(phase !== undefined ? { phase } : {}) }).text;
    const frameTable = (): string => hostSideTable({
      table: tables[1],
      hostIf,
      ...slotAddresses(pool, slot.slot),
      dnsPort: PORTS.dns,
      proxyPorts: [PORTS.http, PORTS.socks],
      ...(o.transparent === false ? {} : { transparent: { tlsPort: PORTS.tls, httpPort: PORTS.plain } }),
      logGroup,
      logPrefix: "host-side",
    });
    // the NFLOG group: a random one the reader could bind (groups are per network namespace
    // and other sandboxes or enforcers here hold theirs); the tables log to it
    const packetLog = o.packetLog;
    const bindLogGroup = async (): Promise<void> => {
      let lastErr: unknown = null;
      for (let i = 0; i < 5; i++) {
        const group = 2000 + randomInt(0, 63000);
        if (!packetLog) {
          logGroup = group;
          return;
        }
        try {
          const reader = await packetLog({ group, id, policy: o.policy });
          undo.push(() => reader.close());
          logGroup = group;
          return;
        } catch (e) {
          lastErr = e;
          if (!(e instanceof RuntimeError && e.code === "CF_RUNTIME_NFLOG_START")) throw e;
        }
      }
      throw lastErr;
    };
    // side by side (start-up time counts: bench/run.bench.ts): the namespace and veth, the
    // tables (they name the interface, so they need not wait for it), forwarding, and the
    // NFLOG reader. Each registers its undo when done; a failure waits for the others
    const started = await Promise.allSettled([
      createSandboxNet(id, pool, slot.slot).then((n) => {
        undo.push(() => destroySandboxNet(id));
        return n;
      }),
      (async () => {
        await bindLogGroup();
        undo.push(() => deleteTables(tables));
        await execTool("nft", ["-f", "-"], { input: `${policyTable(initialPhase)}\n${frameTable()}` });
      })(),
      enableForwarding(),
    ]);
    for (const r of started) if (r.status === "rejected") throw r.reason;
    const made = started[0];
    if (made.status !== "fulfilled") throw new RuntimeError("CF_INTERNAL", "the sandbox network was not made", "report this as a bug");
    net = made.value;
    const identity = namespaceIdentity(ns);
    if (identity && record) {
      record = { ...record, netns: identity };
      await writeRecord(base, record);
    }

    nft = createNftSession();
    const runner = nft;
    undo.push(() => runner.close());
    const decider = compileDecider(o.policy);
    // the guard programs through the phase switch, which swaps in a fresh programmer (and
    // holds programming back) while a phase change is in the kernel
    const sw = createPhaseSwitch({
      phases: o.policy.phases,
      initial: initialPhase,
      decider,
      clock,
      runner,
      createProgrammer: (r) => createSetProgrammer({ policy: o.policy, table: tables[0], runner: r, clock }),
      tableText: (phase) => policyTable(phase),
      transaction: async (text) => {
        await execTool("nft", ["-f", "-"], { input: text });
      },
    });
    currentPhase = () => sw.current();
    // flow events say which phase they were decided in (stored in the flow log's `extra`)
    const sink: EventSink = o.policy.phases.length === 0 ? o.sink : { emit: (e) => o.sink.emit({ ...e, phase: sw.current() ?? "" }) };
    guard = createDnsGuard({
      listen: { address: net.hostAddr, port: PORTS.dns },
      policy: o.policy,
      decider,
      upstreams: o.upstreams,
      programmer: sw.programmer,
      sink,
      clock,
      sandbox: id,
      ...(initialPhase !== undefined ? { phase: initialPhase } : {}),
    });
    sw.attach(guard);
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
      sink,
      clock,
      sandbox: id,
      // read at every decision: a phase change reaches the proxy the moment it starts
      phase: () => sw.current(),
    });
    await proxy.start();
    const p = proxy;
    undo.push(() => p.close());

    // `clawfence phase`: requests on a unix socket beside the state record; the reply waits
    // until the kernel, guard and proxy are in the new phase and the record says so
    movePhase = async (requested) => {
      const c = await sw.change(requested);
      o.log?.(`clawfence: sandbox ${id} moved from phase '${c.from}' to '${c.to}' (${c.names} live name(s) re-decided, ${c.elements} element(s) kept, ${c.ms} ms)`);
      try {
        if (record !== null) {
          record = { ...record, phase: c.to };
          await writeRecord(base, record);
        }
        return { ok: true, ...c };
      } catch (e) {
        return { ok: true, ...c, warning: `the state record was not updated: ${(e as Error).message}` };
      }
    };
    const phaseServer = await servePhaseRequests(phaseSocketPath(base, id), movePhase).catch((e: unknown) => {
      throw new RuntimeError("CF_RUNTIME_PHASE_SOCKET", `cannot listen for phase requests: ${(e as Error).message}`, "check that the state directory (CLAWFENCE_STATE_DIR) is writable by root");
    });
    undo.push(() => phaseServer.close());

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
    phase: () => currentPhase(),
    async changePhase(requested) {
      if (movePhase === null) throw new RuntimeError("CF_RUNTIME_PHASE_NOT_READY", "the sandbox is not running", "start it first");
      const { ok: _ok, warning: _w, ...change } = await movePhase(requested);
      return change;
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

/** Both tables in one transaction; `add` first makes `delete` of a missing table a no-op. */
function deleteTables(tables: readonly string[]): Promise<void> {
  const text = tables.map((t) => `add table inet ${t}\ndelete table inet ${t}\n`).join("");
  return execTool("nft", ["-f", "-"], { input: text }).then(
    () => undefined,
    () => undefined,
  );
}

async function killNamespaceProcesses(ns: string, known?: { dev: number; ino: number }): Promise<void> {
  for (const pid of namespacePids(ns, known)) {
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
    await killNamespaceProcesses(rec.ns, rec.netns);
    await deleteTables(rec.tables);
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
