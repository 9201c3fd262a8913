/**
 * compile/index — the backend registry: target name -> Backend.
 *
 * Map: the CLI (`clawfence compile --target T`), the conformance suite and the golden tests
 * look backends up here; each backend lives in `compile/<name>/index.ts` exporting `backend`.
 * Every target has a backend; a feature a backend cannot express throws UnsupportedFeature. Pure: importing this loads only pure backends.
 */
import type { Backend, TargetName } from "./backend.ts";
import { backend as nftables } from "./nftables/index.ts";
import { backend as iptables, backend6 as ip6tables } from "./iptables/index.ts";
import { backend as hosts } from "./hosts/index.ts";
import { backend as pf } from "./pf/index.ts";
import { backend as kubernetes } from "./kubernetes/index.ts";
import { backend as cilium } from "./cilium/index.ts";
import { backend as aviatrix } from "./aviatrix/index.ts";

/** Every target the command line names (PRODUCT.md section 5), in the order help lists them. */
export const TARGETS: readonly TargetName[] = ["nftables", "iptables", "ip6tables", "pf", "kubernetes", "cilium", "aviatrix", "hosts"];

export const BACKENDS: Readonly<Record<TargetName, Backend>> = {
  nftables,
  iptables,
  ip6tables,
  pf,
  kubernetes,
  cilium,
  aviatrix,
  hosts,
};

export function isTargetName(s: string): s is TargetName {
  return (TARGETS as readonly string[]).includes(s);
}
