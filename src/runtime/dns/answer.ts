/**
 * runtime/dns/answer — what the guard does to an upstream answer before anyone sees it.
 *
 * Map: upstream Packet -> `shapeAnswer()`: follow the CNAME chain from the name asked, keep
 * only records on that chain, take the final A/AAAA addresses (tied to the name asked, as
 * Cilium does), remove special-purpose addresses outside `internal` (rebinding), rewrite
 * HTTPS/SVCB (no `ech`, no address hints the firewall does not hold), and compute the TTLs:
 * how long the client may cache, how long the set elements live, how long the guard caches.
 *
 * Pure: no I/O, no clock. Callers pass `now` where it matters.
 */
import type { Answer, Packet } from "dns-packet";
import type { IpAddr } from "../../match/decision.ts";
import { rcodeOf, typeNumber } from "./codec.ts";

/** Longest CNAME chain followed; longer chains are answered SERVFAIL. */
export const MAX_CHAIN = 16;

export interface AnswerAddress {
  readonly ip: string;
  readonly family: 4 | 6;
  readonly ttl: number;
}

export interface ShapedAnswer {
  readonly rcode: string;
  /** the names from the name asked to the final target, lowercase */
  readonly chain: readonly string[];
  /** records handed to the client (chain CNAMEs, final records of the asked type) */
  readonly answers: readonly Answer[];
  /** SOA records kept for negative caching */
  readonly authorities: readonly Answer[];
  /** final A/AAAA addresses that stay in the answer */
  readonly addresses: readonly AnswerAddress[];
  /** addresses removed as special-purpose (rebinding) */
  readonly removed: readonly string[];
  /** smallest TTL of what the client gets (for the guard's cache); negative answers use the SOA */
  readonly ttl: number;
  /** set when the chain could not be followed (loop, too long) */
  readonly problem: string | null;
}

export interface ShapeOptions {
  /** the name asked, lowercase, no trailing dot */
  readonly qname: string;
  readonly qtype: number;
  /** true when `ip` is special-purpose outside the policy's `internal` ranges */
  readonly isSpecial: (ip: IpAddr) => boolean;
  /** parse an address text as dns-packet gives it; null when it does not parse */
  readonly parseIp: (text: string) => IpAddr | null;
  /** largest TTL handed out or cached, seconds */
  readonly maxTtl: number;
  /** whether the firewall holds `ip` for `qname` right now; HTTPS/SVCB hints it does not are removed */
  readonly hintKnown: (ip: IpAddr) => boolean;
}

const lower = (s: string): string => s.toLowerCase().replace(/\.$/, "");

/**
 * Shape an upstream answer for the client. Records not on the chain from `qname` are dropped:
 * they could only smuggle addresses for names nobody asked about.
 */
export function shapeAnswer(p: Packet, o: ShapeOptions): ShapedAnswer {
  const rcode = rcodeOf(p);
  const all = (p.answers ?? []).filter((a) => (a as { class?: string }).class === undefined || (a as { class?: string }).class === "IN");
  const chain: string[] = [o.qname];
  const kept: Answer[] = [];
  let problem: string | null = null;
  let current = o.qname;
  // follow CNAMEs (a DNAME's synthesized CNAME is followed the same way)
  for (let steps = 0; ; steps++) {
    if (o.qtype === 5) break; // asking for the CNAME itself: do not follow
    const cname = all.find((a) => a.type === "CNAME" && lower(a.name) === current);
    if (cname === undefined) break;
    if (steps >= MAX_CHAIN) {
      problem = `CNAME chain longer than ${MAX_CHAIN}`;
      break;
    }
    const target = lower(String((cname as { data: unknown }).data));
    if (chain.includes(target)) {
      problem = `CNAME loop at ${target}`;
      break;
    }
    kept.push(cname);
    chain.push(target);
    current = target;
  }
  const final = current;
  const addresses: AnswerAddress[] = [];
  const removed: string[] = [];
  for (const a of all) {
    if (lower(a.name) !== final) continue;
    const t = typeNumber(a.type);
    if (t !== o.qtype || t === 5) continue;
    if (a.type === "A" || a.type === "AAAA") {
      const text = String((a as { data: unknown }).data);
      const ip = o.parseIp(text);
      if (ip === null || o.isSpecial(ip)) {
        removed.push(text);
        continue;
      }
      addresses.push({ ip: text, family: ip.family, ttl: clampTtl((a as { ttl?: number }).ttl ?? 0, o.maxTtl) });
      kept.push(a);
      continue;
    }
    if (t === 64 || t === 65) {
      const data = (a as { data: unknown }).data;
      if (!(data instanceof Uint8Array)) continue;
      const rewritten = rewriteSvcb(data, o.hintKnown);
      if (rewritten !== null) kept.push({ ...a, data: Buffer.from(rewritten) } as Answer);
      continue;
    }
    kept.push(a);
  }
  const authorities = (p.authorities ?? []).filter((a) => a.type === "SOA");
  const ttls = kept.map((a) => (a as { ttl?: number }).ttl ?? 0);
  let ttl: number;
  if (ttls.length > 0) ttl = Math.min(...ttls);
  else {
    // negative answer: RFC 2308, min(SOA TTL, SOA minimum)
    const soa = authorities[0] as (Answer & { ttl?: number; data?: { minimum?: number } }) | undefined;
    ttl = soa ? Math.min(soa.ttl ?? 0, soa.data?.minimum ?? 0) : 0;
  }
  const cappedKept = kept.map((a) => capRecordTtl(a, o.maxTtl));
  return {
    rcode,
    chain,
    answers: cappedKept,
    authorities: authorities.map((a) => capRecordTtl(a, o.maxTtl)),
    addresses,
    removed,
    ttl: clampTtl(ttl, o.maxTtl),
    problem,
  };
}

function clampTtl(ttl: number, max: number): number {
  if (!Number.isFinite(ttl) || ttl < 0) return 0;
  return Math.min(Math.floor(ttl), max);
}

function capRecordTtl(a: Answer, max: number): Answer {
  const t = (a as { ttl?: number }).ttl;
  if (t === undefined || t <= max) return a;
  return { ...a, ttl: max } as Answer;
}

/**
 * Timeout, in seconds, of a set element for an address with `ttl`: max(ttl, minTtl),
 * never above `maxTtl` unless minTtl itself is larger.
 */
export function elementTimeout(ttl: number, minTtl: number, maxTtl: number): number {
  return Math.max(Math.min(Math.max(ttl, 0), maxTtl), minTtl, 1);
}

/**
 * Whether an element known to expire at `knownExpiryMs` must be refreshed for a client that
 * will use the address for `ttl` more seconds. The element must outlive the client's TTL, and
 * leave at least half of `min_ttl` to connect; refreshing less often than every answer keeps
 * cache hits off the kernel.
 */
export function needsRefresh(knownExpiryMs: number | undefined, nowMs: number, ttl: number, minTtl: number): boolean {
  if (knownExpiryMs === undefined) return true;
  return knownExpiryMs < nowMs + Math.max(ttl, minTtl / 2) * 1000;
}

/** Records with TTLs reduced by `elapsedSec` (a cache hit), never below 0. */
export function ageRecords(records: readonly Answer[], elapsedSec: number): Answer[] {
  if (elapsedSec <= 0) return [...records];
  return records.map((a) => {
    const t = (a as { ttl?: number }).ttl;
    return t === undefined ? a : ({ ...a, ttl: Math.max(0, t - elapsedSec) } as Answer);
  });
}

// --- HTTPS / SVCB (RFC 9460) -------------------------------------------------------------

const KEY_MANDATORY = 0;
const KEY_IPV4HINT = 4;
const KEY_ECH = 5;
const KEY_IPV6HINT = 6;

/**
 * Rewrite SVCB/HTTPS rdata: drop the `ech` parameter (an encrypted ClientHello hides the SNI
 * the proxy checks), and keep only address hints the firewall holds for the name (a client
 * that connects to a hint the firewall does not know would just fail; removing the hint
 * makes it ask for A/AAAA, which the guard programs). Returns null when the record must be
 * dropped: malformed, or its `mandatory` list names a removed parameter.
 */
export function rewriteSvcb(rdata: Uint8Array, hintKnown: (ip: IpAddr) => boolean): Uint8Array | null {
  if (rdata.length < 3) return null;
  let off = 2; // SvcPriority
  // TargetName: uncompressed labels
  for (let steps = 0; ; steps++) {
    if (off >= rdata.length || steps > 127) return null;
    const len = rdata[off]!;
    off++;
    if (len === 0) break;
    if (len > 63) return null;
    off += len;
  }
  if (off > rdata.length) return null;
  const head = rdata.subarray(0, off);
  const out: Uint8Array[] = [head];
  const removedKeys = new Set<number>();
  let mandatory: number[] = [];
  let lastKey = -1;
  while (off < rdata.length) {
    if (off + 4 > rdata.length) return null;
    const key = (rdata[off]! << 8) | rdata[off + 1]!;
    const len = (rdata[off + 2]! << 8) | rdata[off + 3]!;
    if (key <= lastKey) return null; // keys must be strictly increasing
    lastKey = key;
    const value = rdata.subarray(off + 4, off + 4 + len);
    if (value.length !== len) return null;
    off += 4 + len;
    if (key === KEY_MANDATORY) {
      if (len % 2 !== 0) return null;
      mandatory = [];
      for (let i = 0; i < len; i += 2) mandatory.push((value[i]! << 8) | value[i + 1]!);
    }
    if (key === KEY_ECH) {
      removedKeys.add(key);
      continue;
    }
    if (key === KEY_IPV4HINT || key === KEY_IPV6HINT) {
      const size = key === KEY_IPV4HINT ? 4 : 16;
      if (len === 0 || len % size !== 0) return null;
      const keep: Uint8Array[] = [];
      for (let i = 0; i < len; i += size) {
        const addr = value.subarray(i, i + size);
        if (hintKnown(bytesToIp(addr))) keep.push(addr);
      }
      if (keep.length === 0) {
        removedKeys.add(key);
        continue;
      }
      out.push(param(key, concat(keep)));
      continue;
    }
    out.push(param(key, value));
  }
  if (mandatory.some((k) => removedKeys.has(k))) return null;
  return concat(out);
}

function param(key: number, value: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + value.length);
  b[0] = key >> 8;
  b[1] = key & 0xff;
  b[2] = value.length >> 8;
  b[3] = value.length & 0xff;
  b.set(value, 4);
  return b;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const b = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    b.set(p, o);
    o += p.length;
  }
  return b;
}

function bytesToIp(b: Uint8Array): IpAddr {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return { family: b.length === 4 ? 4 : 6, value: v };
}
