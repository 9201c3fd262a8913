/**
 * runtime/enforce — `clawfence enforce`: a long-running enforcer for a whole host, or for the
 * containers on a bridge (seeds 001 and 002), that fixes their weak points: names are followed
 * by the DNS guard instead of being resolved once, every change is one atomic `nft -f`
 * transaction, and DNS goes to the guard only. docs/enforce.md is the user's guide.
 *
 * Map, start (any failure before the rules are in undoes nothing in the kernel: `nft -f` is
 * all or nothing, so the previous ruleset stays):
 *   refuse a second enforcer on the same target -> load the policy -> (bridge/interface:
 *   bridge.ts makes the interface ready) -> read what a previous run left (the names book,
 *   the kernel's live elements) -> write the state record -> ONE `nft -f`: compiled table
 *   (compile/nftables; hook output for host, forward + iifname for the others) + frame
 *   (frame.ts) + the live elements re-derived for this policy (live.ts) -> `nft -i` session +
 *   set programmer (load() reads back what the kernel holds) -> DNS guard behind the front
 *   (front.ts: sockets that survive reloads) -> NFLOG reader for the kernel's log statements.
 * Reload (SIGHUP, `reload()`): load + check the policy file again (and a phase request);
 * on any error keep everything and report it; else pause the front (answers in flight get
 * their elements), read the live elements, apply the new table + frame + the re-derived
 * elements in ONE `nft -f`, and resume the front with a new guard for the new policy.
 * Close: stop the guard and readers; the table stays (fail closed: the guard is gone, so no
 * name opens anything; static rules still hold) unless `remove` is asked.
 *
 * Owns: the sockets, the nft session, the NFLOG reader, the state record. Policy loading and
 * checking are injected (`load`), as are the event sink and the clock.
 */
import { readFile, rm } from "node:fs/promises";
import type { Policy, Upstream } from "../../policy/ir.ts";
import { compileDecider } from "../../match/decide.ts";
import { backend as nftables } from "../../compile/nftables/index.ts";
import { createDnsGuard, type DnsGuard } from "../dns/guard.ts";
import { createNftSession, type NftRunner } from "../nft/session.ts";
import { createSetProgrammer } from "../nft/programmer.ts";
import { createNflogReader, type NflogReader } from "../nflog/reader.ts";
import { prefixMapperFor, type PrefixMapper } from "../nflog/map.ts";
import type { EventSink, FlowEvent } from "../events.ts";
import { emitFlow } from "../events.ts";
import { execTool } from "../exec.ts";
import { RuntimeError } from "../errors.ts";
import { prepareInterface, DEFAULT_BRIDGE_CIDR, type BridgeDriver, type Exec } from "./bridge.ts";
import { createDnsFront, type DnsFront } from "./front.ts";
import { FRAME_PREFIXES, hostFrame, ifaceFrame, type GuardAddress, type Inbound } from "./frame.ts";
import { createNameBook, readLiveExpiries, reprogramElements, type NameBook } from "./live.ts";
import { phasePath, pidAlive, readEnforcerRecord, readNames, removeEnforcerRecord, writeEnforcerRecord, writeNames, type EnforcerRecord, type ReloadOutcome } from "./state.ts";
import { ifaceOf, tableFor, targetId, targetText, type EnforceTarget } from "./target.ts";

export { parseTarget, targetText, targetId, tableFor, type EnforceTarget } from "./target.ts";

/** Where the guard listens in host mode unless told otherwise (docs/enforce.md explains why). */
export const DEFAULT_HOST_GUARD: GuardAddress = { address: "127.0.0.153", port: 53 };

export interface EnforcerOptions {
  readonly target: EnforceTarget;
  /** absolute path of the policy file (recorded; `allow` finds the enforcer by it) */
  readonly policyPath: string;
  /** load and check the policy file; throws (PolicyError, CliError, ...) when it must not be enforced */
  readonly load: () => Policy;
  /** the DNS upstreams for a policy (its dns.upstreams, else the system's) */
  readonly upstreams: (p: Policy) => readonly Upstream[];
  /** uids of `workload.host.users` (host mode); null: the whole host */
  readonly users: (p: Policy) => readonly number[] | null;
  readonly phase?: string;
  readonly stateDir: string;
  readonly sink: EventSink;
  readonly log: (line: string) => void;
  readonly clock?: { now(): number };
  /** host mode: where the guard listens (default 127.0.0.153:53); others: port only */
  readonly dnsListen?: GuardAddress;
  readonly bridge?: { readonly driver?: BridgeDriver; readonly cidr?: string };
  /** whole-host mode: inbound management access */
  readonly inbound?: readonly Inbound[];
  readonly logGroup?: number;
  /** read the kernel's packet log (tcpdump on NFLOG); default true */
  readonly packetLog?: boolean;
  readonly flows?: string | null;
  readonly exec?: Exec;
}

export interface Enforcer {
  start(): Promise<void>;
  /** reload the policy file (and a pending phase request); never throws: the outcome says */
  reload(): Promise<ReloadOutcome>;
  /** stop; `remove` also deletes the table (no rules left) */
  close(opts?: { remove?: boolean }): Promise<void>;
  policy(): Policy;
  record(): EnforcerRecord;
}

/** An NFLOG group per target (0..65535), stable across restarts. */
export function logGroupFor(id: string): number {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return 3000 + (h % 1000);
}

export function createEnforcer(o: EnforcerOptions): Enforcer {
  const clock = o.clock ?? { now: () => Date.now() };
  const exec: Exec = o.exec ?? execTool;
  const id = targetId(o.target);
  const table = tableFor(o.target);
  const logGroup = o.logGroup ?? logGroupFor(id);
  const guardUid = process.getuid?.() ?? 0;

  let policy: Policy;
  let phase: string | null = o.phase ?? null;
  let guardAddr: GuardAddress;
  let iface: string | null = ifaceOf(o.target);
  let masquerade: string | null = null;
  let createdBridge: EnforcerRecord["createdBridge"] = null;
  let rec: EnforcerRecord;
  let book: NameBook = createNameBook();
  let front: DnsFront | null = null;
  let guard: DnsGuard | null = null;
  let session: NftRunner | null = null;
  let reader: NflogReader | null = null;
  let mapper: PrefixMapper = () => null;
  let chain: Promise<unknown> = Promise.resolve();
  let namesTimer: NodeJS.Timeout | null = null;
  let closed = false;

  const saveNames = (): Promise<void> => writeNames(o.stateDir, id, book.toJSON()).catch(() => undefined);
  const scheduleNames = (): void => {
    if (namesTimer !== null || closed) return;
    namesTimer = setTimeout(() => {
      namesTimer = null;
      void saveNames();
    }, 2000);
    namesTimer.unref();
  };

  // the guard's answers feed the names book; packet events carry the hash now enforced
  const sink: EventSink = {
    emit(e: FlowEvent) {
      if (e.kind === "dns" && e.name !== null && e.answers && e.answers.length > 0 && e.rcode === "NOERROR") {
        book.add(e.name, e.answers);
        scheduleNames();
      }
      emitFlow(o.sink, e.kind === "packet" ? { ...e, policy_hash: policy.hash } : e);
    },
  };

  function compileText(p: Policy, ph: string | null): string {
    const host = o.target.kind === "host";
    const compiled = nftables.compile(p, {
      hook: host ? "output" : "forward",
      ...(iface !== null ? { iface } : {}),
      tableName: table,
      logGroup,
      ...(ph !== null ? { phase: ph } : {}),
    });
    if (host) {
      const users = o.users(p);
      if (users !== null && users.includes(guardUid)) {
        throw new RuntimeError("CF_RUNTIME_ENFORCE_USERS", `workload.host.users includes uid ${guardUid}, the uid clawfence enforce runs as (its DNS guard must reach the upstreams)`, "run the agent as its own user and list only that user");
      }
      return (
        compiled.text +
        hostFrame({ table, users, guard: guardAddr, guardUid, upstreams: o.upstreams(p), logGroup, monitor: p.mode === "monitor", inbound: o.inbound ?? [] })
      );
    }
    return compiled.text + ifaceFrame({ table, iface: iface ?? "", guard: guardAddr, logGroup, masquerade });
  }

  function newMapper(p: Policy): PrefixMapper {
    const frame = { rule: "", enforced: true, verdict: "deny" as const, reason: "rule-deny" as const };
    return prefixMapperFor(p, {
      [FRAME_PREFIXES.inbound]: { ...frame, rule: "inbound", enforced: p.mode !== "monitor" },
      [FRAME_PREFIXES.hostSide]: { ...frame, rule: "host-side" },
      [FRAME_PREFIXES.ipv6]: { ...frame, rule: "ipv6" },
    });
  }

  async function buildGuard(p: Policy, ph: string | null): Promise<{ guard: DnsGuard; session: NftRunner }> {
    const s = createNftSession();
    const programmer = createSetProgrammer({ policy: p, table, runner: s, clock });
    await programmer.load();
    const g = createDnsGuard({
      listen: guardAddr,
      policy: p,
      decider: compileDecider(p),
      upstreams: o.upstreams(p),
      programmer,
      sink,
      clock,
      sandbox: id,
      ...(ph !== null ? { phase: ph } : {}),
    });
    return { guard: g, session: s };
  }

  /** One transaction: the table, its frame, and the live elements re-derived for `p`. */
  async function apply(p: Policy, ph: string | null): Promise<number> {
    const text = compileText(p, ph);
    const live = await readLiveExpiries(table);
    book.retain(live);
    const re = reprogramElements(p, compileDecider(p), table, book, live, ph ?? undefined);
    try {
      await exec("nft", ["-f", "-"], { input: text + re.text, timeoutMs: 60_000 });
    } catch (e) {
      throw new RuntimeError("CF_RUNTIME_ENFORCE_APPLY", `nft refused the ruleset (the previous one stays): ${(e as Error).message}`, "run 'clawfence compile POLICY --target nftables' to see the text; check that the kernel has nf_tables");
    }
    return re.elements.length;
  }

  function baseRecord(): EnforcerRecord {
    return {
      id,
      pid: process.pid,
      target: targetText(o.target),
      mode: o.target.kind,
      iface,
      users: o.target.kind === "host" ? (o.users(policy) ?? null) : null,
      table,
      policyPath: o.policyPath,
      policyName: policy.name,
      hash: policy.hash,
      policyMode: policy.mode,
      phase,
      guard: guardAddr,
      logGroup,
      flows: o.flows ?? null,
      createdBridge,
      started: new Date(clock.now()).toISOString(),
      reloads: 0,
      lastReload: null,
    };
  }

  async function readPhaseRequest(p: Policy): Promise<string | null> {
    let text: string;
    try {
      text = (await readFile(phasePath(o.stateDir, id), "utf8")).trim();
    } catch {
      return phase;
    }
    await rm(phasePath(o.stateDir, id), { force: true });
    if (!p.phases.includes(text)) throw new RuntimeError("CF_RUNTIME_ENFORCE_PHASE", `phase '${text}' is not declared in the policy (phases: ${p.phases.join(", ") || "none"})`, "request one of the policy's phases");
    const cur = phase === null ? 0 : p.phases.indexOf(phase);
    if (p.phases.indexOf(text) < cur) throw new RuntimeError("CF_RUNTIME_ENFORCE_PHASE", `phase '${text}' comes before the current phase '${phase ?? ""}': enforcement only moves forward`, "request a later phase, or restart the enforcer");
    return text;
  }

  async function doReload(): Promise<ReloadOutcome> {
    const t0 = performance.now();
    const at = new Date(clock.now()).toISOString();
    const fail = async (e: unknown): Promise<ReloadOutcome> => {
      const msg = e instanceof Error ? `${"code" in e ? `${String((e as { code: unknown }).code)}: ` : ""}${e.message}` : String(e);
      const outcome: ReloadOutcome = { at, ok: false, hash: policy.hash, error: msg, ms: Math.round(performance.now() - t0) };
      o.log(`clawfence enforce: reload refused, still enforcing ${policy.hash.slice(0, 12)}: ${msg}`);
      rec = { ...rec, reloads: rec.reloads + 1, lastReload: outcome };
      await writeEnforcerRecord(o.stateDir, rec);
      return outcome;
    };
    let next: Policy;
    let nextPhase: string | null;
    try {
      next = o.load();
      nextPhase = await readPhaseRequest(next);
      if (nextPhase !== null && !next.phases.includes(nextPhase)) throw new RuntimeError("CF_RUNTIME_ENFORCE_PHASE", `the policy no longer declares the current phase '${nextPhase}'`, "keep the phase in the policy's phases");
      if (nextPhase === null && next.phases.length > 0) nextPhase = next.phases[0] ?? null;
      compileText(next, nextPhase); // refuse what does not compile before touching anything
    } catch (e) {
      return fail(e);
    }
    const f = front;
    if (f === null) return fail(new Error("the enforcer is not running"));
    await f.pause();
    let carried: number;
    let built: { guard: DnsGuard; session: NftRunner };
    try {
      carried = await apply(next, nextPhase);
      built = await buildGuard(next, nextPhase);
    } catch (e) {
      f.resume();
      return fail(e);
    }
    const old = { guard, session };
    guard = built.guard;
    session = built.session;
    policy = next;
    phase = nextPhase;
    mapper = newMapper(next);
    f.resume((m, c, t) => built.guard.handle(m, c, t));
    await old.guard?.close();
    await old.session?.close();
    const outcome: ReloadOutcome = { at, ok: true, hash: next.hash, carried, ms: Math.round(performance.now() - t0) };
    rec = { ...rec, policyName: next.name, hash: next.hash, policyMode: next.mode, phase, users: o.target.kind === "host" ? (o.users(next) ?? null) : null, reloads: rec.reloads + 1, lastReload: outcome };
    await writeEnforcerRecord(o.stateDir, rec);
    await saveNames();
    o.log(`clawfence enforce: reloaded ${next.name} ${next.hash.slice(0, 12)}${phase !== null ? ` phase ${phase}` : ""} in ${outcome.ms} ms (${carried} live elements carried over)`);
    return outcome;
  }

  return {
    async start() {
      const prev = await readEnforcerRecord(o.stateDir, id);
      if (prev !== null && prev.pid !== process.pid && pidAlive(prev.pid)) {
        throw new RuntimeError("CF_RUNTIME_ENFORCE_RUNNING", `an enforcer for ${targetText(o.target)} is already running (pid ${prev.pid})`, "reload it with 'kill -HUP PID' (or systemctl reload), or stop it first");
      }
      policy = o.load();
      if (phase !== null && !policy.phases.includes(phase)) throw new RuntimeError("CF_RUNTIME_ENFORCE_PHASE", `phase '${phase}' is not declared in the policy (phases: ${policy.phases.join(", ") || "none"})`, "pass one of the policy's phases, or drop --phase", 2);
      if (phase === null && policy.phases.length > 0) phase = policy.phases[0] ?? null;
      if (o.target.kind === "host") {
        guardAddr = o.dnsListen ?? DEFAULT_HOST_GUARD;
      } else {
        const prep = await prepareInterface(o.target, { driver: o.bridge?.driver ?? "auto", cidr: o.bridge?.cidr ?? DEFAULT_BRIDGE_CIDR }, exec);
        iface = prep.iface;
        createdBridge = prep.created ?? prev?.createdBridge ?? null;
        masquerade = createdBridge === "linux" ? prep.network : null;
        guardAddr = { address: prep.address, port: o.dnsListen?.port ?? 53 };
      }
      book = createNameBook(50_000, await readNames(o.stateDir, id));
      rec = baseRecord();
      await writeEnforcerRecord(o.stateDir, rec);
      const carried = await apply(policy, phase);
      mapper = newMapper(policy);
      const built = await buildGuard(policy, phase);
      guard = built.guard;
      session = built.session;
      front = createDnsFront({ address: guardAddr.address, port: guardAddr.port, handler: (m, c, t) => built.guard.handle(m, c, t) });
      try {
        await front.start();
      } catch (e) {
        await built.session.close();
        throw e;
      }
      if (o.packetLog !== false) {
        const r = createNflogReader({
          group: logGroup,
          mapPrefix: (p) => mapper(p),
          sink,
          sandbox: id,
          policyHash: policy.hash,
          clock,
          onError: (e) => o.log(`clawfence enforce: packet log stopped: ${e.message}`),
        });
        try {
          await r.start();
          reader = r;
        } catch (e) {
          o.log(`clawfence enforce: warning: no packet log (kernel drops are not recorded): ${(e as Error).message}`);
        }
      }
      o.log(
        `clawfence enforce: enforcing ${policy.name} ${policy.hash.slice(0, 12)} on ${targetText(o.target)}${iface !== null && iface !== ifaceOf(o.target) ? ` (${iface})` : ""}` +
          `, table inet ${table}, DNS guard ${guardAddr.address}:${guardAddr.port}${phase !== null ? `, phase ${phase}` : ""}${carried ? `, ${carried} live elements kept` : ""}`,
      );
    },
    reload() {
      const r = chain.then(() => doReload());
      chain = r.catch(() => undefined);
      return r;
    },
    async close(opts = {}) {
      if (closed) return;
      closed = true;
      await chain.catch(() => undefined);
      if (namesTimer !== null) clearTimeout(namesTimer);
      await front?.close();
      await guard?.close();
      await session?.close();
      await reader?.close();
      if (opts.remove) {
        await exec("nft", ["delete", "table", "inet", table]).catch(() => undefined);
        await removeEnforcerRecord(o.stateDir, id, true);
      } else {
        await saveNames();
        // the record stays (with a dead pid): `status` shows the rules left in place, `remove` clears them
      }
    },
    policy: () => policy,
    record: () => rec,
  };
}
