/**
 * lint/order — findings about rule order: rules that never decide anything (CF5001), denies
 * overridden by earlier allows (CF5002), allows overridden by earlier denies (CF5003), and
 * allow/deny overlaps where the later rule still decides something (CF5004). A later `any`
 * entry is not reported as an overlap (a catch-all after exceptions is the normal shape);
 * an earlier `any` is (an exception written after a catch-all never applies to part of it).
 *
 * Map: reads the per-entry results of lint/space.ts (exact coverage by the union of earlier
 * rules); CF5004 adds a pairwise overlap index over names (exact, wildcard subtrees) and
 * CIDRs (containment), restricted to rules whose protocols, ports and phases intersect.
 * Pure: no I/O.
 */
import type { Diagnostic } from "../policy/errors.ts";
import type { Dest, PortRange, Rule } from "../policy/ir.ts";
import { cidrContains } from "../policy/addr.ts";
import { destLabel, destText, finding, listSome, ruleByOrder, ruleRef, whyFirst, type LintContext } from "./context.ts";
import type { EntryResult, RuleResult } from "./space.ts";

export function checkOrder(ctx: LintContext): Diagnostic[] {
  return [...unreachable(ctx), ...overridden(ctx), ...overlaps(ctx)];
}

function unreachable(ctx: LintContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const rr of ctx.space.rules) {
    if (!rr.dead) continue;
    const r = rr.rule;
    if (r.dests.length === 0) {
      out.push(finding("CF5001", `rule '${r.name}' has no destinations, so it never decides anything`, `give rule '${r.name}' destinations or remove it`, r.pos, { rule: r.name, coveredBy: [] }));
      continue;
    }
    if (rr.noCells) {
      out.push(
        finding("CF5001", `rule '${r.name}' matches no flow (protocol ${r.protocol} with these ports/phases), so it never decides anything`, `fix its protocol, ports or phase, or remove it`, r.pos, {
          rule: r.name,
          coveredBy: [],
        }),
      );
      continue;
    }
    const by = [...new Set(rr.entries.flatMap((e) => [...e.deciders]))].sort((a, b) => a - b).map((o) => ruleByOrder(ctx.policy, o));
    const minPrio = Math.min(...by.map((b) => b.priority));
    out.push(
      finding(
        "CF5001",
        `rule '${r.name}' never decides anything: every flow it matches is decided first by ${listSome(by.map(ruleRef), 5)}`,
        `remove rule '${r.name}', or give it a priority below ${minPrio} if it was meant to decide these flows`,
        r.pos,
        { rule: r.name, coveredBy: by.map((b) => b.name) },
      ),
    );
  }
  return out;
}

/**
 * An allow that wins over a deny is a leak: reported (CF5002) wherever it takes all of a deny
 * entry in some protocol/port/phase. A deny that wins over an allow fails closed: reported
 * (CF5003) only when the allow entry never applies anywhere (seed 003's "approved and denied"
 * guardrail); a port-level carve-out (deny 53 everywhere, allow a host) is CF5004's. A later
 * `any` is a catch-all and never reported here.
 */
function isReportedOverride(ctx: LintContext, r: Rule, e: EntryResult): boolean {
  if (e.dest.kind === "any") return false;
  if (![...e.overriders].some((o) => ruleByOrder(ctx.policy, o).action !== r.action)) return false;
  return r.action === "deny" || e.dead;
}

function overridden(ctx: LintContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const rr of ctx.space.rules) {
    const r = rr.rule;
    // by the earlier opposite-action rule that takes the entries
    const byRule = new Map<number, Array<{ dest: Dest; where: string }>>();
    for (const e of rr.entries) {
      if (!isReportedOverride(ctx, r, e)) continue;
      const opp = [...e.overriders].filter((o) => ruleByOrder(ctx.policy, o).action !== r.action);
      const o = Math.min(...opp);
      const list = byRule.get(o) ?? [];
      list.push({ dest: e.dest, where: e.overriddenIn });
      byRule.set(o, list);
    }
    for (const [o, items] of [...byRule].sort((a, b) => a[0] - b[0])) {
      const a = ruleByOrder(ctx.policy, o);
      const first = items[0];
      if (!first) continue;
      const one = items.length === 1;
      const names = listSome(items.map((i) => destLabel(i.dest)));
      const wheres = [...new Set(items.map((i) => i.where))];
      const on = wheres.length === 1 && wheres[0] === "every port and protocol" ? "" : ` on ${wheres.join(" / ")}`;
      const data = { rule: r.name, winner: a.name, entries: items.map((i) => destText(i.dest)), where: wheres };
      if (r.action === "deny") {
        out.push(
          finding(
            "CF5002",
            `deny rule '${r.name}' never applies to ${names}${on}: allow rule ${ruleRef(a)} matches ${one ? "it" : "them"} first because ${whyFirst(a, r)}, so this traffic is allowed`,
            `give '${r.name}' a priority below ${a.priority} so the deny comes first, or remove ${one ? "the destination" : "these destinations"} from '${a.name}'`,
            first.dest.pos,
            data,
          ),
        );
      } else {
        out.push(
          finding(
            "CF5003",
            `${names} ${one ? "is" : "are"} allowed by '${r.name}' and denied by ${ruleRef(a)}${on}; the deny wins because ${whyFirst(a, r)}, so the allow never applies there`,
            `decide which list ${one ? "it belongs" : "they belong"} to: remove ${one ? "it" : "them"} from '${r.name}', or from the deny rule '${a.name}'`,
            first.dest.pos,
            data,
          ),
        );
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- CF5004 overlaps

interface Indexed {
  readonly rr: RuleResult;
  readonly dest: Dest;
  readonly entry: EntryResult;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

function portsIntersect(a: readonly PortRange[] | null, b: readonly PortRange[] | null): boolean {
  if (a === null || b === null) return true;
  return a.some((x) => b.some((y) => x.from <= y.to && y.from <= x.to));
}

export function boxesIntersect(a: Rule, b: Rule): boolean {
  if (a.protocol !== "any" && b.protocol !== "any" && a.protocol !== b.protocol) return false;
  if (a.phases !== null && b.phases !== null && !a.phases.some((p) => b.phases?.includes(p))) return false;
  const icmpOnly = (r: Rule): boolean => r.protocol === "icmp";
  if ((icmpOnly(a) && b.ports !== null) || (icmpOnly(b) && a.ports !== null)) return false;
  return portsIntersect(a.ports, b.ports);
}

function overlaps(ctx: LintContext): Diagnostic[] {
  const hasBoth = ctx.policy.rules.some((r) => r.action === "allow") && ctx.policy.rules.some((r) => r.action === "deny");
  if (!hasBoth) return [];
  // Names and networks either nest or are disjoint, so every overlap is found from its
  // narrower side: for each entry, look up the entries that contain it.
  const exact = new Map<string, Indexed[]>();
  const wild = new Map<string, Indexed[]>();
  const nets = new Map<string | number, Indexed[]>();
  const netPrefixes = { 4: new Set<number>(), 6: new Set<number>() };
  const anys: Indexed[] = [];
  // IPv4 keys are numbers (prefix * 2^32 + network bits): no bigint or string work per lookup
  const netKey = (family: 4 | 6, addr: bigint, prefix: number): string | number =>
    family === 4 ? prefix * 4294967296 + (prefix === 0 ? 0 : Number(addr) >>> (32 - prefix)) : `${prefix}/${(addr >> BigInt(128 - prefix)).toString(16)}`;
  for (const rr of ctx.space.rules) {
    for (const e of rr.entries) {
      if (e.dead) continue;
      const it = { rr, dest: e.dest, entry: e };
      const d = e.dest;
      if (d.kind === "domain") push(exact, d.name, it);
      else if (d.kind === "wildcard") push(wild, d.suffix, it);
      else if (d.kind === "cidr") {
        push(nets, netKey(d.cidr.family, d.cidr.addr, d.cidr.prefix), it);
        netPrefixes[d.cidr.family].add(d.cidr.prefix);
      } else anys.push(it);
    }
  }
  const prefixes = { 4: [...netPrefixes[4]].sort((x, y) => x - y), 6: [...netPrefixes[6]].sort((x, y) => x - y) };

  /** entries containing `d` (itself included when indexed) */
  const containers = (d: Dest, visit: (c: Indexed) => void): void => {
    const each = (l: readonly Indexed[] | undefined): void => {
      if (l) for (const c of l) visit(c);
    };
    switch (d.kind) {
      case "any":
        return;
      case "domain":
      case "wildcard": {
        const name = d.kind === "domain" ? d.name : d.suffix;
        each(anys);
        each(d.kind === "domain" ? exact.get(name) : wild.get(name));
        for (let i = name.indexOf("."); i !== -1; i = name.indexOf(".", i + 1)) each(wild.get(name.slice(i + 1)));
        return;
      }
      case "cidr": {
        const c0 = d.cidr;
        if (anys.length > 0 && ctx.space.anyCidrs.some((a) => a.family === c0.family && (cidrContains(a, c0) || cidrContains(c0, a)))) each(anys);
        if (c0.family === 4) {
          // netKey for IPv4, with the address converted once
          const a = Number(c0.addr);
          for (const p of prefixes[4]) {
            if (p > c0.prefix) break;
            each(nets.get(p * 4294967296 + (p === 0 ? 0 : a >>> (32 - p))));
          }
          return;
        }
        for (const p of prefixes[6]) {
          if (p > c0.prefix) break;
          each(nets.get(netKey(6, c0.addr, p)));
        }
        return;
      }
      default: {
        const never: never = d;
        throw new Error(`unhandled dest ${JSON.stringify(never)}`);
      }
    }
  };

  /** `mine`: the later rule's entry, `theirs`: the earlier rule's, `overlap`: the narrower of the two */
  const pairs = new Map<string, { a: Rule; b: Rule; items: Array<{ mine: Dest; theirs: Dest; overlap: Dest }> }>();
  const reported = (rr: RuleResult, e: EntryResult): boolean => e.dead || isReportedOverride(ctx, rr.rule, e);
  const add = (a: Rule, b: Rule, mine: Dest, theirs: Dest, overlap: Dest): void => {
    const key = `${a.order}:${b.order}`;
    let p = pairs.get(key);
    if (!p) pairs.set(key, (p = { a, b, items: [] }));
    p.items.push({ mine, theirs, overlap });
  };
  for (const rr of ctx.space.rules) {
    for (const e of rr.entries) {
      if (e.dead) continue;
      const inner = rr.rule;
      containers(e.dest, (c) => {
        const outer = c.rr.rule;
        if (outer.order === inner.order || outer.action === inner.action || !boxesIntersect(outer, inner)) return;
        const equal = destText(c.dest) === destText(e.dest);
        if (outer.order < inner.order) {
          // the contained entry is the later one (B): skip when CF5001-CF5003 report it
          if (!reported(rr, e)) add(outer, inner, e.dest, c.dest, e.dest);
        } else if (!equal && c.dest.kind !== "any") {
          // the containing entry is the later one (B); equal pairs are found from the other side
          if (!reported(c.rr, c.entry)) add(inner, outer, c.dest, e.dest, e.dest);
        }
      });
    }
  }
  const out: Diagnostic[] = [];
  for (const { a, b, items } of pairs.values()) {
    const first = items[0];
    if (!first) continue;
    const shown = [...new Set(items.map((i) => destText(i.overlap)))];
    out.push(
      finding(
        "CF5004",
        `${listSome(shown)}: matched by ${b.action} rule '${b.name}' and by ${a.action} rule ${ruleRef(a)}; '${a.name}' wins (${a.action}) because ${whyFirst(a, b)}`,
        `if '${b.name}' should decide ${shown.length === 1 ? "it" : "them"}, give it a priority below ${a.priority}; otherwise nothing to change`,
        first.mine.pos,
        { rule: b.name, winner: a.name, entries: items.map((i) => ({ entry: destText(i.mine), overlaps: destText(i.theirs) })) },
      ),
    );
  }
  return out;
}
