/**
 * runtime/proxy/socks5 — the SOCKS5 wire format (RFC 1928): greeting, request, reply, and the
 * UDP datagram header.
 *
 * Map: the SOCKS listener (proxy.ts) feeds the bytes it has so far; each parser answers
 * "need more", "parsed, using N bytes", or an error with the reply code to send. Domain
 * names go through target.ts, so a SOCKS client and an HTTP client asking for the same
 * string get the same decision; address-like domain strings become addresses.
 *
 * Pure: no I/O. Never throws; sizes are bounded by the format (a request is <= 262 bytes).
 */
import type { IpAddr } from "../../match/decision.ts";
import { parseHost, TargetParseError, type Target } from "./target.ts";

export const SOCKS_VERSION = 5;
export const METHOD_NO_AUTH = 0x00;
export const METHOD_NONE_ACCEPTABLE = 0xff;

export const CMD_CONNECT = 1;
export const CMD_BIND = 2;
export const CMD_UDP_ASSOCIATE = 3;

/** Reply codes (RFC 1928 section 6). */
export const REP = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export type ParseStep<T> =
  | { readonly status: "more" }
  | { readonly status: "ok"; readonly value: T; readonly used: number }
  | { readonly status: "error"; readonly rep: number; readonly code: string; readonly message: string };

const MORE = { status: "more" } as const;

function fail(rep: number, code: string, message: string): { status: "error"; rep: number; code: string; message: string } {
  return { status: "error", rep, code, message };
}

/** VER NMETHODS METHODS... */
export function parseGreeting(buf: Uint8Array): ParseStep<{ methods: readonly number[] }> {
  if (buf.length < 1) return MORE;
  if (buf[0] !== SOCKS_VERSION) return fail(REP.generalFailure, "CF_PROXY_SOCKS_VERSION", `SOCKS version ${buf[0]} is not 5`);
  if (buf.length < 2) return MORE;
  const n = buf[1] ?? 0;
  if (n === 0) return fail(REP.generalFailure, "CF_PROXY_SOCKS_NO_METHODS", "the greeting offers no authentication method");
  if (buf.length < 2 + n) return MORE;
  return { status: "ok", value: { methods: Array.from(buf.subarray(2, 2 + n)) }, used: 2 + n };
}

export interface SocksRequest {
  readonly cmd: number;
  readonly target: Target;
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT */
export function parseRequest(buf: Uint8Array): ParseStep<SocksRequest> {
  if (buf.length < 1) return MORE;
  if (buf[0] !== SOCKS_VERSION) return fail(REP.generalFailure, "CF_PROXY_SOCKS_VERSION", `SOCKS version ${buf[0]} is not 5`);
  if (buf.length < 4) return MORE;
  const cmd = buf[1] ?? 0;
  if (buf[2] !== 0) return fail(REP.generalFailure, "CF_PROXY_SOCKS_RSV", "the reserved byte of the request is not zero");
  const addr = parseAddress(buf, 3);
  if (addr.status !== "ok") return addr;
  if (cmd !== CMD_CONNECT && cmd !== CMD_BIND && cmd !== CMD_UDP_ASSOCIATE) {
    return fail(REP.commandNotSupported, "CF_PROXY_SOCKS_CMD", `SOCKS command ${cmd} does not exist`);
  }
  return { status: "ok", value: { cmd, target: addr.value }, used: addr.used };
}

/** ATYP ADDR PORT starting at `off`; `used` is the offset just past the port. */
export function parseAddress(buf: Uint8Array, off: number): ParseStep<Target> {
  if (buf.length < off + 1) return MORE;
  const atyp = buf[off] ?? 0;
  let host: Target["host"];
  let p: number;
  switch (atyp) {
    case 1: {
      if (buf.length < off + 1 + 4 + 2) return MORE;
      host = { kind: "ip", ip: { family: 4, value: bytesToBig(buf.subarray(off + 1, off + 5)) } };
      p = off + 5;
      break;
    }
    case 4: {
      if (buf.length < off + 1 + 16 + 2) return MORE;
      host = { kind: "ip", ip: { family: 6, value: bytesToBig(buf.subarray(off + 1, off + 17)) } };
      p = off + 17;
      break;
    }
    case 3: {
      if (buf.length < off + 2) return MORE;
      const len = buf[off + 1] ?? 0;
      if (len === 0) return fail(REP.generalFailure, "CF_PROXY_SOCKS_EMPTY_NAME", "the requested domain name is empty");
      if (buf.length < off + 2 + len + 2) return MORE;
      const raw = buf.subarray(off + 2, off + 2 + len);
      // names on the wire are ASCII (IDNs arrive as punycode); anything else is refused
      if (raw.some((b) => b < 0x21 || b > 0x7e)) return fail(REP.generalFailure, "CF_PROXY_BAD_NAME", "the requested domain name has bytes a host name cannot have");
      try {
        host = parseHost(Buffer.from(raw).toString("latin1"));
      } catch (e) {
        if (e instanceof TargetParseError) return fail(REP.generalFailure, e.code, e.message);
        throw e;
      }
      p = off + 2 + len;
      break;
    }
    default:
      return fail(REP.addressTypeNotSupported, "CF_PROXY_SOCKS_ATYP", `address type ${atyp} does not exist`);
  }
  const port = ((buf[p] ?? 0) << 8) | (buf[p + 1] ?? 0);
  return { status: "ok", value: { host, port }, used: p + 2 };
}

/** VER REP RSV ATYP BND.ADDR BND.PORT; `bind` absent sends 0.0.0.0:0. */
export function encodeReply(rep: number, bind?: { ip: IpAddr; port: number }): Buffer {
  const ip = bind?.ip ?? { family: 4 as const, value: 0n };
  const port = bind?.port ?? 0;
  const alen = ip.family === 4 ? 4 : 16;
  const out = Buffer.alloc(4 + alen + 2);
  out[0] = SOCKS_VERSION;
  out[1] = rep;
  out[2] = 0;
  out[3] = ip.family === 4 ? 1 : 4;
  bigToBytes(ip.value, out, 4, alen);
  out.writeUInt16BE(port, 4 + alen);
  return out;
}

export interface UdpDatagram {
  readonly target: Target;
  readonly data: Uint8Array;
}

/** RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA. Fragments (FRAG != 0) are refused, as most servers do. */
export function parseUdpDatagram(buf: Uint8Array): ParseStep<UdpDatagram> {
  if (buf.length < 4) return fail(REP.generalFailure, "CF_PROXY_SOCKS_UDP_SHORT", "the UDP datagram is shorter than its header");
  if (buf[0] !== 0 || buf[1] !== 0) return fail(REP.generalFailure, "CF_PROXY_SOCKS_RSV", "the reserved bytes of the UDP header are not zero");
  if (buf[2] !== 0) return fail(REP.commandNotSupported, "CF_PROXY_SOCKS_UDP_FRAG", "fragmented SOCKS UDP datagrams are not supported");
  const addr = parseAddress(buf, 3);
  if (addr.status === "more") return fail(REP.generalFailure, "CF_PROXY_SOCKS_UDP_SHORT", "the UDP datagram is shorter than its header");
  if (addr.status === "error") return addr;
  return { status: "ok", value: { target: addr.value, data: buf.subarray(addr.used) }, used: buf.length };
}

/** The header a relay puts in front of a reply datagram from `from`. */
export function encodeUdpHeader(from: { ip: IpAddr; port: number }): Buffer {
  const alen = from.ip.family === 4 ? 4 : 16;
  const out = Buffer.alloc(4 + alen + 2);
  out[3] = from.ip.family === 4 ? 1 : 4;
  bigToBytes(from.ip.value, out, 4, alen);
  out.writeUInt16BE(from.port, 4 + alen);
  return out;
}

function bytesToBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function bigToBytes(v: bigint, out: Buffer, off: number, len: number): void {
  for (let i = len - 1; i >= 0; i--) {
    out[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}
