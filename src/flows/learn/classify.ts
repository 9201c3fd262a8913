/**
 * flows/learn/classify — destinations `learn` must never turn into allow rules, and the
 * places a wildcard must never cover.
 *
 * Map: `createClassifier(load)` builds, once per learn run, a small reference policy out of the
 * built-in catalogs `shadow-model-providers`, `doh-resolvers` and `paste-sites` (one deny rule
 * each, default allow) with the real policy loader, and asks `compileDecider(...).decide()`
 * which of those rules a name or an address hits. So catalog entries match with exactly the
 * policy's semantics (exact names, `*.` wildcards, addresses, CIDRs); nothing here
 * re-implements matching. The `shared-hosting` catalog is a reference catalog (`*.x` there
 * means x and every name below it, and many x are private public suffixes a rule cannot
 * name), so it is read as data: `wildcardConflict` says whether a proposed `*.suffix` would
 * cover one of its entries (or an entry of the never-allow catalogs), with match/names'
 * `wildcardMatches`, the same test lint/exposure uses for CF5022.
 *
 * Pure: the loader is injected (it is pure itself, but needs a `read` for extends).
 */
import { compileDecider, type Decider } from "../../match/decide.ts";
import { wildcardMatches } from "../../match/names.ts";
import type { IpAddr } from "../../match/decision.ts";
import { CATALOGS } from "../../policy/catalogs/index.ts";
import type { Policy } from "../../policy/ir.ts";

/** Why a destination is reported instead of added. */
export type NeverAllow = "shadow-model-provider" | "doh-resolver" | "paste-site";

/** Catalog behind each never-allow category (the reference policy's rule names are the categories). */
export const NEVER_ALLOW_CATALOGS: Readonly<Record<NeverAllow, string>> = {
  "shadow-model-provider": "shadow-model-providers",
  "doh-resolver": "doh-resolvers",
  "paste-site": "paste-sites",
};

const CATEGORIES = Object.keys(NEVER_ALLOW_CATALOGS) as NeverAllow[];

export interface CatalogHit {
  readonly category: NeverAllow;
  readonly catalog: string;
  readonly version: string;
}

export interface Classifier {
  /** the never-allow catalog a name is in, or null */
  name(name: string): CatalogHit | null;
  /** the never-allow catalog an address is in, or null */
  address(ip: IpAddr): CatalogHit | null;
  /** the shared-hosting entry a name falls under (anyone can publish there), or null */
  sharedHosting(name: string): string | null;
  /** a catalog entry `*.suffix` would cover (shared hosting or never-allow), or null */
  wildcardConflict(suffix: string): { readonly catalog: string; readonly entry: string } | null;
}

/** The reference policy: one deny rule per never-allow catalog, default allow. */
export function referencePolicyText(): string {
  const rules = CATEGORIES.map((c) => `  - name: ${c}\n    deny: [catalog:${NEVER_ALLOW_CATALOGS[c]}]\n`).join("");
  return `version: 1\nname: learn-never-allow\ndefault: allow\nrules:\n${rules}`;
}

interface NameEntry {
  readonly catalog: string;
  readonly entry: string;
  /** exact name, or the suffix of a wildcard */
  readonly name: string;
  readonly wildcard: boolean;
}

function nameEntries(catalog: string): NameEntry[] {
  const cat = CATALOGS[catalog];
  if (!cat) return [];
  const out: NameEntry[] = [];
  for (const e of cat.entries) {
    const t = e.dest.trim().toLowerCase().replace(/\.$/, "");
    if (t.includes("${") || t.includes(":") || /^[0-9.]+(\/[0-9]+)?$/.test(t)) continue; // addresses, CIDRs, vars
    if (t.startsWith("*.")) out.push({ catalog, entry: e.dest, name: t.slice(2), wildcard: true });
    else out.push({ catalog, entry: e.dest, name: t, wildcard: false });
  }
  return out;
}

function isCategory(rule: string): rule is NeverAllow {
  return (CATEGORIES as readonly string[]).includes(rule);
}

/**
 * Build the classifier. `load` turns policy text into a Policy (policy/load.ts's
 * `loadPolicyText` with any reader: the reference policy extends nothing).
 */
export function createClassifier(load: (text: string, file: string) => Policy): Classifier {
  const policy = load(referencePolicyText(), "learn:never-allow");
  const decider: Decider = compileDecider(policy);
  const versions = new Map<string, string>();
  for (const c of CATEGORIES) versions.set(c, CATALOGS[NEVER_ALLOW_CATALOGS[c]]?.version ?? "");
  const hit = (rule: string): CatalogHit | null =>
    isCategory(rule) ? { category: rule, catalog: NEVER_ALLOW_CATALOGS[rule], version: versions.get(rule) ?? "" } : null;
  const shared = nameEntries("shared-hosting");
  const covered = [...shared, ...CATEGORIES.flatMap((c) => nameEntries(NEVER_ALLOW_CATALOGS[c]))];
  return {
    name(name: string): CatalogHit | null {
      const d = decider.decide({ protocol: "tcp", port: 443, names: [name] });
      return d.verdict === "deny" ? hit(d.rule) : null;
    },
    address(ip: IpAddr): CatalogHit | null {
      const d = decider.decide({ protocol: "tcp", port: 443, ip });
      return d.verdict === "deny" ? hit(d.rule) : null;
    },
    sharedHosting(name: string): string | null {
      for (const s of shared) {
        if (name === s.name || (s.wildcard && wildcardMatches(s.name, name))) return s.entry;
      }
      return null;
    },
    wildcardConflict(suffix: string): { catalog: string; entry: string } | null {
      for (const s of covered) {
        // `*.suffix` covers an exact entry below it, and a wildcard entry at or below it
        if (wildcardMatches(suffix, s.name) || (s.wildcard && s.name === suffix)) return { catalog: s.catalog, entry: s.entry };
      }
      return null;
    },
  };
}
