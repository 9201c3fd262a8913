/**
 * runtime/dns/guard — the agent's only resolver: answers only names some active allow rule
 * can reach, and opens the firewall for exactly what it answered before the client sees it.
 *
 * Map, per query (UDP or TCP):
 *   bytes -> rate limit per client -> codec.parseQuery (malformed: FORMERR/REFUSED/drop)
 *   -> `use-application-dns.net`: NXDOMAIN (browsers keep DoH off)
 *   -> decider.decideName(name, phase): an enforced deny is REFUSED and never reaches an
 *      upstream (no tunnel through the guard); monitor mode answers and logs "would deny"
 *   -> names not listed exactly by an allow rule: exfiltration heuristics (heuristics.ts)
 *   -> cache (TTL) or upstream.ts -> answer.ts (CNAME chain, rebinding filter, HTTPS/SVCB)
 *   -> programmer.program(grants, addresses): the kernel holds the elements, or SERVFAIL
 *      (each programmed (name, address) is booked with its expiry: `liveNames()`, what a
 *      phase change re-decides for the new phase)
 *   -> reply, and one FlowEvent on the sink and the `clawfence:flow` channel.
 * A cache hit takes every step above except the upstream; what does not change between hits
 * of one entry is computed once (`Prepared`): canonical addresses, grants per phase, the
 * reply encoded once and stamped (id, RD, name case, aged TTLs), and the element expiries the
 * last programming confirmed (the programmer is asked again once they may not cover a hit).
 *
 * Fail closed: any error between the decision and the reply is SERVFAIL; nothing is answered
 * unless its addresses are programmed. Bounded: per-client token buckets (bounded client
 * table), cache entries, TCP connections and their buffers, upstream questions in flight.
 *
 * Factory, no singletons: policy, decider, programmer, sink and clock are injected.
 */
import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server, type Socket as TcpSocket } from "node:net";
import type { Answer } from "dns-packet";
import type { Decision, IpAddr } from "../../match/decision.ts";
import type { Decider } from "../../match/decide.ts";
import type { Grant } from "../../compile/nftables/layout.ts";
import type { Policy, Upstream } from "../../policy/ir.ts";
import { formatIp, parseIp } from "../../policy/addr.ts";
import { compileSpecialCheck } from "../../match/special.ts";
import { emitFlow, type EventSink, type FlowEvent } from "../events.ts";
import type { SetProgrammer } from "../nft/programmer.ts";
import { ageRecords, needsRefresh, shapeAnswer, type ShapedAnswer } from "./answer.ts";
import { EDNS_UDP_SIZE, encodeReply, parseQuery, type RcodeName, replyTemplate, type ReplyTemplate, stampReply, typeName } from "./codec.ts";
import { checkName, checkTxt, createUniqueNameCounter, DEFAULT_HEURISTICS, type HeuristicHit, type HeuristicsConfig } from "./heuristics.ts";
import { createUpstreamClient, type UpstreamClient } from "./upstream.ts";
import { serveDnsTcp } from "./tcp.ts";
import { RuntimeError } from "../errors.ts";

/**
 * The part of match/decide.ts's Decider the guard uses: `decideName` says whether a name may
 * be answered; `decideAddress` gives, per answer address, the exact grants to open (a CIDR
 * rule in front of the name's rule, or a special-purpose address, changes them).
 */
export type NameDecider = Pick<Decider, "decideName" | "decideAddress">;
type GuardDecision = Decision & { readonly grants: readonly Grant[] };

export interface GuardLimits {
  /** queries per second per client (token bucket refill), default 50000 */
  readonly ratePerClient?: number;
  /** bucket size, default 100000 */
  readonly burst?: number;
  /** clients tracked at once, default 4096 (the least recently seen is forgotten) */
  readonly maxClients?: number;
  /** cached answers, default 10000 */
  readonly cacheEntries?: number;
  readonly maxTcpConnections?: number;
  /** a TCP connection idle this long is closed, default 10 s */
  readonly tcpIdleMs?: number;
  /** longest TTL handed out, cached or programmed, default 86400 s */
  readonly maxTtl?: number;
  /** longest a negative answer is cached, default 300 s */
  readonly maxNegativeTtl?: number;
  readonly upstreamTimeoutMs?: number;
}

export interface DnsGuardOptions {
  readonly listen: { readonly address: string; readonly port: number };
  readonly policy: Policy;
  readonly decider: NameDecider;
  /** resolved upstreams (the policy's `dns.upstreams`, or the system's when that is null) */
  readonly upstreams: readonly Upstream[];
  readonly programmer: SetProgrammer;
  readonly sink: EventSink;
  /** wall clock in milliseconds (Date.now in production; tests drive it) */
  readonly clock: { now(): number };
  readonly heuristics?: Partial<HeuristicsConfig>;
  readonly phase?: string;
  readonly limits?: GuardLimits;
  /** sandbox id copied into events */
  readonly sandbox?: string;
}

export interface GuardStats {
  queries: number;
  answered: number;
  refused: number;
  servfail: number;
  malformed: number;
  rateLimited: number;
  cacheHits: number;
  upstreamQueries: number;
  programmed: number;
}

export interface DnsGuard {
  start(): Promise<void>;
  close(): Promise<void>;
  /** where the guard listens (ports resolved when `listen.port` was 0) */
  addresses(): { readonly udp: { address: string; port: number }; readonly tcp: { address: string; port: number } };
  /** move to a later phase (enforcement only moves forward; the caller checks the order) */
  setPhase(phase: string): void;
  /**
   * The (name, address) pairs answered and programmed that have not expired at `now` (ms),
   * with the expiry their elements were given. A phase change re-decides them for the new
   * phase (runtime/sandbox/phase.ts); the kernel's sets alone do not know the names.
   */
  liveNames(now: number): LiveName[];
  stats(): Readonly<GuardStats>;
  /** answer one query (the UDP and TCP servers use it; exposed for tests and benchmarks) */
  handle(msg: Uint8Array, client: string, transport: "udp" | "tcp"): Promise<Buffer | null>;
}

/** One answered (name, address) whose elements live until `expiresAt` (ms, the guard's clock). */
export interface LiveName {
  readonly name: string;
  /** canonical address text */
  readonly ip: string;
  readonly family: 4 | 6;
  readonly expiresAt: number;
}

/**
 * What the firewall opens for one answer address of `name` in `phase`: the allow grants, and
 * for names answered only because of monitor mode the monitor-mode deny rules' slices (their
 * chain statements log and accept). The guard and a phase change use this one function.
 */
export function addressGrants(decider: NameDecider, name: string, ip: IpAddr, phase: string | undefined): readonly Grant[] {
  const d = decider.decideAddress(name, ip, phase);
  return d.monitored.length > 0 ? [...d.grants, ...d.monitored] : d.grants;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The canary domain: NXDOMAIN tells browsers the network does not want DoH. */
export const DOH_CANARY = "use-application-dns.net";

interface CacheEntry {
  readonly shaped: ShapedAnswer;
  readonly storedAt: number;
  readonly expiresAt: number;
  /** built on the first answer from this entry; what every later hit reuses */
  prepared?: Prepared;
}

/**
 * What answering from one cache entry needs beyond the decision, computed once per entry:
 * a cache hit stamps a reply template and skips the programmer while the elements it last
 * confirmed still outlive the answer (the programmer's own freshness rule, `needsRefresh`).
 */
interface Prepared {
  /** answer addresses: canonical text, parsed, TTL at storage */
  readonly addrs: ReadonlyArray<{ readonly ip: string; readonly parsed: IpAddr | null; readonly family: 4 | 6; readonly ttl: number }>;
  /** canonical texts, for flow events */
  readonly answerIps: readonly string[];
  /** reply templates without / with EDNS: undefined until first needed, null when not stampable */
  readonly templates: [ReplyTemplate | null | undefined, ReplyTemplate | null | undefined];
  /** grants per parsed address, decided in phase generation `gen` */
  grants: { readonly gen: number; readonly list: ReadonlyArray<readonly Grant[]> } | null;
  /**
   * per parsed address, an expiry (ms) its elements are known to reach: set when program()
   * resolved for them in phase generation `gen` (a phase change starts a new table)
   */
  programmed: { readonly gen: number; readonly until: readonly number[] } | null;
}

function prepare(shaped: ShapedAnswer): Prepared {
  const addrs = shaped.addresses.map((a) => {
    const p = parseIp(a.ip);
    const ip = p ? formatIp(p) : a.ip;
    return { ip, parsed: p ? parseIp(ip) : null, family: a.family, ttl: a.ttl };
  });
  return { addrs, answerIps: addrs.map((a) => a.ip), templates: [undefined, undefined], grants: null, programmed: null };
}

export function createDnsGuard(o: DnsGuardOptions): DnsGuard {
  const limits = o.limits ?? {};
  const rate = limits.ratePerClient ?? 50_000;
  const burst = limits.burst ?? 100_000;
  const maxClients = limits.maxClients ?? 4096;
  const cacheEntries = limits.cacheEntries ?? 10_000;
  const maxTcp = limits.maxTcpConnections ?? 256;
  const tcpIdleMs = limits.tcpIdleMs ?? 10_000;
  const maxTtl = limits.maxTtl ?? 86_400;
  const maxNegTtl = limits.maxNegativeTtl ?? 300;
  const heur: HeuristicsConfig = { ...DEFAULT_HEURISTICS, ...o.heuristics };
  const counter = createUniqueNameCounter(heur);
  const special = compileSpecialCheck(o.policy.internal);
  const minTtl = o.policy.dns.minTtl;
  let phase = o.phase;
  // bumped by every phase change: grants and programming records of cache entries are per phase
  let phaseGen = 0;
  // flow event timestamps: one ISO text per clock millisecond
  let isoAt = Number.NaN;
  let iso = "";

  // names listed exactly by some allow rule carry no free-form data: heuristics skip them
  const exactNames = new Set<string>();
  for (const r of o.policy.rules) if (r.action === "allow") for (const d of r.dests) if (d.kind === "domain") exactNames.add(d.name);
  const ruleMode = new Map(o.policy.rules.map((r) => [r.name, r.mode]));

  const stats: GuardStats = { queries: 0, answered: 0, refused: 0, servfail: 0, malformed: 0, rateLimited: 0, cacheHits: 0, upstreamQueries: 0, programmed: 0 };
  const buckets = new Map<string, { tokens: number; at: number }>();
  // memos of pure functions (decider, name heuristics) so cache hits skip them; bounded, and
  // dropped on a phase change
  const memoSize = limits.cacheEntries ?? 10_000;
  const nameMemo = new Map<string, { decision: GuardDecision; hit: HeuristicHit | null }>();
  const addrMemo = new Map<string, GuardDecision["grants"]>();
  const remember = <V>(m: Map<string, V>, k: string, v: V): V => {
    if (m.size >= memoSize) m.clear();
    m.set(k, v);
    return v;
  };
  const cache = new Map<string, CacheEntry>();
  // (name, address) pairs whose elements were programmed, with the expiry they were given:
  // what a phase change re-decides (`liveNames`). Pruned of expired pairs as it grows, like
  // the programmer's own table (the same bound: one entry per live element at most)
  const live = new Map<string, LiveName>();
  let livePruneAt = 4096;
  function noteLive(name: string, entries: ReadonlyArray<{ readonly grants: readonly Grant[]; readonly address: { readonly ip: string; readonly family: 4 | 6; readonly ttl: number } }>, now: number): () => void {
    if (live.size >= livePruneAt) {
      for (const [k, v] of live) if (v.expiresAt <= now) live.delete(k);
      livePruneAt = Math.max(4096, live.size * 2);
    }
    const before: Array<[string, LiveName | undefined]> = [];
    for (const { grants, address: a } of entries) {
      if (grants.length === 0) continue;
      const k = `${name}|${a.ip}`;
      const prev = live.get(k);
      // the lifetime the programmer gives an element (runtime/nft/programmer.ts)
      const expiresAt = now + Math.max(Math.min(Math.max(a.ttl, 0), maxTtl), minTtl, 1) * 1000;
      before.push([k, prev]);
      if (prev === undefined || prev.expiresAt < expiresAt) live.set(k, { name, ip: a.ip, family: a.family, expiresAt });
    }
    return () => {
      for (const [k, prev] of before.reverse()) {
        if (prev === undefined) live.delete(k);
        else live.set(k, prev);
      }
    };
  }
  let upstream: UpstreamClient | null = null;
  let udp: Socket | null = null;
  let tcp: Server | null = null;
  const tcpConns = new Set<TcpSocket>();

  function allowRate(client: string, now: number): boolean {
    let b = buckets.get(client);
    if (b === undefined) {
      if (buckets.size >= maxClients) {
        const oldest = buckets.keys().next();
        if (!oldest.done) buckets.delete(oldest.value);
      }
      b = { tokens: burst, at: now };
    } else buckets.delete(client); // re-insert: Map order = least recently seen first
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    buckets.set(client, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  function cacheGet(key: string, now: number): CacheEntry | null {
    const e = cache.get(key);
    if (e === undefined) return null;
    if (e.expiresAt <= now) {
      cache.delete(key);
      return null;
    }
    return e;
  }

  function cachePut(key: string, shaped: ShapedAnswer, now: number): CacheEntry | null {
    const negative = shaped.rcode === "NXDOMAIN" || shaped.answers.length === 0;
    if (shaped.rcode !== "NOERROR" && shaped.rcode !== "NXDOMAIN") return null;
    const ttl = negative ? Math.min(shaped.ttl, maxNegTtl) : shaped.ttl;
    if (ttl <= 0) return null;
    if (cache.size >= cacheEntries) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    const e: CacheEntry = { shaped, storedAt: now, expiresAt: now + ttl * 1000 };
    cache.set(key, e);
    return e;
  }

  async function handle(msg: Uint8Array, client: string, transport: "udp" | "tcp"): Promise<Buffer | null> {
    const t0 = performance.now();
    const now = o.clock.now();
    stats.queries++;
    const clientIp = client.startsWith("[") ? client.slice(1, client.indexOf("]")) : client.slice(0, client.lastIndexOf(":"));
    if (!allowRate(clientIp, now)) {
      stats.rateLimited++;
      return null;
    }
    const parsed = parseQuery(msg);
    if (!parsed.ok) {
      if (parsed.action === "drop") {
        stats.malformed++;
        return null;
      }
      stats.malformed++;
      const name = parsed.question?.qnameRaw.toLowerCase() ?? null;
      event({ now, t0, name, qtype: parsed.question?.qtype ?? null, client, transport, decision: malformed(), rcode: parsed.rcode, detail: parsed.why });
      return encodeReply({ id: parsed.id, rd: parsed.rd, rcode: parsed.rcode, question: parsed.question, edns: false }, null);
    }
    const q = parsed.query;
    const udpLimit = transport === "tcp" ? null : q.edns ? Math.min(Math.max(q.edns.udpSize, 512), EDNS_UDP_SIZE) : 512;
    const reply = (rcode: RcodeName, answers: readonly Answer[] = [], authorities: readonly Answer[] = []): Buffer =>
      encodeReply({ id: q.id, rd: q.rd, rcode, question: q, answers, authorities, edns: q.edns !== null }, udpLimit);

    if (q.qclass !== 1) {
      stats.refused++;
      event({ now, t0, name: q.qname, qtype: q.qtype, client, transport, decision: malformed(), rcode: "REFUSED", detail: `class ${q.qclass}` });
      return reply("REFUSED");
    }
    if (q.qname === "") {
      stats.refused++;
      event({ now, t0, name: ".", qtype: q.qtype, client, transport, decision: { verdict: "deny", enforced: true, rule: "default", reason: "default-deny" }, rcode: "REFUSED" });
      return reply("REFUSED");
    }
    if (q.qname === DOH_CANARY) {
      event({ now, t0, name: q.qname, qtype: q.qtype, client, transport, decision: { verdict: "deny", enforced: true, rule: "default", reason: "default-deny" }, rcode: "NXDOMAIN", detail: "DoH canary: browsers keep DNS-over-HTTPS off" });
      stats.answered++;
      return reply("NXDOMAIN");
    }

    let decision: GuardDecision;
    const memoKey = `${q.qname}|${q.qtype}`;
    let memo = nameMemo.get(memoKey);
    try {
      memo ??= remember(nameMemo, memoKey, {
        decision: o.decider.decideName(q.qname, phase),
        hit: exactNames.has(q.qname) ? null : checkName(q.qname, q.qtype, heur),
      });
      decision = memo.decision;
    } catch (err) {
      stats.refused++;
      event({ now, t0, name: q.qname, qtype: q.qtype, client, transport, decision: malformed(), rcode: "REFUSED", detail: `undecidable name: ${err instanceof Error ? err.message : String(err)}` });
      return reply("REFUSED");
    }
    if (decision.verdict === "deny" && decision.enforced) {
      stats.refused++;
      event({ now, t0, name: q.qname, qtype: q.qtype, client, transport, decision, rcode: "REFUSED" });
      return reply("REFUSED");
    }

    // exfiltration heuristics, before anything reaches an upstream
    const checked = !exactNames.has(q.qname);
    let hit: HeuristicHit | null = checked ? (memo.hit ?? counter.observe(q.qname, now)) : null;
    const exfil = (_h: HeuristicHit): GuardDecision => ({
      verdict: "deny",
      enforced: decision.verdict === "allow" ? (ruleMode.get(decision.rule) ?? o.policy.mode) !== "monitor" : decision.enforced,
      rule: decision.rule,
      reason: "dns-exfiltration",
      grants: decision.grants,
    });
    if (hit !== null) {
      const d = exfil(hit);
      if (d.enforced) {
        stats.refused++;
        event({ now, t0, name: q.qname, qtype: q.qtype, client, transport, decision: d, rcode: "REFUSED", detail: `${hit.check}: ${hit.detail}` });
        return reply("REFUSED");
      }
    }

    // answer: cache or upstream
    const key = `${q.qname}|${q.qtype}|${q.cd ? 1 : 0}`;
    let entry = cacheGet(key, now);
    let elapsed = 0;
    if (entry !== null) {
      stats.cacheHits++;
      // round up: the TTL handed out must never outlast what was programmed for it
      elapsed = Math.ceil((now - entry.storedAt) / 1000);
    } else {
      try {
        upstream ??= createUpstreamClient({ upstreams: o.upstreams, ...(limits.upstreamTimeoutMs !== undefined ? { timeoutMs: limits.upstreamTimeoutMs } : {}) });
        stats.upstreamQueries++;
        const r = await upstream.resolve(q.qname, q.qtype, q.cd);
        const grants = decision.grants;
        const shaped = shapeAnswer(r.packet, {
          qname: q.qname,
          qtype: q.qtype,
          isSpecial: special,
          parseIp,
          maxTtl,
          hintKnown: (ip) => o.programmer.holds(grants, formatIp(ip)),
        });
        if (shaped.problem !== null) throw new RuntimeError("CF_RUNTIME_DNS_ANSWER", shaped.problem, "the upstream's answer is broken; nothing was answered");
        entry = cachePut(key, shaped, now) ?? { shaped, storedAt: now, expiresAt: now };
      } catch (err) {
        stats.servfail++;
        event({ now, t0, name: q.qname, qtype: q.qtype, client, transport, decision, rcode: "SERVFAIL", detail: err instanceof Error ? err.message : String(err) });
        return reply("SERVFAIL");
      }
    }
    const shaped = entry.shaped;

    if (checked && hit === null && q.qtype === 16) {
      const strings = shaped.answers.filter((a) => a.type === "TXT").flatMap((a) => txtStrings((a as { data?: unknown }).data));
      hit = checkTxt(strings, heur);
      if (hit !== null) {
        const d = exfil(hit);
        if (d.enforced) {
          stats.refused++;
          event({ now, t0, name: q.qname, qtype: q.qtype, client, transport, decision: d, rcode: "REFUSED", detail: `${hit.check}: ${hit.detail}` });
          return reply("REFUSED");
        }
      }
    }

    const prep = (entry.prepared ??= prepare(shaped));
    const addrs = prep.addrs;
    // allowed names open their grants; names answered only because of monitor mode open the
    // sets of monitor-mode deny rules (`monitored`), whose chain statements log and accept
    if ((decision.verdict === "allow" || !decision.enforced) && addrs.length > 0) {
      const gen = phaseGen;
      try {
        if (prep.grants === null || prep.grants.gen !== gen) {
          const list: Array<readonly Grant[]> = [];
          for (const a of addrs) {
            if (a.parsed === null) continue;
            const k = `${q.qname}|${a.ip}`;
            list.push(addrMemo.get(k) ?? remember(addrMemo, k, addressGrants(o.decider, q.qname, a.parsed, phase)));
          }
          prep.grants = { gen, list };
        }
        const grantList = prep.grants.list;
        const entries: Array<{ grants: readonly Grant[]; address: { ip: string; family: 4 | 6; ttl: number } }> = [];
        for (const a of addrs) if (a.parsed !== null) entries.push({ grants: grantList[entries.length] ?? [], address: { ip: a.ip, family: a.family, ttl: Math.max(0, a.ttl - elapsed) } });
        // the elements confirmed by the last programming still outlive this answer: the
        // programmer would send nothing (its rule, needsRefresh), so it is not asked
        const rec = prep.programmed;
        let fresh = rec !== null && rec.gen === gen;
        for (let i = 0; fresh && i < entries.length; i++) {
          const e = entries[i]!;
          if (e.grants.length > 0 && needsRefresh(rec?.until[i], now, e.address.ttl, minTtl)) fresh = false;
        }
        // book (name, address) before the kernel has it, so a phase change that waits for this
        // programming finds it; undone if programming fails
        const undoLive = noteLive(q.qname, entries, now);
        if (!fresh) {
          try {
            stats.programmed += await o.programmer.program(entries, minTtl);
          } catch (err) {
            undoLive();
            throw err;
          }
          // what program() guarantees from `now` on (its clock read is no earlier): each
          // element outlives max(ttl, min_ttl/2), and never less than the lifetime it gives
          prep.programmed = {
            gen,
            until: entries.map((e) => now + Math.min(Math.max(e.address.ttl, minTtl / 2), Math.max(Math.min(e.address.ttl, maxTtl), minTtl, 1)) * 1000),
          };
        }
      } catch (err) {
        stats.servfail++;
        event({ now, t0, name: q.qname, qtype: q.qtype, client, transport, decision, rcode: "SERVFAIL", answers: [], detail: `set programming failed: ${err instanceof Error ? err.message : String(err)}` });
        return reply("SERVFAIL");
      }
    }
    const rcode = (["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP"] as const).find((r) => r === shaped.rcode) ?? "SERVFAIL";
    stats.answered++;
    const final = hit !== null ? exfil(hit) : decision;
    event({
      now,
      t0,
      name: q.qname,
      qtype: q.qtype,
      client,
      transport,
      decision: final,
      rcode,
      answers: prep.answerIps,
      removed: shaped.removed,
      detail: hit !== null ? `${hit.check}: ${hit.detail}` : shaped.removed.length > 0 ? "special-purpose addresses removed from the answer" : undefined,
    });
    // the reply: the entry's template stamped with this query's id, flags, name case and aged
    // TTLs; encoded in full only when it cannot be stamped (too big for UDP: truncation)
    const slot = q.edns !== null ? 1 : 0;
    let tpl = prep.templates[slot];
    if (tpl === undefined) {
      tpl = replyTemplate({ id: 0, rd: false, rcode, question: { qnameRaw: q.qname, qtype: q.qtype, qclass: q.qclass }, answers: shaped.answers, authorities: shaped.authorities, edns: q.edns !== null });
      prep.templates[slot] = tpl;
    }
    return (tpl !== null ? stampReply(tpl, msg, q.id, q.rd, elapsed, udpLimit) : null) ?? reply(rcode, ageRecords(shaped.answers, elapsed), ageRecords(shaped.authorities, elapsed));
  }

  function malformed(): GuardDecision {
    return { verdict: "deny", enforced: true, rule: "default", reason: "malformed", grants: [] };
  }

  function event(e: {
    now: number;
    t0: number;
    name: string | null;
    qtype: number | null;
    client: string;
    transport: "udp" | "tcp";
    decision: Decision;
    rcode: string;
    answers?: readonly string[];
    removed?: readonly string[];
    detail?: string | undefined;
  }): void {
    // built by assignment in the field order of FlowEvent (no spreads: once per query)
    const ev: Mutable<FlowEvent> = {
      ts: e.now === isoAt ? iso : stamp(e.now),
      kind: "dns",
      name: e.name,
      dst_ip: null,
      dst_port: null,
      proto: e.transport,
      verdict: e.decision.verdict,
      enforced: e.decision.enforced,
      rule: e.decision.rule,
      reason: e.decision.reason,
    };
    if (e.qtype !== null) ev.qtype = typeName(e.qtype);
    ev.rcode = e.rcode;
    ev.client = e.client;
    if (e.answers) ev.answers = e.answers;
    if (e.removed && e.removed.length > 0) ev.removed = e.removed;
    if (e.detail !== undefined) ev.detail = e.detail;
    ev.latency_ms = Math.round((performance.now() - e.t0) * 1000) / 1000;
    ev.policy_hash = o.policy.hash;
    if (o.sandbox !== undefined) ev.sandbox = o.sandbox;
    emitFlow(o.sink, ev);
  }

  function stamp(now: number): string {
    isoAt = now;
    iso = new Date(now).toISOString();
    return iso;
  }

  function onTcp(sock: TcpSocket): void {
    serveDnsTcp(sock, { conns: tcpConns, maxConns: maxTcp, idleMs: tcpIdleMs, answer: (msg, client) => handle(msg, client, "tcp") });
  }

  const family = o.listen.address.includes(":") ? 6 : 4;

  return {
    async start() {
      const u = createSocket({ type: family === 6 ? "udp6" : "udp4" });
      u.on("message", (m, rinfo) => {
        const client = rinfo.family === "IPv6" ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`;
        void handle(m, client, "udp").then(
          (r) => {
            if (r !== null) u.send(r, rinfo.port, rinfo.address);
          },
          () => {
            /* handle() answers errors itself; a throw here is a bug, and the client times out (fail closed) */
          },
        );
      });
      u.on("error", () => {});
      await new Promise<void>((resolve, reject) => {
        u.once("error", reject);
        u.bind(o.listen.port, o.listen.address, () => {
          u.off("error", reject);
          resolve();
        });
      });
      udp = u;
      const t = createServer({ pauseOnConnect: false }, onTcp);
      await new Promise<void>((resolve, reject) => {
        t.once("error", reject);
        // the same port as UDP, so port 0 yields one port for both
        t.listen(u.address().port, o.listen.address, () => {
          t.off("error", reject);
          resolve();
        });
      });
      tcp = t;
    },
    async close() {
      const u = udp;
      const t = tcp;
      udp = null;
      tcp = null;
      if (u) await new Promise<void>((r) => u.close(() => r()));
      for (const s of tcpConns) s.destroy();
      if (t) await new Promise<void>((r) => t.close(() => r()));
      await upstream?.close();
      upstream = null;
    },
    addresses() {
      const ua = udp?.address();
      const ta = tcp?.address();
      if (!ua || !ta || typeof ta === "string") throw new RuntimeError("CF_RUNTIME_DNS_NOT_STARTED", "the DNS guard is not listening", "call start() first");
      return { udp: { address: ua.address, port: ua.port }, tcp: { address: ta.address, port: ta.port } };
    },
    setPhase(p) {
      phase = p;
      phaseGen++;
      nameMemo.clear();
      addrMemo.clear();
    },
    liveNames(now) {
      const out: LiveName[] = [];
      for (const v of live.values()) if (v.expiresAt > now) out.push(v);
      return out;
    },
    stats: () => ({ ...stats }),
    handle,
  };
}

function txtStrings(data: unknown): Uint8Array[] {
  if (Array.isArray(data)) return data.map((d) => (typeof d === "string" ? Buffer.from(d) : d instanceof Uint8Array ? d : Buffer.alloc(0)));
  if (typeof data === "string") return [Buffer.from(data)];
  if (data instanceof Uint8Array) return [data];
  return [];
}
