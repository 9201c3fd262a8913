/**
 * runtime/dns/heuristics — does a name under an allowed wildcard look like data being
 * smuggled out through DNS?
 *
 * Map: the guard calls `checkName()` (pure: length, label length, entropy, query type) and the
 * `UniqueNameCounter` (bounded state: distinct names per registrable domain in a window)
 * before a query under a wildcard or `any` entry may reach an upstream, and `checkTxt()`
 * on a TXT answer before it reaches the client. A hit is a deny with reason
 * `dns-exfiltration`; `detail` says which check fired.
 *
 * Names allowed by an exact domain entry are not checked: they carry no free-form data.
 * Defaults and where they come from: docs/dns-guard.md. Every threshold is configurable.
 *
 * No I/O; the counter takes `now` from its caller. Registrable domains come from tldts
 * (Public Suffix List).
 */
import { getDomain } from "tldts";

export interface HeuristicsConfig {
  /** longest name (characters, no trailing dot) accepted */
  readonly maxNameLength: number;
  /** longest single label accepted */
  readonly maxLabelLength: number;
  /** Shannon entropy (bits per character) of the part below the registrable domain above which a name is data */
  readonly entropyThreshold: number;
  /** entropy is only judged on subdomain parts at least this long (short strings have low entropy by construction) */
  readonly entropyMinLength: number;
  /** distinct names under one registrable domain allowed per window */
  readonly maxUniquePerDomain: number;
  readonly uniqueWindowSec: number;
  /** registrable domains tracked at once (memory bound); the oldest are forgotten first */
  readonly maxTrackedDomains: number;
  /** query types refused under wildcards (NULL, the iodine private type) */
  readonly blockedTypes: readonly number[];
  /** total TXT payload bytes above which a TXT answer is refused */
  readonly maxTxtBytes: number;
}

export const DEFAULT_HEURISTICS: HeuristicsConfig = {
  maxNameLength: 90,
  maxLabelLength: 40,
  entropyThreshold: 3.8,
  entropyMinLength: 20,
  maxUniquePerDomain: 100,
  uniqueWindowSec: 3600,
  maxTrackedDomains: 10_000,
  blockedTypes: [10, 65399],
  maxTxtBytes: 512,
};

export type HeuristicHit =
  | { readonly check: "name-length"; readonly detail: string }
  | { readonly check: "label-length"; readonly detail: string }
  | { readonly check: "entropy"; readonly detail: string }
  | { readonly check: "query-type"; readonly detail: string }
  | { readonly check: "unique-subdomains"; readonly detail: string }
  | { readonly check: "txt-size"; readonly detail: string };

/** Shannon entropy in bits per character; 0 for the empty string. */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** The registrable domain of `name` (PSL), or the name itself when it has none. */
export function registrableDomain(name: string): string {
  return getDomain(name, { allowPrivateDomains: false }) ?? name;
}

/** The labels below the registrable domain, joined without dots ("" for the apex). */
export function subdomainPart(name: string): string {
  const reg = registrableDomain(name);
  if (reg === name || !name.endsWith(`.${reg}`)) return "";
  return name.slice(0, -reg.length - 1).replaceAll(".", "");
}

/** Stateless checks on one question. `name` is lowercase without trailing dot. */
export function checkName(name: string, qtype: number, c: HeuristicsConfig): HeuristicHit | null {
  if (c.blockedTypes.includes(qtype)) return { check: "query-type", detail: `query type ${qtype} is not used by ordinary clients` };
  if (name.length > c.maxNameLength) return { check: "name-length", detail: `name of ${name.length} characters (limit ${c.maxNameLength})` };
  for (const label of name.split(".")) {
    if (label.length > c.maxLabelLength) return { check: "label-length", detail: `label of ${label.length} characters (limit ${c.maxLabelLength})` };
  }
  const sub = subdomainPart(name);
  if (sub.length >= c.entropyMinLength) {
    const h = shannonEntropy(sub);
    if (h > c.entropyThreshold) return { check: "entropy", detail: `subdomain entropy ${h.toFixed(2)} bits/char (limit ${c.entropyThreshold})` };
  }
  return null;
}

/** Check a TXT answer's total payload. `strings` are the TXT character-strings. */
export function checkTxt(strings: readonly Uint8Array[], c: HeuristicsConfig): HeuristicHit | null {
  const n = strings.reduce((s, b) => s + b.length, 0);
  return n > c.maxTxtBytes ? { check: "txt-size", detail: `TXT answer of ${n} bytes (limit ${c.maxTxtBytes})` } : null;
}

export interface UniqueNameCounter {
  /**
   * Note `name` at `nowMs`; a hit when it is a new name and its registrable domain already
   * had `maxUniquePerDomain` distinct names in the window. Names that hit are not recorded.
   */
  observe(name: string, nowMs: number): HeuristicHit | null;
  /** registrable domains tracked (for tests of the memory bound) */
  size(): number;
}

export function createUniqueNameCounter(c: HeuristicsConfig): UniqueNameCounter {
  // domain -> (name -> last seen ms); Map order is insertion order, used for eviction
  const domains = new Map<string, Map<string, number>>();
  const windowMs = c.uniqueWindowSec * 1000;
  return {
    observe(name, nowMs) {
      const reg = registrableDomain(name);
      let names = domains.get(reg);
      if (names === undefined) {
        if (domains.size >= c.maxTrackedDomains) {
          const oldest = domains.keys().next();
          if (!oldest.done) domains.delete(oldest.value);
        }
        names = new Map();
        domains.set(reg, names);
      }
      if (names.has(name)) {
        names.set(name, nowMs);
        return null;
      }
      for (const [n, seen] of names) if (seen <= nowMs - windowMs) names.delete(n);
      if (names.size >= c.maxUniquePerDomain) {
        return {
          check: "unique-subdomains",
          detail: `more than ${c.maxUniquePerDomain} distinct names under ${reg} in ${c.uniqueWindowSec}s`,
        };
      }
      names.set(name, nowMs);
      return null;
    },
    size: () => domains.size,
  };
}
