/**
 * compile/backend — the one interface every compiler backend implements.
 *
 * Map: a backend is a pure function from the policy IR (policy/ir.ts) plus options to
 * text (one or more files). A backend that cannot express a rule throws
 * `UnsupportedFeature` naming the rule and the feature; it never drops a rule silently.
 * Backends import nothing with I/O: `--resolve` pins are passed in as `resolved`, looked
 * up by the CLI beforehand.
 */
import type { Policy } from "../policy/ir.ts";

export type TargetName = "nftables" | "iptables" | "ip6tables" | "pf" | "kubernetes" | "cilium" | "aviatrix" | "hosts";

export interface CompileOptions {
  /** nftables: output (host, seed 001) or forward (bridge / sandbox) */
  readonly hook?: "output" | "forward";
  /** nftables/iptables/pf: restrict to traffic from/to this interface */
  readonly iface?: string;
  /** NFLOG group for denies and would-denies */
  readonly logGroup?: number;
  /** name -> addresses resolved now (only with --resolve); absent: names stay dynamic */
  readonly resolved?: ReadonlyMap<string, readonly string[]>;
  /** phase to compile (default: the policy's first phase) */
  readonly phase?: string;
  /** table / anchor / resource name override (default derived from policy name) */
  readonly tableName?: string;
}

export interface CompileOutput {
  /** main text (what `-o FILE` writes) */
  readonly text: string;
  /** notes for the user (what was pinned, what the output assumes) */
  readonly notes: readonly string[];
}

export interface Backend {
  readonly name: TargetName;
  readonly description: string;
  compile(policy: Policy, opts: CompileOptions): CompileOutput;
}

export class UnsupportedFeature extends Error {
  readonly code = "CF_COMPILE_UNSUPPORTED";
  readonly target: TargetName;
  readonly rule: string;
  readonly feature: string;
  readonly fix: string;
  constructor(target: TargetName, rule: string, feature: string, fix: string) {
    super(`${target} cannot express rule '${rule}': ${feature}`);
    this.name = "UnsupportedFeature";
    this.target = target;
    this.rule = rule;
    this.feature = feature;
    this.fix = fix;
  }
}
