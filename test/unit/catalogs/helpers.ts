/**
 * Shared helpers for the catalog, preset and import tests: load policy text with test machine
 * variables (`.invalid` hosts stand in for the machine's npm registry and Debian mirror, which
 * the CLI reads from npm/apt config), and build flows for decide().
 */
import { parseIp } from "../../../src/policy/addr.ts";
import { loadPolicyText } from "../../../src/policy/load.ts";
import type { Policy } from "../../../src/policy/ir.ts";
import type { Flow } from "../../../src/match/decision.ts";

export const TEST_MACHINE_VARS: Readonly<Record<string, string>> = { npm_registry: "registry.invalid", debian_mirror: "deb.invalid" };

export function noFiles(p: string): string {
  throw new Error(`test policies read no files (asked for ${p})`);
}

export function load(text: string, file = "/test/policy.yaml", vars: Readonly<Record<string, string>> = TEST_MACHINE_VARS): Policy {
  return loadPolicyText(text, file, noFiles, { vars });
}

/** `host:port/proto` or `ip:port/proto` ([v6]:port) as a Flow; a host becomes `names`. */
export function flow(dest: string, phase?: string): Flow {
  const m = /^(?:\[([^\]]+)\]|([^:/]+))(?::([0-9]+))?(?:\/(tcp|udp|icmp))?$/.exec(dest);
  if (!m) throw new Error(`bad test destination ${dest}`);
  const host = m[1] ?? m[2] ?? "";
  const ip = parseIp(host);
  const protocol = (m[4] ?? "tcp") as Flow["protocol"];
  return {
    protocol,
    ...(m[3] !== undefined ? { port: Number(m[3]) } : {}),
    ...(ip ? { ip } : { names: [host] }),
    ...(phase !== undefined ? { phase } : {}),
  };
}
