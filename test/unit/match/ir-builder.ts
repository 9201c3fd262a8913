/**
 * test/unit/match/ir-builder — build normalized `Policy` IR objects directly in tests,
 * without the YAML parser. Shared: any test may import it.
 *
 *   const p = policy({ default: "deny", internal: ["10.0.0.0/8"], rules: [
 *     allow("models", ["api.example.com", "*.inference.example.com", "203.0.113.0/24"], { ports: [443, "8000-8100"], protocol: "tcp" }),
 *     deny("metadata", ["169.254.169.254"], { mode: "monitor" }),
 *   ]});
 *
 * Entries: "any", "*.suffix" (wildcard), an address or CIDR (strict, via checkAddressEntry),
 * anything else is a domain (lowercased, trailing dot removed; no IDN conversion: write
 * punycode). Positions are fake but distinct: file "test.yaml", line = 10 + rule index.
 * Rules get `order` = their index; priority 100. The hash is a placeholder, not sha256.
 */
import { checkAddressEntry, parseCidr } from "../../../src/policy/addr.ts";
import type { Action, Cidr, Dest, Fqdn, Mode, Policy, PortRange, Protocol, Rule, SourcePos } from "../../../src/policy/ir.ts";

export interface RuleSpec {
  readonly name: string;
  readonly action: Action;
  readonly dests: readonly string[];
  /** numbers, "from-to" strings, or PortRange objects; omitted = all ports */
  readonly ports?: ReadonlyArray<number | string | PortRange>;
  readonly protocol?: Protocol;
  readonly phases?: readonly string[];
  /** per-rule override; omitted = the policy's mode */
  readonly mode?: Mode;
}

export interface PolicySpec {
  readonly name?: string;
  readonly mode?: Mode;
  readonly default?: Action;
  readonly internal?: readonly string[];
  readonly phases?: readonly string[];
  readonly rules: readonly RuleSpec[];
}

type RuleOpts = Omit<RuleSpec, "name" | "action" | "dests">;

export function allow(name: string, dests: readonly string[], opts: RuleOpts = {}): RuleSpec {
  return { name, action: "allow", dests, ...opts };
}
export function deny(name: string, dests: readonly string[], opts: RuleOpts = {}): RuleSpec {
  return { name, action: "deny", dests, ...opts };
}

export function cidr(text: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new Error(`ir-builder: bad CIDR '${text}'`);
  return c;
}

export function dest(text: string, pos: SourcePos): Dest {
  const origin = { via: "literal" } as const;
  if (text === "any") return { kind: "any", origin, pos };
  if (text.startsWith("*.")) return { kind: "wildcard", suffix: normName(text.slice(2)), origin, pos };
  const looksAddress = text.includes(":") || /^[0-9./]+$/.test(text);
  if (looksAddress) {
    const r = checkAddressEntry(text);
    if (!r.ok) throw new Error(`ir-builder: ${r.message}`);
    return { kind: "cidr", cidr: r.cidr, origin, pos };
  }
  return { kind: "domain", name: normName(text), origin, pos };
}

function normName(n: string): Fqdn {
  const lower = n.toLowerCase();
  return (lower.endsWith(".") ? lower.slice(0, -1) : lower) as Fqdn;
}

/** Sorted, merged port ranges, as the normalizer produces them. */
export function ports(spec: ReadonlyArray<number | string | PortRange>): PortRange[] {
  const raw = spec.map((p): PortRange => {
    if (typeof p === "number") return { from: p, to: p };
    if (typeof p === "string") {
      const [a, b] = p.split("-");
      return { from: Number(a), to: Number(b ?? a) };
    }
    return p;
  });
  raw.sort((x, y) => x.from - y.from);
  const out: PortRange[] = [];
  for (const r of raw) {
    const last = out[out.length - 1];
    if (last && r.from <= last.to + 1) out[out.length - 1] = { from: last.from, to: Math.max(last.to, r.to) };
    else out.push(r);
  }
  return out;
}

export function policy(spec: PolicySpec): Policy {
  const mode = spec.mode ?? "enforce";
  const rules: Rule[] = spec.rules.map((r, i): Rule => {
    const pos: SourcePos = { file: "test.yaml", line: 10 + i, column: 5 };
    return {
      name: r.name,
      action: r.action,
      priority: 100,
      order: i,
      dests: r.dests.map((d, j) => dest(d, { file: "test.yaml", line: 10 + i, column: 12 + j })),
      ports: r.ports ? ports(r.ports) : null,
      protocol: r.protocol ?? "any",
      phases: r.phases ?? null,
      mode: r.mode ?? mode,
      modeOverride: r.mode !== undefined,
      pos,
    };
  });
  return {
    version: 1,
    name: spec.name ?? "test",
    mode,
    default: spec.default ?? "deny",
    vars: {},
    workload: {},
    dns: { upstreams: null, minTtl: 5 },
    internal: (spec.internal ?? []).map(cidr),
    phases: spec.phases ?? [],
    groups: {},
    rules,
    sources: ["test.yaml"],
    hash: "0".repeat(64),
  };
}
