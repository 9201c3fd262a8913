/**
 * verify/destination — a scenario's `destination` text to the parts of a flow.
 *
 * Forms (the same as `clawfence explain`'s DEST): `host[:port][/tcp|udp|icmp]`,
 * `IP[:port][/proto]`, `[IPv6]:port[/proto]`, a bare IPv6 address. Hosts in any address
 * notation a client would accept (`127.1`, `0x7f000001`) are addresses; names are normalized
 * like the policy's (policy/names.ts). Missing port and protocol stay missing here: the
 * scenarios file may give them as separate fields, and the caller applies the defaults
 * (443, tcp).
 *
 * Kept apart from cli/commands/explain.ts's parseDest because verify may not import cli/
 * (cli -> verify); both follow the same grammar. Pure: no I/O.
 */
import { endsInNumber, formatIp, parseIpLoose, type IpAddr } from "../match/ip.ts";
import { normalizeName } from "../policy/names.ts";
import type { FlowProtocol } from "../policy/ir.ts";

export interface DestParts {
  readonly protocol?: FlowProtocol;
  readonly port?: number;
  readonly ip?: IpAddr;
  readonly name?: string;
}

export type DestResult = { readonly ok: true; readonly value: DestParts } | { readonly ok: false; readonly message: string; readonly fix: string };

const PROTOCOLS: readonly string[] = ["tcp", "udp", "icmp"];
const FORMS = "write host[:port][/tcp|udp|icmp], an IP address, or [IPv6]:port, e.g. api.example.com:443/tcp";

function fail(message: string, fix: string = FORMS): DestResult {
  return { ok: false, message, fix };
}

export function parseDestination(text: string): DestResult {
  let rest = text.trim();
  if (rest === "") return fail("the destination is empty");
  let protocol: FlowProtocol | undefined;
  const slash = rest.lastIndexOf("/");
  if (slash !== -1) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (!PROTOCOLS.includes(p)) {
      return fail(`'/${rest.slice(slash + 1)}' is not a protocol`, /^[0-9]+$/.test(p) ? "a scenario probes one address, not a network: write e.g. 10.0.0.1" : "write /tcp, /udp or /icmp after the port");
    }
    protocol = p as FlowProtocol;
    rest = rest.slice(0, slash);
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close === -1) return fail("unclosed '['", "write [IPv6]:port, e.g. [2001:db8::1]:443");
    host = rest.slice(0, close + 1);
    const after = rest.slice(close + 1);
    if (after !== "") {
      if (!after.startsWith(":")) return fail(`unexpected '${after}' after ']'`, "write [IPv6]:port, e.g. [2001:db8::1]:443");
      portText = after.slice(1);
    }
  } else {
    const colons = rest.split(":").length - 1;
    if (colons >= 2) host = rest;
    else if (colons === 1) {
      const c = rest.indexOf(":");
      host = rest.slice(0, c);
      portText = rest.slice(c + 1);
    } else host = rest;
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return fail(`'${portText}' is not a port`, "write a port number 1..65535, e.g. api.example.com:443");
    }
    port = Number(portText);
  }
  if (protocol === "icmp" && port !== undefined) return fail("ICMP has no ports", `write ${host}/icmp`);
  const base = { ...(protocol !== undefined ? { protocol } : {}), ...(port !== undefined ? { port } : {}) };
  const ip = parseIpLoose(host);
  if (host.startsWith("[") && ip?.family !== 6) return fail(`'${host}' is not an IPv6 address`, "write [IPv6]:port, e.g. [2001:db8::1]:443");
  if (ip) return { ok: true, value: { ...base, ip } };
  if (host.includes(":") || endsInNumber(host)) {
    return fail(`'${host}' is not a valid address`, "write an IPv4 address like 192.0.2.7, or an IPv6 address like 2001:db8::1 or [2001:db8::1]:443");
  }
  const n = normalizeName(host);
  if (!n.ok) return fail(n.problem.message, n.problem.fix);
  return { ok: true, value: { ...base, name: n.value } };
}

/** `name:443/tcp`, `[2001:db8::1]:443/tcp`, `10.0.0.1/icmp` */
export function formatDestination(parts: { readonly name?: string; readonly ip?: IpAddr; readonly port?: number; readonly protocol: FlowProtocol }): string {
  const host = parts.ip ? (parts.ip.family === 6 ? `[${formatIp(parts.ip)}]` : formatIp(parts.ip)) : (parts.name ?? "?");
  const shown = parts.ip && parts.name ? `${parts.name} at ${host}` : host;
  return parts.port === undefined ? `${shown}/${parts.protocol}` : `${shown}:${parts.port}/${parts.protocol}`;
}
