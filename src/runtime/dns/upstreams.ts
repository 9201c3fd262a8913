/**
 * runtime/dns/upstreams — where the DNS guard (and `compile --hook output`) sends allowed
 * questions: `ADDR[:PORT]` / `[V6]:PORT` text, and the nameservers of a resolv.conf.
 *
 * Pure text parsing plus one reader of /etc/resolv.conf (`readSystemUpstreams`); the CLI's
 * `--dns-upstream` flags and the policy's `dns.upstreams` fallback are chosen in cli/args.ts.
 */
import { readFileSync } from "node:fs";
import { formatIp, parseIp } from "../../policy/addr.ts";
import type { Upstream } from "../../policy/ir.ts";

/** `10.0.0.2`, `10.0.0.2:5353`, `2001:db8::53`, `[2001:db8::53]:53` -> an upstream, or null. */
export function parseHostPort(text: string, defaultPort: number): Upstream | null {
  let host = text;
  let port = defaultPort;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) {
    host = bracket[1] ?? "";
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const i = text.indexOf(":");
    host = text.slice(0, i);
    port = Number(text.slice(i + 1));
  }
  const ip = parseIp(host);
  if (ip === null || !Number.isInteger(port) || port < 0 || port > 65535) return null;
  return { address: formatIp(ip), family: ip.family, port };
}

/** The `nameserver` lines of a resolv.conf as upstreams on port 53 (zone ids dropped, junk skipped). */
export function systemUpstreams(resolvConf: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of resolvConf.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const u = m?.[1] ? parseHostPort(m[1].replace(/%.*$/, ""), 53) : null;
    if (u) out.push(u);
  }
  return out;
}

/** The nameservers of /etc/resolv.conf ([] when it cannot be read). */
export function readSystemUpstreams(): Upstream[] {
  try {
    return systemUpstreams(readFileSync("/etc/resolv.conf", "utf8"));
  } catch {
    return [];
  }
}
