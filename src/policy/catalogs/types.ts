/**
 * policy/catalogs/types — the shape of a built-in, versioned destination set.
 *
 * A catalog is referenced from a policy as `catalog:NAME`. Each entry is written in policy
 * destination syntax (domain, `*.wildcard`, address, CIDR) and may use `${var}`; every
 * entry says where it comes from (`source`: a URL or document of the provider), so a
 * reviewer can check it. Pure data: no I/O.
 */
export interface CatalogEntry {
  /** policy destination syntax; may contain ${var} */
  readonly dest: string;
  /** where this entry comes from: provider documentation URL or document name */
  readonly source: string;
  readonly note?: string;
}

export interface Catalog {
  readonly name: string;
  /** date-based version of the list, e.g. "2026-11-01" */
  readonly version: string;
  readonly description: string;
  /**
   * "rules" (the default): usable as `catalog:NAME` in rules and groups; every entry is valid
   * policy syntax. "reference": data for lint and `learn` only (e.g. `shared-hosting`, whose
   * `*.x` entries may sit directly under a Public Suffix List entry, which the policy language
   * refuses); a rule cannot reference it.
   */
  readonly usage?: "rules" | "reference";
  readonly entries: readonly CatalogEntry[];
}
