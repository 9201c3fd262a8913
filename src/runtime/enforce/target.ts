/**
 * runtime/enforce/target — what `clawfence enforce --on` names, and the names derived from it.
 *
 *   host             the machine's own egress (output hook), for `workload.host.users` or all
 *   bridge:NAME      containers on a bridge (forward hook, `iifname NAME`); created if missing
 *   interface:NAME   traffic arriving from an existing interface (forward hook), not created
 *
 * One enforcer per target: its id, nftables table and state files are derived here, so a
 * second `enforce` on the same target finds the first. Pure: no I/O.
 */
import { RuntimeError } from "../errors.ts";

export type EnforceTarget =
  | { readonly kind: "host" }
  | { readonly kind: "bridge"; readonly name: string }
  | { readonly kind: "interface"; readonly name: string };

/** Linux interface names: at most 15 bytes (IFNAMSIZ 16 with the NUL), no '/', no spaces. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export function parseTarget(text: string): EnforceTarget {
  if (text === "host") return { kind: "host" };
  const m = /^(bridge|interface):(.*)$/.exec(text);
  if (!m) {
    throw new RuntimeError("CF_RUNTIME_ENFORCE_TARGET", `'--on ${text}' is not host, bridge:NAME or interface:NAME`, "write e.g. --on host, --on bridge:openclaw-egress or --on interface:tap0", 2);
  }
  const name = m[2] ?? "";
  if (!IFNAME.test(name)) {
    throw new RuntimeError(
      "CF_RUNTIME_ENFORCE_TARGET",
      `'${name}' is not a valid interface name (1-15 characters of letters, digits, '_', '.', '-')`,
      "use a shorter name; Docker networks can set it with -o com.docker.network.bridge.name=NAME",
      2,
    );
  }
  return m[1] === "bridge" ? { kind: "bridge", name } : { kind: "interface", name };
}

export function targetText(t: EnforceTarget): string {
  return t.kind === "host" ? "host" : `${t.kind}:${t.name}`;
}

/** The enforcer's id: file names in the state directory. */
export function targetId(t: EnforceTarget): string {
  return t.kind === "host" ? "host" : `${t.kind}-${t.name}`;
}

/** The nftables table of the enforcer on `t` (letters, digits, '_'; at most 64 characters). */
export function tableFor(t: EnforceTarget): string {
  const clean = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, "_");
  switch (t.kind) {
    case "host":
      return "cfe_host";
    case "bridge":
      return `cfe_br_${clean(t.name)}`;
    case "interface":
      return `cfe_if_${clean(t.name)}`;
    default: {
      const never: never = t;
      throw new Error(`unknown target ${String(never)}`);
    }
  }
}

/** The interface whose traffic is filtered (null for host mode). */
export function ifaceOf(t: EnforceTarget): string | null {
  return t.kind === "host" ? null : t.name;
}
