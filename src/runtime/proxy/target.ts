/**
 * runtime/proxy/target — what a client asked for: a host (name or literal address) and a port.
 *
 * Map: the HTTP listener hands the request target (`CONNECT host:port`, `GET http://host/...`)
 * or the Host header, the SOCKS5 parser hands a domain or address, the TLS parser hands the
 * SNI; all of them land here and come out as a `Target`. Names are normalized once (lowercase,
 * no trailing dot, IDN to punycode, label and name lengths checked); anything that any common
 * client would read as an address (decimal, hex, octal, short IPv4 forms, bracketed IPv6,
 * IPv4-mapped IPv6) becomes an address, so it is decided as an address and never as a name.
 * A string that is neither a clean name nor an address is refused (`TargetParseError`), so
 * the proxy and the server can never read one string two ways.
 *
 * Pure: no I/O, no clock. Throws only `TargetParseError`.
 */
import { domainToASCII } from "node:url";
import { parseIpLoose, formatIp, endsInNumber } from "../../match/ip.ts";
import type { IpAddr } from "../../match/decision.ts";

export type Host = { readonly kind: "name"; readonly name: string } | { readonly kind: "ip"; readonly ip: IpAddr };

export interface Target {
  readonly host: Host;
  readonly port: number;
}

/** A request the proxy cannot read. `code` is stable; the listener answers 400 / SOCKS 0x01. */
export class TargetParseError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "TargetParseError";
    this.code = code;
  }
}

const NAME_CHARS = /^[a-z0-9_.-]+$/;

/**
 * Normalize a host name (no port). Literal addresses in any notation become `kind: "ip"`.
 * A name whose last label is numeric but which is not an address ("1.2.3.4.5") is refused:
 * URL parsers treat it as a broken address, resolvers as a name.
 */
export function parseHost(text: string): Host {
  if (text.length === 0) throw new TargetParseError("CF_PROXY_EMPTY_HOST", "the host is empty");
  if (text.length > 1024) throw new TargetParseError("CF_PROXY_HOST_TOO_LONG", "the host is longer than 1024 characters");
  if (text.startsWith("[")) {
    if (!text.endsWith("]")) throw new TargetParseError("CF_PROXY_BAD_IPV6", `'${clip(text)}' opens a bracket it does not close`);
    const inner = text.slice(1, -1);
    if (!inner.includes(":") || inner.includes("%")) throw new TargetParseError("CF_PROXY_BAD_IPV6", `'${clip(text)}' is not an IPv6 address`);
    const ip = parseIpLoose(inner);
    if (!ip || ip.family !== 6) throw new TargetParseError("CF_PROXY_BAD_IPV6", `'${clip(text)}' is not an IPv6 address (zone ids are not accepted)`);
    return { kind: "ip", ip };
  }
  if (text.includes(":")) {
    const ip = parseIpLoose(text);
    if (ip && ip.family === 6) return { kind: "ip", ip };
    throw new TargetParseError("CF_PROXY_BAD_HOST", `'${clip(text)}' is neither a name nor an address`);
  }
  const loose = parseIpLoose(text);
  if (loose) return { kind: "ip", ip: loose };
  let name = text.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(name)) {
    // IDN: WHATWG's host parser turns it into punycode; it would also turn address-like
    // strings into addresses, which is why addresses were handled above.
    const ascii = domainToASCII(name);
    if (ascii === "") throw new TargetParseError("CF_PROXY_BAD_NAME", `'${clip(text)}' is not a valid internationalized name`);
    name = ascii.endsWith(".") ? ascii.slice(0, -1) : ascii;
  }
  if (!NAME_CHARS.test(name)) throw new TargetParseError("CF_PROXY_BAD_NAME", `'${clip(text)}' has characters a host name cannot have`);
  if (name.length > 253) throw new TargetParseError("CF_PROXY_BAD_NAME", `'${clip(text)}' is longer than 253 characters`);
  const labels = name.split(".");
  for (const l of labels) {
    if (l.length === 0) throw new TargetParseError("CF_PROXY_BAD_NAME", `'${clip(text)}' has an empty label`);
    if (l.length > 63) throw new TargetParseError("CF_PROXY_BAD_NAME", `'${clip(text)}' has a label longer than 63 characters`);
  }
  if (endsInNumber(name)) throw new TargetParseError("CF_PROXY_BAD_HOST", `'${clip(text)}' looks like an address but is not one`);
  // a name that normalizes to an address ("0x7f.1." with its dot removed) is an address
  const again = parseIpLoose(name);
  if (again) return { kind: "ip", ip: again };
  return { kind: "name", name };
}

/** Decimal port 1..65535, digits only. */
export function parsePort(text: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new TargetParseError("CF_PROXY_BAD_PORT", `port '${clip(text)}' is not a number from 1 to 65535`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw new TargetParseError("CF_PROXY_BAD_PORT", `port '${clip(text)}' is not a number from 1 to 65535`);
  return n;
}

/**
 * `host`, `host:port`, `[v6]`, `[v6]:port`. `defaultPort` null means the port is required
 * (CONNECT's authority-form). A bare IPv6 address without brackets is accepted only when
 * no port is allowed to follow ambiguously, i.e. never: write brackets.
 */
export function parseAuthority(text: string, defaultPort: number | null): Target {
  if (text.includes("@")) throw new TargetParseError("CF_PROXY_USERINFO", "credentials in the request target are not accepted");
  let hostText: string;
  let portText: string | null = null;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) throw new TargetParseError("CF_PROXY_BAD_IPV6", `'${clip(text)}' opens a bracket it does not close`);
    hostText = text.slice(0, close + 1);
    const rest = text.slice(close + 1);
    if (rest.length > 0) {
      if (!rest.startsWith(":")) throw new TargetParseError("CF_PROXY_BAD_AUTHORITY", `'${clip(text)}' has text after the address`);
      portText = rest.slice(1);
    }
  } else {
    const colon = text.lastIndexOf(":");
    if (colon >= 0) {
      if (text.indexOf(":") !== colon) throw new TargetParseError("CF_PROXY_BAD_AUTHORITY", `'${clip(text)}': write IPv6 addresses in brackets, [2001:db8::1]:443`);
      hostText = text.slice(0, colon);
      portText = text.slice(colon + 1);
    } else {
      hostText = text;
    }
  }
  let port: number;
  if (portText === null || (portText === "" && defaultPort !== null)) {
    if (defaultPort === null) throw new TargetParseError("CF_PROXY_NO_PORT", `'${clip(text)}' has no port; CONNECT needs host:port`);
    port = defaultPort;
  } else {
    port = parsePort(portText);
  }
  return { host: parseHost(hostText), port };
}

export interface HttpTarget extends Target {
  /** origin-form path and query to send upstream, always starting with "/" */
  readonly path: string;
  /** the authority as the client wrote it, for the upstream Host header */
  readonly authority: string;
}

/** Absolute-form `http://authority/path?query` (a forward-proxy request line). Only http. */
export function parseAbsoluteUrl(url: string): HttpTarget {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(url);
  if (!m) throw new TargetParseError("CF_PROXY_NOT_ABSOLUTE", `'${clip(url)}' is not an absolute URL; a proxy request names its destination, GET http://host/path`);
  const scheme = (m[1] ?? "").toLowerCase();
  if (scheme !== "http") throw new TargetParseError("CF_PROXY_SCHEME", `scheme '${clip(scheme)}' is not proxied as a plain request; use CONNECT for https`);
  const authority = m[2] ?? "";
  const target = parseAuthority(authority, 80);
  let path = m[3] ?? "";
  if (path === "") path = "/";
  else if (path.startsWith("?")) path = `/${path}`;
  return { ...target, path, authority };
}

/** The name or address to put in logs and headers. */
export function hostText(h: Host): string {
  return h.kind === "name" ? h.name : formatIp(h.ip);
}

function clip(s: string): string {
  const t = s.length > 80 ? `${s.slice(0, 80)}...` : s;
  // eslint-disable-next-line no-control-regex
  return t.replace(/[\x00-\x1f\x7f]/g, "?");
}
