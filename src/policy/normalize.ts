/**
 * policy/normalize — structurally valid wire documents (the policy's own file and the files
 * it extends) to the IR (policy/ir.ts).
 *
 * Map: load.ts hands over the units in precedence order (own file first, then extends
 * depth-first); this file merges them, substitutes `${vars}` (policy/vars.ts), expands
 * groups and catalogs, parses names/addresses (policy/names.ts, policy/addr.ts) and ports
 * (policy/ports.ts), orders the rules and hashes the result (policy/hash.ts). It collects
 * every problem it can find and returns them; it never throws for bad input.
 *
 * Merge rules across extends (each setting from the first file in precedence order that
 * writes it; "own values win"):
 *  - `name`, `description`: the own file only;
 *  - `mode`, `default`, `phases`, `internal`, `dns.upstreams`, `dns.min_ttl`, and each of
 *    `workload.kubernetes` / `.aviatrix` / `.host` (as a whole): first file that writes it;
 *    so an extended file's `mode`/`default` never override what the own file wrote;
 *  - `vars`: per name, first file that defines it; then machine defaults (lowest) and
 *    `--var` overrides (highest) are applied around them. All strings of all files, and
 *    catalog entries, are substituted with this one merged set.
 *  - `groups`: one namespace; a name defined in several files must have the same content
 *    (else an error naming both places). A rule may use a group defined in any file.
 *  - `rules`: concatenated in precedence order, then stably sorted by priority (default
 *    100), so at equal priority the own file's rules come first; names unique overall.
 * Defaults: mode enforce, default deny, protocol any, min_ttl 5, DNS upstreams null
 * (system resolvers). Ports with protocol `any` apply to tcp and udp; icmp takes no ports.
 *
 * Pure: no I/O.
 */
import { checkAddressEntry, formatIp, parseIp } from "./addr.ts";
import { CATALOGS } from "./catalogs/index.ts";
import { diag, didYouMean, listNames, problem, type Checked, type Problem } from "./codes.ts";
import type { Diagnostic } from "./errors.ts";
import { canonicalJson, policyHash } from "./hash.ts";
import type { Action, Cidr, Dest, DnsSettings, EntryOrigin, Group, Mode, Policy, PortRange, Protocol, Rule, SourcePos, Upstream, Workload } from "./ir.ts";
import { parseDestEntry, type DestSpec } from "./names.ts";
import type { ParsedYaml, PathSeg } from "./parse.ts";
import { mergePortRanges, parsePortEntry } from "./ports.ts";
import { substitute } from "./vars.ts";
import type { GroupV1, PolicyDocV1, RuleV1 } from "./wire.ts";

/** One structurally valid file of the policy. */
export interface Unit {
  /** absolute path or `preset:NAME`: identity for cycles */
  readonly id: string;
  /** how positions name the file */
  readonly display: string;
  readonly doc: ParsedYaml;
  readonly wire: PolicyDocV1;
}

export const DEFAULT_PRIORITY = 100;

/** Names decisions and the kernel's packet log use for things that are not rules. */
export const RESERVED_RULE_NAMES: readonly string[] = ["default", "dns", "dns_upstreams", "host-side"];
const RESERVED_WHY: Readonly<Record<string, string>> = {
  default: "the policy's default",
  dns: "DNS sent anywhere but the configured upstreams",
  dns_upstreams: "DNS to the configured upstreams",
  "host-side": "traffic from a sandbox to its host",
};
export const DEFAULT_MIN_TTL = 5;

interface Ctx {
  readonly unit: Unit;
  pos(path: readonly PathSeg[]): SourcePos;
  /** substituted text, or null after reporting the problem at `path` */
  sub(text: string, path: readonly PathSeg[]): string | null;
}

type RuleDraft = Omit<Rule, "order">;

/**
 * What the loader knows beyond the IR, for lint: where policy-level settings were written
 * (the IR keeps positions for rules, entries and groups only) and which variables the
 * policy's files define and whether any string used them.
 */
export interface LoadInfo {
  readonly positions: {
    readonly mode?: SourcePos;
    readonly default?: SourcePos;
    /** one per `internal` entry, in IR order */
    readonly internal?: readonly SourcePos[];
    readonly upstreams?: SourcePos;
  };
  readonly vars: ReadonlyArray<{ readonly name: string; readonly pos: SourcePos; readonly used: boolean }>;
}
/** What a catalog entry may be: a name, a wildcard or an address/network. */
type LeafSpec = Extract<DestSpec, { readonly kind: "domain" | "wildcard" | "cidr" }>;

export function buildPolicy(
  units: readonly Unit[],
  opts: {
    readonly vars?: Readonly<Record<string, string>>;
    readonly overrides?: Readonly<Record<string, string>>;
    readonly resolveVar?: (name: string) => string | undefined;
  },
): {
  readonly policy: Policy | null;
  readonly info: LoadInfo | null;
  readonly diagnostics: readonly Diagnostic[];
} {
  const out: Diagnostic[] = [];
  const root = units[0];
  if (!root) return { policy: null, info: null, diagnostics: out };
  const report = (p: Problem, pos: SourcePos, data?: Readonly<Record<string, unknown>>): void => {
    out.push(diag(p.code, p.message, p.fix, pos, data));
  };

  // ---- vars: machine defaults < extended files < own file < overrides
  const fileVars = new Map<string, string>();
  for (const u of units) {
    for (const [k, v] of Object.entries(u.wire.vars ?? {})) if (!fileVars.has(k)) fileVars.set(k, String(v));
  }
  const vars: Record<string, string> = Object.fromEntries([...Object.entries(opts.vars ?? {}), ...fileVars, ...Object.entries(opts.overrides ?? {})]);
  const varNames = Object.keys(vars);
  // lazily resolved machine facts join `vars` the first time a string needs them
  const asked = new Set<string>();
  const usedVars = new Set<string>();
  const subst = (text: string) => {
    let r = substitute(text, vars);
    if (!r.ok && r.malformed === null && opts.resolveVar) {
      let added = false;
      for (const name of r.missing) {
        if (asked.has(name)) continue;
        asked.add(name);
        const v = opts.resolveVar(name);
        if (v !== undefined) {
          Object.defineProperty(vars, name, { value: v, enumerable: true, writable: true, configurable: true });
          added = true;
        }
      }
      if (added) r = substitute(text, vars);
    }
    if (r.ok) for (const n of r.used) usedVars.add(n);
    return r;
  };

  // `at` may be a function: the position is looked up only when there is a problem to report
  const reportSubst = (text: string, at: SourcePos | (() => SourcePos), context: string): string | null => {
    const r = subst(text);
    if (r.ok) return r.value;
    const pos = typeof at === "function" ? at() : at;
    if (r.malformed !== null) {
      out.push(
        diag("CF4002", `malformed variable reference '${r.malformed}'${context}`, "write `${name}` with a name of letters, digits and '_'; write `$${` for a literal `${`", pos, {
          text: r.malformed,
        }),
      );
      return null;
    }
    for (const name of r.missing) {
      const guess = didYouMean(name, varNames);
      out.push(
        diag(
          "CF4001",
          `undefined variable \`${name}\`${context}`,
          `${guess ? `did you mean \`${guess}\`? Or ` : ""}define it under \`vars:\` (\`${name}: VALUE\`) or pass \`--var ${name}=VALUE\``,
          pos,
          { variable: name, defined: varNames },
        ),
      );
    }
    return null;
  };

  const ctxOf = (unit: Unit): Ctx => ({
    unit,
    pos: (path) => unit.doc.posAt(path),
    sub: (text, path) => reportSubst(text, () => unit.doc.posAt(path), ""),
  });
  const ctxs = new Map(units.map((u) => [u, ctxOf(u)]));
  const ctx = (u: Unit): Ctx => ctxs.get(u) as Ctx;
  const firstWith = <T>(pick: (w: PolicyDocV1) => T | undefined): { unit: Unit; value: T } | null => {
    for (const u of units) {
      const v = pick(u.wire);
      if (v !== undefined) return { unit: u, value: v };
    }
    return null;
  };

  // ---- scalar settings
  const mode: Mode = firstWith((w) => w.mode)?.value ?? "enforce";
  const defaultAction: Action = firstWith((w) => w.default)?.value ?? "deny";
  const description = root.wire.description === undefined ? undefined : ctx(root).sub(root.wire.description, ["description"]);

  // ---- phases
  const phasesFrom = firstWith((w) => w.phases);
  const phases: string[] = [];
  if (phasesFrom) {
    phasesFrom.value.forEach((p, i) => {
      if (phases.includes(p)) {
        out.push(diag("CF3031", `phase \`${p}\` is declared twice`, "list each phase once, in the order they happen", ctx(phasesFrom.unit).pos(["phases", i])));
      } else phases.push(p);
    });
  }

  // ---- internal
  const internalFrom = firstWith((w) => w.internal);
  const internal: Cidr[] = [];
  const internalPos: SourcePos[] = [];
  if (internalFrom) {
    const c = ctx(internalFrom.unit);
    internalFrom.value.forEach((entry, i) => {
      const text = c.sub(entry, ["internal", i]);
      if (text === null) return;
      const a = checkAddressEntry(text);
      if (!a.ok) out.push(diag("CF3015", a.message, a.fix, c.pos(["internal", i])));
      else if (!internal.some((x) => x.text === a.cidr.text)) {
        internal.push(a.cidr);
        internalPos.push(c.pos(["internal", i]));
      }
    });
  }

  // ---- dns
  const upFrom = firstWith((w) => w.dns?.upstreams);
  let upstreams: Upstream[] | null = null;
  if (upFrom) {
    const c = ctx(upFrom.unit);
    upstreams = [];
    upFrom.value.forEach((entry, i) => {
      const text = c.sub(entry, ["dns", "upstreams", i]);
      if (text === null) return;
      const u = parseUpstream(text);
      if (!u.ok) report(u.problem, c.pos(["dns", "upstreams", i]));
      else upstreams?.push(u.value);
    });
  }
  const dns: DnsSettings = { upstreams, minTtl: firstWith((w) => w.dns?.min_ttl)?.value ?? DEFAULT_MIN_TTL };

  // ---- workload
  const workload = buildWorkload(units, ctx);

  // ---- groups
  const groups = new Map<string, { group: Group; unit: Unit }>();
  for (const u of units) {
    for (const [name, g] of Object.entries(u.wire.groups ?? {})) {
      const group = buildGroup(ctx(u), name, g, report);
      const seen = groups.get(name);
      if (!seen) {
        groups.set(name, { group, unit: u });
        continue;
      }
      const skip = new Set(["pos"]);
      if (canonicalJson({ d: seen.group.description, x: seen.group.dests }, skip) !== canonicalJson({ d: group.description, x: group.dests }, skip)) {
        out.push(
          diag(
            "CF4021",
            `group \`${name}\` is defined again with different content (first at ${seen.group.pos.file}:${seen.group.pos.line}:${seen.group.pos.column})`,
            "give one of the groups another name, or make both definitions the same",
            group.pos,
            { group: name, first: seen.group.pos },
          ),
        );
      }
    }
  }

  // ---- catalogs: expanded once per load (vars are the same everywhere)
  const catalogCache = new Map<string, { entries: Array<{ spec: LeafSpec; origin: EntryOrigin }>; problems: string[]; missing: string[] }>();
  const expandCatalog = (name: string) => {
    const cached = catalogCache.get(name);
    if (cached) return cached;
    const cat = Object.hasOwn(CATALOGS, name) ? CATALOGS[name] : undefined;
    if (!cat) return null;
    const res = { entries: [] as Array<{ spec: LeafSpec; origin: EntryOrigin }>, problems: [] as string[], missing: [] as string[] };
    for (const e of cat.entries) {
      const s = subst(e.dest);
      if (!s.ok) {
        for (const m of s.missing) if (!res.missing.includes(m)) res.missing.push(m);
        if (s.malformed !== null) res.problems.push(`entry '${e.dest}': malformed variable reference`);
        continue;
      }
      const p = parseDestEntry(s.value);
      if (!p.ok) res.problems.push(`entry '${s.value}': ${p.problem.message}`);
      else if (p.value.kind === "any" || p.value.kind === "group" || p.value.kind === "catalog") res.problems.push(`entry '${s.value}': a catalog lists names and addresses only`);
      else res.entries.push({ spec: p.value, origin: { via: "catalog", catalog: cat.name, version: cat.version, source: e.source } });
    }
    catalogCache.set(name, res);
    return res;
  };

  // ---- rules
  // A rule of the policy's own file replaces an extended file's rule of the same name (that is
  // how a preset's rule is tuned: same name, own ports or priority). Anywhere else a name used
  // twice is an error.
  const drafted: Array<{ rule: RuleDraft; unit: number }> = [];
  units.forEach((u, unitIndex) => {
    (u.wire.rules ?? []).forEach((r, i) => {
      const rule = buildRule(ctx(u), r, i, { mode, phases, groups, expandCatalog, report, out, reportSubst });
      if (rule) drafted.push({ rule, unit: unitIndex });
    });
  });
  const drafts: RuleDraft[] = [];
  const byName = new Map<string, { pos: SourcePos; unit: number }>();
  for (const { rule: r, unit } of drafted) {
    if (RESERVED_RULE_NAMES.includes(r.name)) {
      out.push(
        diag("CF4031", `rule name \`${r.name}\` is reserved: decisions and packet logs use it for ${RESERVED_WHY[r.name] ?? "clawfence itself"}`, `rename the rule, e.g. \`${r.name}-rule\``, r.pos, { rule: r.name }),
      );
      continue;
    }
    const first = byName.get(r.name);
    if (!first) {
      byName.set(r.name, { pos: r.pos, unit });
      drafts.push(r);
    } else if (first.unit === 0 && unit > 0) {
      // overridden by the own file: the extended rule is left out
    } else {
      out.push(
        diag("CF4030", `rule name \`${r.name}\` is used twice (first at ${first.pos.file}:${first.pos.line}:${first.pos.column})`, "rename one of the rules; names must be unique within a file and among extended files (only the policy's own file may reuse an extended rule's name, to replace that rule)", r.pos, {
          rule: r.name,
          first: first.pos,
        }),
      );
    }
  }

  if (out.length > 0) return { policy: null, info: null, diagnostics: out };

  const settingPos = (pick: (w: PolicyDocV1) => unknown, path: readonly PathSeg[]): SourcePos | undefined => {
    const from = firstWith(pick);
    return from ? from.unit.doc.posAt(path) : undefined;
  };
  const positions: LoadInfo["positions"] = {
    ...optional("mode", settingPos((w) => w.mode, ["mode"])),
    ...optional("default", settingPos((w) => w.default, ["default"])),
    ...(internalFrom ? { internal: internalPos } : {}),
    ...optional("upstreams", settingPos((w) => w.dns?.upstreams, ["dns", "upstreams"])),
  };
  const varUses: Array<{ name: string; pos: SourcePos; used: boolean }> = [];
  for (const u of units) {
    for (const name of Object.keys(u.wire.vars ?? {})) {
      if (varUses.some((v) => v.name === name)) continue;
      varUses.push({ name, pos: u.doc.posAt(["vars", name], { key: true }), used: usedVars.has(name) });
    }
  }

  const sorted = drafts.map((r, i) => ({ r, i })).sort((a, b) => a.r.priority - b.r.priority || a.i - b.i);
  const rules: Rule[] = sorted.map(({ r }, order) => ({ ...r, order }));
  const body: Omit<Policy, "hash"> = {
    version: 1,
    name: root.wire.name,
    ...(description === undefined || description === null ? {} : { description }),
    mode,
    default: defaultAction,
    vars,
    workload,
    dns,
    internal,
    phases,
    groups: Object.fromEntries([...groups].map(([n, g]) => [n, g.group])),
    rules,
    sources: units.map((u) => u.display),
  };
  return { policy: { ...body, hash: policyHash(body) }, info: { positions, vars: varUses }, diagnostics: out };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function buildWorkload(units: readonly Unit[], ctx: (u: Unit) => Ctx): Workload {
  const pick = <K extends keyof NonNullable<PolicyDocV1["workload"]>>(key: K) => {
    for (const u of units) {
      const v = u.wire.workload?.[key];
      if (v !== undefined) return { unit: u, value: v as NonNullable<NonNullable<PolicyDocV1["workload"]>[K]> };
    }
    return null;
  };
  const subMap = (c: Ctx, m: Readonly<Record<string, string>>, path: readonly PathSeg[]): Record<string, string> =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => [k, c.sub(v, [...path, k]) ?? v]));
  const out: { -readonly [K in keyof Workload]: Workload[K] } = {};
  const k8s = pick("kubernetes");
  if (k8s) {
    const c = ctx(k8s.unit);
    const ns = k8s.value.namespace;
    out.kubernetes = {
      ...(ns === undefined ? {} : { namespace: c.sub(ns, ["workload", "kubernetes", "namespace"]) ?? ns }),
      ...(k8s.value.podLabels === undefined ? {} : { podLabels: subMap(c, k8s.value.podLabels, ["workload", "kubernetes", "podLabels"]) }),
    };
  }
  const avx = pick("aviatrix");
  if (avx) {
    const c = ctx(avx.unit);
    out.aviatrix = avx.value.tags === undefined ? {} : { tags: subMap(c, avx.value.tags, ["workload", "aviatrix", "tags"]) };
  }
  const host = pick("host");
  if (host) {
    const c = ctx(host.unit);
    out.host = host.value.users === undefined ? {} : { users: host.value.users.map((u, i) => c.sub(u, ["workload", "host", "users", i]) ?? u) };
  }
  return out;
}

function buildGroup(c: Ctx, name: string, g: GroupV1, report: (p: Problem, pos: SourcePos) => void): Group {
  const dests: Dest[] = [];
  const origin: EntryOrigin = { via: "group", group: name };
  const take = (list: readonly string[] | undefined, key: "domains" | "cidrs"): void => {
    (list ?? []).forEach((entry, i) => {
      const path = ["groups", name, key, i];
      const text = c.sub(entry, path);
      if (text === null) return;
      const pos = c.pos(path);
      const p = parseDestEntry(text);
      if (!p.ok) return report(p.problem, pos);
      const spec = p.value;
      switch (spec.kind) {
        case "domain":
        case "wildcard":
          if (key === "cidrs") return report({ code: "CF3017", message: `'${text}' is a name, listed under \`cidrs:\``, fix: "move it to `domains:`" }, pos);
          dests.push(spec.kind === "domain" ? { kind: "domain", name: spec.name, origin, pos } : { kind: "wildcard", suffix: spec.suffix, origin, pos });
          return;
        case "cidr":
          if (key === "domains") return report({ code: "CF3017", message: `'${text}' is an address, listed under \`domains:\``, fix: "move it to `cidrs:`" }, pos);
          dests.push({ kind: "cidr", cidr: spec.cidr, origin, pos });
          return;
        case "any":
        case "group":
        case "catalog":
          return report(
            { code: "CF3017", message: `'${text}' cannot be part of a group; groups hold names and addresses`, fix: "reference it directly in the rule's `allow:`/`deny:` list" },
            pos,
          );
        default: {
          const never: never = spec;
          return never;
        }
      }
    });
  };
  take(g.domains, "domains");
  take(g.cidrs, "cidrs");
  const description = g.description === undefined ? undefined : c.sub(g.description, ["groups", name, "description"]);
  return { name, ...(description === undefined || description === null ? {} : { description }), dests, pos: c.unit.doc.posAt(["groups", name], { key: true }) };
}

interface RuleEnv {
  readonly mode: Mode;
  readonly phases: readonly string[];
  readonly groups: ReadonlyMap<string, { group: Group }>;
  readonly expandCatalog: (name: string) => { entries: ReadonlyArray<{ spec: LeafSpec; origin: EntryOrigin }>; problems: readonly string[]; missing: readonly string[] } | null;
  readonly report: (p: Problem, pos: SourcePos, data?: Readonly<Record<string, unknown>>) => void;
  readonly out: Diagnostic[];
  readonly reportSubst: (text: string, at: SourcePos | (() => SourcePos), context: string) => string | null;
}

function buildRule(c: Ctx, r: RuleV1, i: number, env: RuleEnv): RuleDraft | null {
  const base = ["rules", i] as const;
  const action: Action = r.allow !== undefined ? "allow" : "deny";
  const entries = r.allow ?? r.deny ?? [];
  let ok = true;
  const dests: Dest[] = [];
  entries.forEach((entry, k) => {
    const path = [...base, action, k];
    const pos = c.pos(path);
    const text = c.sub(entry, path);
    if (text === null) {
      ok = false;
      return;
    }
    const p = parseDestEntry(text);
    if (!p.ok) {
      ok = false;
      env.report(p.problem, pos, { rule: r.name, entry: text });
      return;
    }
    const spec = p.value;
    const literal: EntryOrigin = { via: "literal" };
    switch (spec.kind) {
      case "any":
        dests.push({ kind: "any", origin: literal, pos });
        return;
      case "domain":
        dests.push({ kind: "domain", name: spec.name, origin: literal, pos });
        return;
      case "wildcard":
        dests.push({ kind: "wildcard", suffix: spec.suffix, origin: literal, pos });
        return;
      case "cidr":
        dests.push({ kind: "cidr", cidr: spec.cidr, origin: literal, pos });
        return;
      case "group": {
        const g = env.groups.get(spec.name);
        if (!g) {
          ok = false;
          const known = [...env.groups.keys()];
          const guess = didYouMean(spec.name, known);
          env.out.push(
            diag(
              "CF4020",
              `unknown group \`${spec.name}\``,
              `${guess ? `did you mean \`group:${guess}\`? ` : ""}${known.length ? `defined groups: ${listNames(known)}` : "define it under `groups:` (with `domains:` and/or `cidrs:`)"}`,
              pos,
              { group: spec.name, known },
            ),
          );
          return;
        }
        for (const d of g.group.dests) dests.push(d);
        return;
      }
      case "catalog": {
        const cat = env.expandCatalog(spec.name);
        if (!cat) {
          ok = false;
          const known = Object.keys(CATALOGS);
          const guess = didYouMean(spec.name, known);
          env.out.push(diag("CF4022", `unknown catalog \`${spec.name}\``, `${guess ? `did you mean \`catalog:${guess}\`? ` : ""}built-in catalogs: ${listNames(known)}`, pos, { catalog: spec.name, known }));
          return;
        }
        for (const m of cat.missing) {
          ok = false;
          env.out.push(
            diag("CF4001", `undefined variable \`${m}\`, used by catalog \`${spec.name}\``, `define it under \`vars:\` (\`${m}: VALUE\`) or pass \`--var ${m}=VALUE\``, pos, {
              variable: m,
              catalog: spec.name,
            }),
          );
        }
        for (const msg of cat.problems) {
          ok = false;
          env.out.push(diag("CF9001", `built-in catalog \`${spec.name}\`: ${msg}`, "this is a bug in clawfence's catalog; report it", pos, { catalog: spec.name }));
        }
        for (const e of cat.entries) dests.push(specToDest(e.spec, e.origin, pos));
        return;
      }
      default: {
        const never: never = spec;
        return never;
      }
    }
  });

  const protocol: Protocol = r.protocol ?? "any";
  let ports: PortRange[] | null = null;
  if (r.ports !== undefined) {
    if (protocol === "icmp") {
      ok = false;
      env.report(problem("CF3023", "an icmp rule cannot have ports", "remove `ports:`, or use `protocol: tcp`/`udp`").problem, c.pos([...base, "ports"]), { rule: r.name });
    }
    const ranges: PortRange[] = [];
    r.ports.forEach((entry, k) => {
      const path = [...base, "ports", k];
      let value: number | string = entry;
      if (typeof entry === "string") {
        const t = c.sub(entry, path);
        if (t === null) {
          ok = false;
          return;
        }
        value = t;
      }
      const p = parsePortEntry(value);
      if (!p.ok) {
        ok = false;
        env.report(p.problem, c.pos(path), { rule: r.name });
      } else ranges.push(p.value);
    });
    ports = mergePortRanges(ranges);
  }

  let rulePhases: string[] | null = null;
  if (r.phase !== undefined) {
    const list = typeof r.phase === "string" ? [r.phase] : r.phase;
    list.forEach((ph, k) => {
      if (!env.phases.includes(ph)) {
        ok = false;
        const path = typeof r.phase === "string" ? [...base, "phase"] : [...base, "phase", k];
        const guess = didYouMean(ph, env.phases);
        env.out.push(
          diag(
            "CF4040",
            `rule \`${r.name}\` uses phase \`${ph}\`, which is not declared in \`phases\``,
            env.phases.length === 0
              ? `declare the phases at the top level, e.g. \`phases: [${ph}, workload]\``
              : `${guess ? `did you mean \`${guess}\`? ` : ""}declared phases: ${listNames(env.phases)}; add \`${ph}\` to \`phases:\` or use one of them`,
            c.pos(path),
            { rule: r.name, phase: ph, declared: env.phases },
          ),
        );
      }
    });
    // declared order, each once
    rulePhases = env.phases.filter((p) => list.includes(p));
  }

  let description: string | undefined;
  if (r.description !== undefined) {
    const d = c.sub(r.description, [...base, "description"]);
    if (d === null) ok = false;
    else description = d;
  }
  if (!ok) return null;
  return {
    name: r.name,
    action,
    ...(description === undefined ? {} : { description }),
    priority: r.priority ?? DEFAULT_PRIORITY,
    dests,
    ports,
    protocol,
    phases: rulePhases,
    mode: r.mode ?? env.mode,
    modeOverride: r.mode !== undefined,
    pos: c.pos(base),
  };
}

function specToDest(spec: LeafSpec, origin: EntryOrigin, pos: SourcePos): Dest {
  switch (spec.kind) {
    case "domain":
      return { kind: "domain", name: spec.name, origin, pos };
    case "wildcard":
      return { kind: "wildcard", suffix: spec.suffix, origin, pos };
    case "cidr":
      return { kind: "cidr", cidr: spec.cidr, origin, pos };
    default: {
      const never: never = spec;
      return never;
    }
  }
}

/** "10.0.0.2", "10.0.0.3:5353", "[2001:db8::1]:53", "2001:db8::1"; port 53 when omitted. */
export function parseUpstream(text: string): Checked<Upstream> {
  let host = text;
  let portText: string | null = null;
  const bracket = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracket) {
    host = bracket[1] ?? "";
    portText = bracket[2] ?? null;
  } else {
    const colons = text.split(":").length - 1;
    if (colons === 1) {
      host = text.slice(0, text.indexOf(":"));
      portText = text.slice(text.indexOf(":") + 1);
    }
  }
  const example = 'write an address with an optional port: "10.0.0.2", "10.0.0.3:5353", "[2001:db8::1]:53"';
  if (host.includes("/")) return problem("CF3030", `'${text}': a DNS upstream is one address, not a network`, example);
  const ip = parseIp(host);
  if (!ip) {
    if (/[a-z]/i.test(host) && !host.includes(":") && !/^[0-9a-fx.]+$/i.test(host)) {
      return problem("CF3030", `'${text}': a DNS upstream must be an IP address (a name would need a resolver to find the resolver)`, example);
    }
    const a = checkAddressEntry(host);
    return problem("CF3030", a.ok ? `'${text}' is not a DNS upstream` : `DNS upstream: ${a.message}`, a.ok ? example : a.fix);
  }
  let port = 53;
  if (portText !== null) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return problem("CF3030", `'${text}': the port must be a number 1..65535`, example);
    }
    port = Number(portText);
  }
  return { ok: true, value: { address: formatIp(ip), family: ip.family, port } };
}
