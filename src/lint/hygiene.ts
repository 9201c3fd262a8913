/**
 * lint/hygiene — findings that keep a policy readable and honest: unused groups (CF5040)
 * and variables (CF5041), duplicate or overlapping entries within one rule (CF5042),
 * monitor mode (CF5043, info) and `default: allow` (CF5044).
 *
 * Undefined variables and undeclared phases are refused by the loader (CF4001, CF4040), so
 * they never reach lint. Pure: no I/O.
 */
import type { Diagnostic } from "../policy/errors.ts";
import type { Dest } from "../policy/ir.ts";
import { cidrContains } from "../policy/addr.ts";
import { destLabel, destText, finding, type LintContext } from "./context.ts";

export function checkHygiene(ctx: LintContext): Diagnostic[] {
  return [...unusedGroups(ctx), ...unusedVars(ctx), ...duplicates(ctx), ...modes(ctx)];
}

function unusedGroups(ctx: LintContext): Diagnostic[] {
  const used = new Set<string>();
  for (const r of ctx.policy.rules) for (const d of r.dests) if (d.origin.via === "group") used.add(d.origin.group);
  const out: Diagnostic[] = [];
  for (const g of Object.values(ctx.policy.groups)) {
    // a preset's groups are the preset's business; files the user wrote are reported
    if (used.has(g.name) || g.pos.file.startsWith("preset:")) continue;
    out.push(finding("CF5040", `group '${g.name}' is defined but no rule uses it`, `remove group '${g.name}', or add group:${g.name} to the rule it was meant for`, g.pos, { group: g.name }));
  }
  return out;
}

function unusedVars(ctx: LintContext): Diagnostic[] {
  return (ctx.opts.vars ?? [])
    .filter((v) => !v.used && !v.pos.file.startsWith("preset:"))
    .map((v) => finding("CF5041", `variable '${v.name}' is defined but nothing uses \${${v.name}}`, `remove variable '${v.name}', or use \${${v.name}} where it was meant to go`, v.pos, { variable: v.name }));
}

/** true when every flow `inner` matches is matched by `outer` (destinations only) */
export function destCovers(outer: Dest, inner: Dest): boolean {
  switch (outer.kind) {
    case "any":
      return inner.kind !== "cidr"; // a literal CIDR may name special-purpose addresses `any` never matches
    case "domain":
      return inner.kind === "domain" && inner.name === outer.name;
    case "wildcard": {
      const s = outer.suffix;
      const below = (n: string): boolean => n.length > s.length && n.endsWith(`.${s}`);
      return (inner.kind === "domain" && below(inner.name)) || (inner.kind === "wildcard" && (inner.suffix === s || below(inner.suffix)));
    }
    case "cidr":
      return inner.kind === "cidr" && cidrContains(outer.cidr, inner.cidr);
    default: {
      const never: never = outer;
      throw new Error(`unhandled dest ${JSON.stringify(never)}`);
    }
  }
}

function sameCatalog(a: Dest, b: Dest): boolean {
  return a.origin.via === "catalog" && b.origin.via === "catalog" && a.origin.catalog === b.origin.catalog;
}

function duplicates(ctx: LintContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const r of ctx.policy.rules) {
    const exact = new Map<string, Dest>();
    const wild = new Map<string, Dest>();
    let any: Dest | undefined;
    const nets: Dest[] = [];
    for (const d of r.dests) {
      if (d.kind === "any") any ??= d;
      else if (d.kind === "domain" && !exact.has(d.name)) exact.set(d.name, d);
      else if (d.kind === "wildcard" && !wild.has(d.suffix)) wild.set(d.suffix, d);
      else if (d.kind === "cidr") nets.push(d);
    }
    // sorted by family, address, then shorter prefix first: a container precedes what it contains
    nets.sort((a, b) => {
      if (a.kind !== "cidr" || b.kind !== "cidr") return 0;
      return a.cidr.family - b.cidr.family || (a.cidr.addr < b.cidr.addr ? -1 : a.cidr.addr > b.cidr.addr ? 1 : a.cidr.prefix - b.cidr.prefix);
    });
    const containerOfNet = new Map<Dest, Dest>();
    let open: Dest[] = [];
    for (const n of nets) {
      open = open.filter((o) => destCovers(o, n));
      const c = open[0];
      if (c) containerOfNet.set(n, c);
      open.push(n);
    }
    const parentsOf = (name: string): string[] => {
      const ps: string[] = [];
      for (let i = name.indexOf("."); i !== -1; i = name.indexOf(".", i + 1)) ps.push(name.slice(i + 1));
      return ps;
    };
    const coverOf = (d: Dest): Dest | undefined => {
      switch (d.kind) {
        case "any":
          return any !== d ? any : undefined;
        case "domain": {
          const e = exact.get(d.name);
          if (e && e !== d) return e;
          for (const p of parentsOf(d.name)) {
            const w = wild.get(p);
            if (w) return w;
          }
          return any;
        }
        case "wildcard": {
          const e = wild.get(d.suffix);
          if (e && e !== d) return e;
          for (const p of parentsOf(d.suffix)) {
            const w = wild.get(p);
            if (w) return w;
          }
          return any;
        }
        case "cidr":
          return containerOfNet.get(d);
        default: {
          const never: never = d;
          throw new Error(`unhandled dest ${JSON.stringify(never)}`);
        }
      }
    };
    for (const d of r.dests) {
      const c = coverOf(d);
      if (!c || sameCatalog(c, d)) continue;
      const dup = destText(c) === destText(d);
      out.push(
        finding(
          "CF5042",
          dup
            ? `rule '${r.name}' lists ${destLabel(d)} twice (also ${destLabel(c)} at line ${c.pos.line})`
            : `in rule '${r.name}', ${destLabel(d)} is already covered by ${destLabel(c)} (line ${c.pos.line})`,
          dup ? `remove one of the two ${destText(d)} entries` : `remove ${destText(d)}, or replace ${destText(c)} with the narrower entries you mean`,
          d.pos,
          { rule: r.name, entry: destText(d), coveredBy: destText(c) },
        ),
      );
    }
  }
  return out;
}

function modes(ctx: LintContext): Diagnostic[] {
  const p = ctx.policy;
  const out: Diagnostic[] = [];
  if (p.mode === "monitor") {
    out.push(
      finding("CF5043", `policy '${p.name}' is in monitor mode: denied flows are logged as 'would deny' and nothing is blocked`, "set `mode: enforce` once the flow log shows no legitimate denies", ctx.opts.positions?.mode ?? ctx.top, {
        mode: "monitor",
      }),
    );
  } else {
    for (const r of p.rules) {
      if (r.modeOverride && r.mode === "monitor" && r.action === "deny") {
        out.push(finding("CF5043", `deny rule '${r.name}' is in monitor mode: what it matches is logged as 'would deny' and allowed`, `remove \`mode: monitor\` from '${r.name}' once the flow log shows no legitimate denies`, r.pos, { rule: r.name, mode: "monitor" }));
      }
    }
  }
  if (p.default === "allow") {
    out.push(
      finding("CF5044", `policy '${p.name}' has \`default: allow\`: every destination no rule names is allowed`, "set `default: deny` and allow what the agent needs", ctx.opts.positions?.default ?? ctx.top, { default: "allow" }),
    );
  }
  return out;
}
