/**
 * policy/ir — the internal representation (IR) of a normalized policy.
 *
 * Map: the wire format (policy/wire.ts, what users write) is parsed and normalized
 * (policy/normalize.ts) into a `Policy` defined here. Everything after that stage —
 * match/decide, compile/*, lint, runtime, verify — reads only this IR and never
 * re-normalizes: branded types (`Fqdn`, `Cidr`) say a value has already been checked.
 *
 * Owns: types only. Imports nothing with I/O. Every value is plain data (JSON-able
 * except bigint addresses), so IRs can be compared in tests and hashed.
 */

/** A normalized domain name: lowercase, punycode (A-labels), no trailing dot, lengths checked. */
export type Fqdn = string & { readonly __brand: "Fqdn" };

/** Where something was written: 1-based line and column in `file` (a path or `preset:NAME`). */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/**
 * An IP network. `addr` is the network address as an unsigned integer (host bits zero);
 * a single address is a /32 or /128. `text` is canonical: "10.0.0.0/8", "2001:db8::/32",
 * "192.0.2.7/32".
 */
export interface Cidr {
  readonly family: 4 | 6;
  readonly addr: bigint;
  readonly prefix: number;
  readonly text: string;
}

/** Where a destination entry came from, for explain, lint and compiled comments. */
export type EntryOrigin =
  | { readonly via: "literal" }
  | { readonly via: "group"; readonly group: string }
  | { readonly via: "catalog"; readonly catalog: string; readonly version: string; readonly source: string };

/** One destination entry of a rule, after groups, catalogs and vars were expanded. */
export type Dest =
  | { readonly kind: "any"; readonly origin: EntryOrigin; readonly pos: SourcePos }
  /** exactly this name */
  | { readonly kind: "domain"; readonly name: Fqdn; readonly origin: EntryOrigin; readonly pos: SourcePos }
  /** `*.suffix`: one or more labels below `suffix`, never `suffix` itself */
  | { readonly kind: "wildcard"; readonly suffix: Fqdn; readonly origin: EntryOrigin; readonly pos: SourcePos }
  /** a literal address or network: matches what it says, special-purpose or not */
  | { readonly kind: "cidr"; readonly cidr: Cidr; readonly origin: EntryOrigin; readonly pos: SourcePos };

export type Protocol = "tcp" | "udp" | "icmp" | "any";
/** A concrete protocol of a flow (a flow is never "any"). */
export type FlowProtocol = "tcp" | "udp" | "icmp";

/** Inclusive port range, 1..65535, from <= to. A single port has from === to. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

export type Mode = "enforce" | "monitor";
export type Action = "allow" | "deny";

export interface Rule {
  readonly name: string;
  readonly action: Action;
  readonly description?: string;
  /** as written (default 100); lower decides first */
  readonly priority: number;
  /** position in the final, decided order (0-based); `Policy.rules[i].order === i` */
  readonly order: number;
  readonly dests: readonly Dest[];
  /** null: all ports. Sorted, merged, non-overlapping. */
  readonly ports: readonly PortRange[] | null;
  readonly protocol: Protocol;
  /** null: active in every phase */
  readonly phases: readonly string[] | null;
  /** effective mode: the rule's own `mode`, else the policy's */
  readonly mode: Mode;
  /** true when the rule wrote `mode:` itself */
  readonly modeOverride: boolean;
  readonly pos: SourcePos;
}

export interface Upstream {
  /** canonical address text, IPv4 or IPv6 (no brackets) */
  readonly address: string;
  readonly family: 4 | 6;
  readonly port: number;
}

export interface DnsSettings {
  /** null: use the system's resolvers (the runtime reads /etc/resolv.conf) */
  readonly upstreams: readonly Upstream[] | null;
  /** learned addresses live max(answer TTL, min_ttl) seconds */
  readonly minTtl: number;
}

export interface Workload {
  readonly kubernetes?: {
    readonly namespace?: string;
    readonly podLabels?: Readonly<Record<string, string>>;
  };
  readonly aviatrix?: { readonly tags?: Readonly<Record<string, string>> };
  readonly host?: { readonly users?: readonly string[] };
}

export interface Group {
  readonly name: string;
  readonly description?: string;
  readonly dests: readonly Dest[];
  readonly pos: SourcePos;
}

export interface Policy {
  readonly version: 1;
  readonly name: string;
  readonly description?: string;
  readonly mode: Mode;
  readonly default: Action;
  /** variables after merging extended files (own values win) */
  readonly vars: Readonly<Record<string, string>>;
  readonly workload: Workload;
  readonly dns: DnsSettings;
  readonly internal: readonly Cidr[];
  /** declared phases in order; empty when the policy has none */
  readonly phases: readonly string[];
  readonly groups: Readonly<Record<string, Group>>;
  /** sorted by (priority, own-file-before-extended, file order); rules[i].order === i */
  readonly rules: readonly Rule[];
  /** files and presets this policy was built from, the policy's own file first */
  readonly sources: readonly string[];
  /** sha256 hex of the canonical IR (stable across formatting and comments) */
  readonly hash: string;
}
