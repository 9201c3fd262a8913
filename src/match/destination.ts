/**
 * match/destination — the destination grammar `clawfence explain`'s DEST and a verify
 * scenario's `destination` share: `host[:port][/tcp|udp|icmp]`, `IP[:port][/proto]`,
 * `[IPv6]:port[/proto]`, a bare IPv6 address. Hosts in any address notation a client would
 * accept (`127.1`, `0x7f000001`) are addresses.
 *
 * Map: text -> `parseDestSyntax` -> protocol, port (both only if written), the host text and,
 * for an address, the parsed address. What stays with the caller: defaults for a missing port
 * or protocol (explain assumes 443/tcp, a scenario may give them as fields), the name
 * normalization of a host that is not an address, and the wording of the two refusals whose
 * advice depends on the command (an empty destination; a network written as `/prefix`, which
 * `kind` marks). Pure: no I/O; imports match/ip.ts and policy/ types only.
 */
import { endsInNumber, parseIpLoose, type IpAddr } from "./ip.ts";
import type { FlowProtocol } from "../policy/ir.ts";

export interface DestSyntax {
  /** the host as written (brackets kept for `[IPv6]`), not normalized */
  readonly host: string;
  /** set when the host is an address */
  readonly ip?: IpAddr;
  readonly protocol?: FlowProtocol;
  readonly port?: number;
}

/** why a destination was refused: `empty` and `network` get the caller's own advice */
export type DestProblemKind = "empty" | "network" | "other";

export type DestSyntaxResult =
  | { readonly ok: true; readonly value: DestSyntax }
  | { readonly ok: false; readonly kind: DestProblemKind; readonly message: string; readonly fix: string };

const PROTOCOLS: readonly string[] = ["tcp", "udp", "icmp"];
const V6_FORM = "write [IPv6]:port, e.g. [2001:db8::1]:443";

function fail(message: string, fix: string, kind: DestProblemKind = "other"): DestSyntaxResult {
  return { ok: false, kind, message, fix };
}

/** Split and check one destination; a name host is returned as written, for the caller to normalize. */
export function parseDestSyntax(text: string): DestSyntaxResult {
  let rest = text.trim();
  if (rest === "") return fail("the destination is empty", "write a host, host:port or [IPv6]:port", "empty");
  let protocol: FlowProtocol | undefined;
  const slash = rest.lastIndexOf("/");
  if (slash !== -1) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (!PROTOCOLS.includes(p)) {
      const message = `'/${rest.slice(slash + 1)}' is not a protocol`;
      return /^[0-9]+$/.test(p) ? fail(message, "write one address, e.g. 10.0.0.1", "network") : fail(message, "write /tcp, /udp or /icmp after the port");
    }
    protocol = p as FlowProtocol;
    rest = rest.slice(0, slash);
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close === -1) return fail("unclosed '['", V6_FORM);
    host = rest.slice(0, close + 1);
    const after = rest.slice(close + 1);
    if (after !== "") {
      if (!after.startsWith(":")) return fail(`unexpected '${after}' after ']'`, V6_FORM);
      portText = after.slice(1);
    }
  } else {
    const colons = rest.split(":").length - 1;
    if (colons >= 2) host = rest; // bare IPv6, no port
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
  const base = { host, ...(protocol !== undefined ? { protocol } : {}), ...(port !== undefined ? { port } : {}) };
  const ip = parseIpLoose(host);
  if (host.startsWith("[") && ip?.family !== 6) return fail(`'${host}' is not an IPv6 address`, V6_FORM);
  if (ip) return { ok: true, value: { ...base, ip } };
  if (host.includes(":") || endsInNumber(host)) {
    return fail(`'${host}' is not a valid address`, "write an IPv4 address like 192.0.2.7, or an IPv6 address like 2001:db8::1 or [2001:db8::1]:443");
  }
  return { ok: true, value: base };
}
