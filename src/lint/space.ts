/**
 * lint/space — the flow space of a policy, and which rule decides each part of it.
 *
 * Model (exact for the policy IR, PRODUCT.md sections 3 and 4): a flow is (destination,
 * protocol, port, phase). Protocols, ports and phases are cut into "cells": the three flow
 * protocols x the policy's phases x elementary port intervals (the intervals between every
 * port-range boundary any rule writes, plus 53, 80, 443 and 853 on their own). ICMP has one
 * cell per phase and is matched only by rules without `ports:`. A destination has two
 * independent sides:
 *   - names: an exact name, `*.x` (every name strictly below x), or all names (`any`);
 *   - addresses: a literal CIDR matches what it says; `any` matches every address except the
 *     special-purpose ranges outside `internal` (mapped and NAT64 IPv6 count as internal when
 *     their embedded IPv4 is, as in match/special.ts); an IPv4 CIDR also matches the
 *     IPv4-mapped IPv6 form of its addresses (match/decide.ts).
 * A name entry never matches a special address outside `internal` either, the same condition
 * as `any`, so a name is covered exactly when an earlier entry covers the name; a CIDR (or the
 * address side of `any`) is covered by earlier CIDRs and earlier `any`. A name-only flow (a
 * DNS question) is never matched by a CIDR, so CIDRs never cover names.
 *
 * Rules are visited in decision order; before a rule's entries are added to its "box"
 * (protocol, ports, phases) accumulator, each entry is checked against the union of the
 * earlier boxes that contain each of its cells. Cells with the same set of relevant boxes are
 * checked once. The result says, per entry, whether it decides anything, which earlier rules
 * decide it, and whether it decides DNS (53/853) or plain HTTP (80) traffic.
 *
 * Pure: no I/O. Imports match/special for the special-purpose table (lint sits above match).
 */
import type { Action, Cidr, Dest, PortRange, Policy, Rule } from "../policy/ir.ts";
import { SPECIAL_RANGES } from "../match/special.ts";
import {
  RecordTrie,
  cidrInterval,
  familyMax,
  intervalsToCidrs,
  normalizeIntervals,
  subtractIntervals,
  wordsOf,
  type Interval,
} from "./addrset.ts";

const INF = 0x7fffffff;
export const PROTOS = ["tcp", "udp", "icmp"] as const;
const ICMP = 2;
/** ports that get a cell of their own so checks can ask about them */
export const DNS_PORTS = [53, 853] as const;
export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;

/** A destination as the analysis sees it (an IR Dest, or a probe built from a catalog entry). */
export type Target =
  | { readonly kind: "any" }
  | { readonly kind: "domain"; readonly name: string }
  | { readonly kind: "wildcard"; readonly suffix: string }
  | { readonly kind: "cidr"; readonly cidr: Cidr };

/**
 * Name entries of all rules, each with records (rule order, accumulator key) in rule order.
 * An accumulator key is box id * 2 + (deny ? 1 : 0); queries pass a mask of keys that count.
 */
class NameIndex {
  readonly exact = new Map<string, number[]>();
  readonly wild = new Map<string, number[]>();
  readonly any: number[] = [];

  static add(list: number[], order: number, key: number): void {
    for (let i = 1; i < list.length; i += 2) if (list[i] === key) return;
    list.push(order, key);
  }

  static first(list: readonly number[] | undefined, mask: Uint8Array): number {
    if (!list) return INF;
    for (let i = 0; i + 1 < list.length; i += 2) if (mask[list[i + 1] ?? 0] === 1) return list[i] ?? INF;
    return INF;
  }

  insert(t: Target, order: number, key: number): void {
    if (t.kind === "any") NameIndex.add(this.any, order, key);
    else if (t.kind === "domain" || t.kind === "wildcard") {
      const m = t.kind === "domain" ? this.exact : this.wild;
      const k = t.kind === "domain" ? t.name : t.suffix;
      let l = m.get(k);
      if (!l) m.set(k, (l = []));
      NameIndex.add(l, order, key);
    }
  }

  /**
   * Every record (order, key pairs, flattened) of an entry that covers every name of `t`
   * (a domain, or a wildcard's subtree), looked up once so several masks can be tried.
   */
  covering(t: Target): number[] {
    const out: number[] = this.any.slice();
    if (t.kind !== "domain" && t.kind !== "wildcard") return out;
    const name = t.kind === "domain" ? t.name : t.suffix;
    const own = t.kind === "domain" ? this.exact.get(name) : this.wild.get(name);
    if (own) for (const x of own) out.push(x);
    for (let i = name.indexOf("."); i !== -1; i = name.indexOf(".", i + 1)) {
      const l = this.wild.get(name.slice(i + 1));
      if (l) for (const x of l) out.push(x);
    }
    return out;
  }

  /** the first (lowest order) record whose key is in `mask` */
  static firstOf(records: readonly number[], mask: Uint8Array): number {
    let m = INF;
    for (let i = 0; i + 1 < records.length; i += 2) {
      const o = records[i] ?? INF;
      if (o < m && mask[records[i + 1] ?? 0] === 1) m = o;
    }
    return m;
  }

  /** first rule whose name entries cover every name of `t` (a domain, or a wildcard's subtree) */
  decide(t: Target, mask: Uint8Array): number {
    let m = NameIndex.first(this.any, mask);
    if (t.kind !== "domain" && t.kind !== "wildcard") return m;
    const name = t.kind === "domain" ? t.name : t.suffix;
    if (t.kind === "domain") m = Math.min(m, NameIndex.first(this.exact.get(name), mask));
    else m = Math.min(m, NameIndex.first(this.wild.get(name), mask));
    for (let i = name.indexOf("."); i !== -1; i = name.indexOf(".", i + 1)) m = Math.min(m, NameIndex.first(this.wild.get(name.slice(i + 1)), mask));
    return m;
  }
}

interface Box {
  readonly id: number;
  readonly cells: Uint8Array;
}

export interface Decided {
  /** orders of the rules that decide (parts of) the target */
  readonly owners: Set<number>;
  /** some part of the target is matched by no rule considered */
  uncovered: boolean;
}

export interface EntryResult {
  readonly dest: Dest;
  /** every flow of this entry (within its rule's protocols, ports, phases) is decided earlier */
  readonly dead: boolean;
  /** earlier rules that decide (parts of) it, by order */
  readonly deciders: ReadonlySet<number>;
  /**
   * earlier rules that decide all of this entry in some (protocol, port, phase) where earlier
   * rules of the same action alone would not: the opposite action takes the entry there
   */
  readonly overriders: ReadonlySet<number>;
  /** where that happens, e.g. "tcp/443" or "every port and protocol"; "" when nowhere */
  readonly overriddenIn: string;
  /** this entry decides some DNS (53/853, tcp or udp) flow */
  readonly decidesDns: boolean;
  /** this entry decides some tcp/80 flow */
  readonly decidesHttp: boolean;
}

export interface RuleResult {
  readonly rule: Rule;
  /** the rule has no cells at all (cannot match any flow) */
  readonly noCells: boolean;
  readonly dead: boolean;
  readonly entries: readonly EntryResult[];
}

export interface Space {
  readonly phases: readonly string[];
  readonly elems: readonly PortRange[];
  readonly rules: readonly RuleResult[];
  /** the CIDRs `any` stands for, per family */
  readonly anyCidrs: readonly Cidr[];
  /** first-match decision of a target in one (protocol, port, phase), over all rules */
  decideAt(target: Target, proto: (typeof PROTOS)[number], port: number | null, phase: string | null): Decided;
}

// ---------------------------------------------------------------- `any` addresses

/** Every address `any` and names may reach: all minus special-purpose ranges outside internal. */
export function anyAddressCidrs(internal: readonly Cidr[]): Cidr[] {
  const out: Cidr[] = [];
  for (const family of [4, 6] as const) {
    const special = normalizeIntervals(SPECIAL_RANGES.filter((e) => e.cidr.family === family).map((e) => cidrInterval(e.cidr)));
    const inside: Interval[] = internal.filter((c) => c.family === family).map(cidrInterval);
    if (family === 6) {
      // ::ffff:a.b.c.d and 64:ff9b::a.b.c.d reach the embedded IPv4 host (match/special.ts)
      for (const c of internal.filter((x) => x.family === 4)) {
        const iv = cidrInterval(c);
        for (const base of [0xffffn << 32n, 0x64ff9bn << 96n]) inside.push({ lo: base | iv.lo, hi: base | iv.hi });
      }
    }
    const blocked = subtractIntervals(special, normalizeIntervals(inside));
    const reach = subtractIntervals([{ lo: 0n, hi: familyMax(family) }], blocked);
    out.push(...intervalsToCidrs(family, reach));
  }
  return out;
}

// ---------------------------------------------------------------- cells

function elementaryPorts(rules: readonly Rule[]): PortRange[] {
  const cuts = new Set<number>([1, 65536]);
  for (const p of [...DNS_PORTS, HTTP_PORT, HTTPS_PORT]) {
    cuts.add(p);
    cuts.add(p + 1);
  }
  for (const r of rules) for (const pr of r.ports ?? []) {
    cuts.add(pr.from);
    cuts.add(pr.to + 1);
  }
  const s = [...cuts].sort((a, b) => a - b);
  const out: PortRange[] = [];
  for (let i = 0; i + 1 < s.length; i++) out.push({ from: s[i] ?? 1, to: (s[i + 1] ?? 65536) - 1 });
  return out;
}

function elemIndex(elems: readonly PortRange[], port: number): number {
  let lo = 0;
  let hi = elems.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((elems[mid]?.to ?? 0) < port) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function targetOf(d: Dest): Target {
  switch (d.kind) {
    case "any":
      return { kind: "any" };
    case "domain":
      return { kind: "domain", name: d.name };
    case "wildcard":
      return { kind: "wildcard", suffix: d.suffix };
    case "cidr":
      return { kind: "cidr", cidr: d.cidr };
    default: {
      const never: never = d;
      throw new Error(`unhandled dest ${JSON.stringify(never)}`);
    }
  }
}

const MAPPED = 0xffffn << 32n;

/**
 * The address networks a literal CIDR entry matches: an IPv4 entry also matches the IPv4-mapped
 * IPv6 form of its addresses (::ffff:a.b.c.d is the IPv4 host on the wire; match/decide.ts).
 */
function networksOf(c: Cidr): Cidr[] {
  if (c.family === 6) return [c];
  return [c, { family: 6, addr: MAPPED | c.addr, prefix: c.prefix + 96, text: `::ffff:${c.text}` }];
}

// ---------------------------------------------------------------- analysis

export function analyze(policy: Policy): Space {
  const phases = policy.phases.length > 0 ? policy.phases : [""];
  const elems = elementaryPorts(policy.rules);
  const nE = elems.length;
  const nCells = PROTOS.length * phases.length * nE;
  const cellOf = (p: number, ph: number, e: number): number => (p * phases.length + ph) * nE + e;
  const anyCidrs = anyAddressCidrs(policy.internal);
  const anyWords = anyCidrs.map((c) => ({ c, w: wordsOf(c) }));
  const dnsCells = new Set<number>();
  const httpCells = new Set<number>();
  for (let ph = 0; ph < phases.length; ph++) {
    for (const port of DNS_PORTS) for (const p of [0, 1]) dnsCells.add(cellOf(p, ph, elemIndex(elems, port)));
    httpCells.add(cellOf(0, ph, elemIndex(elems, HTTP_PORT)));
  }

  const cellsOfRule = (r: Rule): number[] => {
    const protos = r.protocol === "any" ? [0, 1, 2] : [PROTOS.indexOf(r.protocol)];
    const phs = r.phases === null ? phases.map((_, i) => i) : r.phases.map((n) => phases.indexOf(n)).filter((i) => i >= 0);
    const es: number[] = [];
    if (r.ports === null) for (let e = 0; e < nE; e++) es.push(e);
    else
      for (let e = 0; e < nE; e++) {
        const el = elems[e];
        if (el && r.ports.some((pr) => pr.from <= el.from && el.to <= pr.to)) es.push(e);
      }
    const out: number[] = [];
    for (const p of protos) {
      for (const ph of phs) {
        if (p === ICMP) {
          if (r.ports === null) out.push(cellOf(p, ph, 0));
        } else for (const e of es) out.push(cellOf(p, ph, e));
      }
    }
    return out;
  };

  // every rule's box (protocol, ports, phases), known before the pass so masks have a fixed size
  const boxes = new Map<string, Box>();
  const boxList: Box[] = [];
  const ruleCells: number[][] = [];
  const ruleBox: Box[] = [];
  for (const r of policy.rules) {
    const cells = cellsOfRule(r);
    const key = `${r.protocol}|${r.ports === null ? "*" : r.ports.map((p) => `${p.from}-${p.to}`).join(",")}|${r.phases === null ? "*" : [...r.phases].sort().join(",")}`;
    let b = boxes.get(key);
    if (!b) {
      const m = new Uint8Array(nCells);
      for (const c of cells) m[c] = 1;
      b = { id: boxList.length, cells: m };
      boxes.set(key, b);
      boxList.push(b);
    }
    ruleCells.push(cells);
    ruleBox.push(b);
  }
  const keyOf = (b: Box, a: Action): number => b.id * 2 + (a === "deny" ? 1 : 0);
  const maskOf = (bs: readonly Box[], actions: readonly Action[]): Uint8Array => {
    const m = new Uint8Array(boxList.length * 2);
    for (const b of bs) for (const a of actions) m[keyOf(b, a)] = 1;
    return m;
  };

  const names = new NameIndex();
  const v4 = new RecordTrie();
  const v6 = new RecordTrie();

  const query = (t: Target, mask: Uint8Array, stopEarly: boolean): Decided => {
    const out: Decided = { owners: new Set(), uncovered: false };
    const addr = (c: Cidr, w: Uint32Array): void => {
      const r = (c.family === 4 ? v4 : v6).decide(w, c.prefix, mask, stopEarly);
      for (const o of r.owners) out.owners.add(o);
      if (r.uncovered) out.uncovered = true;
    };
    switch (t.kind) {
      case "domain":
      case "wildcard": {
        const m = names.decide(t, mask);
        if (m === INF) out.uncovered = true;
        else out.owners.add(m);
        return out;
      }
      case "cidr":
        for (const n of networksOf(t.cidr)) {
          addr(n, wordsOf(n));
          if (stopEarly && out.uncovered) return out;
        }
        return out;
      case "any": {
        const m = names.decide(t, mask);
        if (m === INF) {
          out.uncovered = true;
          if (stopEarly) return out;
        } else out.owners.add(m);
        for (const { c, w } of anyWords) {
          addr(c, w);
          if (stopEarly && out.uncovered) return out;
        }
        return out;
      }
      default: {
        const never: never = t;
        throw new Error(`unhandled target ${JSON.stringify(never)}`);
      }
    }
  };

  const insert = (t: Target, order: number, key: number): void => {
    switch (t.kind) {
      case "domain":
      case "wildcard":
        names.insert(t, order, key);
        return;
      case "cidr":
        for (const n of networksOf(t.cidr)) (n.family === 4 ? v4 : v6).insert(wordsOf(n), n.prefix, order, key);
        return;
      case "any":
        names.insert(t, order, key);
        for (const { c, w } of anyWords) (c.family === 4 ? v4 : v6).insert(w, c.prefix, order, key);
        return;
      default: {
        const never: never = t;
        throw new Error(`unhandled target ${JSON.stringify(never)}`);
      }
    }
  };

  const describeCells = (cs: readonly number[]): string => {
    if (cs.length === 0) return "";
    const set = new Set(cs);
    const perPhase: string[] = [];
    let everywhere = true;
    for (let ph = 0; ph < phases.length; ph++) {
      const parts: string[] = [];
      for (let p = 0; p < PROTOS.length; p++) {
        if (p === ICMP) {
          if (set.has(cellOf(p, ph, 0))) parts.push("icmp");
          else everywhere = false;
          continue;
        }
        const ranges: PortRange[] = [];
        for (let e = 0; e < nE; e++) {
          const el = elems[e];
          if (!el) continue;
          if (!set.has(cellOf(p, ph, e))) {
            everywhere = false;
            continue;
          }
          const last = ranges[ranges.length - 1];
          if (last && last.to + 1 === el.from) ranges[ranges.length - 1] = { from: last.from, to: el.to };
          else ranges.push({ ...el });
        }
        if (ranges.length === 0) continue;
        const all = ranges.length === 1 && ranges[0]?.from === 1 && ranges[0]?.to === 65535;
        parts.push(all ? `${PROTOS[p]} (every port)` : `${PROTOS[p]}/${ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(",")}`);
      }
      if (parts.length > 0) perPhase.push(phases.length > 1 ? `${parts.join(", ")} in phase ${phases[ph] ?? ""}` : parts.join(", "));
    }
    return everywhere ? "every port and protocol" : perPhase.join("; ");
  };

  /** the per-entry loop below, for names: the covering records are looked up once */
  const nameEntry = (dest: Dest, t: Target, groupList: ReadonlyArray<{ all: Uint8Array; same: Uint8Array; dns: boolean; http: boolean; cells: number[] }>): EntryResult => {
    const recs = names.covering(t);
    let dead = true;
    let decidesDns = false;
    let decidesHttp = false;
    const deciders = new Set<number>();
    const overriders = new Set<number>();
    const overriddenCells: number[] = [];
    for (const g of groupList) {
      const m = recs.length === 0 ? INF : NameIndex.firstOf(recs, g.all);
      if (m === INF) {
        dead = false;
        if (g.dns) decidesDns = true;
        if (g.http) decidesHttp = true;
        continue;
      }
      deciders.add(m);
      if (NameIndex.firstOf(recs, g.same) === INF) {
        overriders.add(m);
        overriddenCells.push(...g.cells);
      }
    }
    return { dest, dead, deciders, overriders, overriddenIn: describeCells(overriddenCells), decidesDns, decidesHttp };
  };

  const results: RuleResult[] = [];
  policy.rules.forEach((rule, ri) => {
    const cells = ruleCells[ri] ?? [];
    // group the rule's cells by the set of boxes that contain them (only earlier rules have
    // records yet, so the mask selects exactly the earlier rules that can match the cell)
    const groups = new Map<string, { all: Uint8Array; same: Uint8Array; dns: boolean; http: boolean; cells: number[] }>();
    for (const c of cells) {
      const bs = boxList.filter((b) => b.cells[c] === 1);
      const key = bs.map((b) => b.id).join(",");
      let g = groups.get(key);
      if (!g) {
        g = { all: maskOf(bs, ["allow", "deny"]), same: maskOf(bs, [rule.action]), dns: false, http: false, cells: [] };
        groups.set(key, g);
      }
      g.cells.push(c);
      if (dnsCells.has(c)) g.dns = true;
      if (httpCells.has(c)) g.http = true;
    }
    const entries: EntryResult[] = [];
    const groupList = [...groups.values()];
    for (const dest of rule.dests) {
      const t = targetOf(dest);
      if (t.kind === "domain" || t.kind === "wildcard") {
        entries.push(nameEntry(dest, t, groupList));
        continue;
      }
      let dead = true;
      let decidesDns = false;
      let decidesHttp = false;
      const deciders = new Set<number>();
      const overriders = new Set<number>();
      const overriddenCells: number[] = [];
      for (const g of groups.values()) {
        // owners are complete only when covered, which is when they are used
        const r = query(t, g.all, true);
        if (r.uncovered) {
          dead = false;
          if (g.dns) decidesDns = true;
          if (g.http) decidesHttp = true;
          continue;
        }
        for (const o of r.owners) deciders.add(o);
        if (query(t, g.same, true).uncovered) {
          // decided earlier here, and same-action rules alone would not: opposite rules take it
          for (const o of r.owners) overriders.add(o);
          overriddenCells.push(...g.cells);
        }
      }
      entries.push({ dest, dead, deciders, overriders, overriddenIn: describeCells(overriddenCells), decidesDns, decidesHttp });
    }
    results.push({ rule, noCells: cells.length === 0, dead: cells.length === 0 || entries.every((e) => e.dead), entries });
    const box = ruleBox[ri];
    if (cells.length > 0 && box) {
      const key = keyOf(box, rule.action);
      for (const dest of rule.dests) insert(targetOf(dest), rule.order, key);
    }
  });

  const decideAt = (target: Target, proto: (typeof PROTOS)[number], port: number | null, phase: string | null): Decided => {
    const p = PROTOS.indexOf(proto);
    const ph = phase === null ? 0 : Math.max(0, phases.indexOf(phase));
    const e = p === ICMP || port === null ? 0 : elemIndex(elems, port);
    const c = cellOf(p, ph, e);
    return query(target, maskOf(boxList.filter((b) => b.cells[c] === 1), ["allow", "deny"]), false);
  };

  return { phases, elems, rules: results, anyCidrs, decideAt };
}
