/**
 * policy/addr — IP address and CIDR text: strict parsing for policies, loose parsing for
 * what clients send, canonical formatting, containment.
 *
 * Map: the policy normalizer calls `checkAddressEntry` on every address/CIDR a user wrote
 * (strict: one spelling per address, so reviews read what the firewall does); the proxy
 * and DNS guard call `parseIpLoose` on hosts that arrive off the wire (every notation a
 * resolver library or browser would turn into an address, so `0x7f.1` cannot sneak past
 * a name rule); everything formats with `formatIp` (RFC 5952 for IPv6).
 *
 * Lives in policy/ (not match/) because the normalizer needs it and policy/ may not import
 * match/; match/ip.ts re-exports it for runtime code. Pure: no I/O, no clock.
 * Addresses are unsigned bigints (`IpAddr`, same shape as match/decision.ts).
 */
import type { Cidr } from "./ir.ts";

/** A parsed IP address: family and value as an unsigned integer. */
export interface IpAddr {
  readonly family: 4 | 6;
  readonly value: bigint;
}

const V4_BITS = 32;
const V6_BITS = 128;
const MAPPED_PREFIX = 0xffffn; // ::ffff:0:0/96, value >> 32n

export function familyBits(family: 4 | 6): number {
  return family === 4 ? V4_BITS : V6_BITS;
}

// ---------------------------------------------------------------- strict parsing

const DEC_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Strict dotted quad: four decimal octets 0..255, no leading zeros. */
function parseV4Strict(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!DEC_OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return BigInt(v);
}

/** RFC 4291 section 2.2 text forms (full, `::`-compressed, trailing dotted IPv4). No zone, no brackets. */
function parseV6Strict(text: string): bigint | null {
  if (text.length === 0 || text.length > 45) return null;
  const dbl = text.indexOf("::");
  if (dbl !== -1 && text.indexOf("::", dbl + 1) !== -1) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i] ?? "";
      if (i === pieces.length - 1 && p.includes(".")) {
        const v4 = parseV4Strict(p);
        if (v4 === null) return null;
        const n = Number(v4);
        out.push(Math.floor(n / 65536), n % 65536);
      } else {
        if (!HEX_GROUP.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  let groups: number[];
  if (dbl === -1) {
    const g = groupsOf(text);
    if (g === null || g.length !== 8) return null;
    groups = g;
  } else {
    const head = groupsOf(text.slice(0, dbl));
    const tail = groupsOf(text.slice(dbl + 2));
    if (head === null || tail === null) return null;
    // an embedded IPv4 may only end the address, so it cannot be in `head`
    if (text.slice(0, dbl).includes(".")) return null;
    if (head.length + tail.length > 7) return null;
    groups = [...head, ...Array.from({ length: 8 - head.length - tail.length }, () => 0), ...tail];
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

/**
 * Strict address text as a policy may write it: an IPv4 dotted quad without leading zeros
 * (`010.0.0.1` is octal to inet_aton and decimal to humans) and without short forms
 * (`1.2.3`), or an IPv6 address in any RFC 4291 form (`::ffff:1.2.3.4` included), without
 * brackets or zone id. null for anything else.
 */
export function parseIp(text: string): IpAddr | null {
  if (text.includes(":")) {
    const v = parseV6Strict(text);
    return v === null ? null : { family: 6, value: v };
  }
  const v = parseV4Strict(text);
  return v === null ? null : { family: 4, value: v };
}

// ---------------------------------------------------------------- loose parsing

/** One part of an inet_aton/WHATWG IPv4 host: decimal, 0x hex (may be empty: "0x" is 0), 0-octal. */
function parseLoosePart(p: string): number | null {
  if (p.length === 0) return null;
  let n: number;
  if (/^0x[0-9a-f]*$/.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
  else if (/^0[0-7]+$/.test(p)) n = parseInt(p.slice(1), 8);
  else if (/^(?:0|[1-9][0-9]*)$/.test(p)) n = Number(p);
  else return null;
  return Number.isSafeInteger(n) ? n : null;
}

function parseV4Loose(text: string): bigint | null {
  const t = text.endsWith(".") ? text.slice(0, -1) : text;
  const parts = t.split(".");
  if (parts.length < 1 || parts.length > 4) return null;
  const nums: number[] = [];
  for (const p of parts) {
    const n = parseLoosePart(p);
    if (n === null) return null;
    nums.push(n);
  }
  const last = nums.pop() ?? 0;
  let v = 0;
  for (const n of nums) {
    if (n > 255) return null;
    v = v * 256 + n;
  }
  const lastBytes = 4 - nums.length;
  if (last >= 256 ** lastBytes) return null;
  return BigInt(v * 256 ** lastBytes + last);
}

/**
 * An address in any notation a client resolver library (inet_aton, getaddrinfo) or a
 * browser (WHATWG URL host parser) would turn into an address: `2130706433`, `0x7f000001`,
 * `0177.0.0.1`, `127.1`, `127.0.1`, a trailing dot, `[::1]`, `::ffff:7f00:1`, an IPv6 zone id
 * (dropped: the address still goes where it says). Case-insensitive.
 * null for names — and for numeric-looking hosts that are not valid addresses (`256.1.1.1`,
 * `08.1.1.1`): callers must refuse those, see `endsInNumber`.
 */
export function parseIpLoose(text: string): IpAddr | null {
  let t = text.toLowerCase();
  const bracketed = t.startsWith("[") && t.endsWith("]");
  if (bracketed) t = t.slice(1, -1);
  if (t.includes(":")) {
    const zone = t.indexOf("%");
    if (zone !== -1) t = t.slice(0, zone);
    const v = parseV6Strict(t);
    return v === null ? null : { family: 6, value: v };
  }
  if (bracketed) return null;
  const v = parseV4Loose(t);
  return v === null ? null : { family: 4, value: v };
}

/**
 * WHATWG URL "ends in a number": the host's last label (after one trailing dot) is all
 * digits or `0x` hex. Such a host is an IPv4 address or invalid — never a name — so a
 * proxy must refuse it when `parseIpLoose` returns null (`1.2.3.256`, `08.0.0.1`).
 */
export function endsInNumber(host: string): boolean {
  const t = host.toLowerCase();
  const trimmed = t.endsWith(".") ? t.slice(0, -1) : t;
  const last = trimmed.slice(trimmed.lastIndexOf(".") + 1);
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/.test(last);
}

// ---------------------------------------------------------------- formatting

function formatV4(v: bigint): string {
  const n = Number(v);
  return `${Math.floor(n / 16777216) % 256}.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

/**
 * Canonical text: dotted quad for IPv4; RFC 5952 for IPv6 (lowercase, no leading zeros,
 * the longest run of two or more zero groups as `::`, the first if tied), with IPv4-mapped
 * addresses in mixed notation (`::ffff:192.0.2.1`, RFC 5952 section 5; except `::ffff:0:0`).
 */
export function formatIp(ip: IpAddr): string {
  if (ip.family === 4) return formatV4(ip.value);
  const v = ip.value;
  // mixed notation for mapped addresses; ::ffff:0:0 (the /96 network itself) stays hex
  if (v >> 32n === MAPPED_PREFIX && (v & 0xffffffffn) !== 0n) return `::ffff:${formatV4(v & 0xffffffffn)}`;
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(":");
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

// ---------------------------------------------------------------- CIDRs

function hostMask(family: 4 | 6, prefix: number): bigint {
  return (1n << BigInt(familyBits(family) - prefix)) - 1n;
}

/** Build a Cidr from a network address; the caller guarantees host bits are zero. */
export function makeCidr(family: 4 | 6, addr: bigint, prefix: number): Cidr {
  return { family, addr, prefix, text: `${formatIp({ family, value: addr })}/${prefix}` };
}

/** The network of `ip` at `prefix` bits (host bits cleared). */
export function networkOf(ip: IpAddr, prefix: number): Cidr {
  return makeCidr(ip.family, ip.value & ~hostMask(ip.family, prefix), prefix);
}

/** Lowest and highest address of a network. */
export function cidrRange(c: Cidr): { readonly first: bigint; readonly last: bigint } {
  return { first: c.addr, last: c.addr | hostMask(c.family, c.prefix) };
}

export function ipInCidr(ip: IpAddr, cidr: Cidr): boolean {
  if (ip.family !== cidr.family) return false;
  const shift = BigInt(familyBits(cidr.family) - cidr.prefix);
  return ip.value >> shift === cidr.addr >> shift;
}

/** true when `inner` lies entirely inside `outer` (same family). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefix <= inner.prefix && ipInCidr({ family: inner.family, value: inner.addr }, outer);
}

export type AddressCheck =
  | { readonly ok: true; readonly cidr: Cidr }
  | { readonly ok: false; readonly message: string; readonly fix: string };

/** What inet_aton would make of a short or leading-zero IPv4 form, for a concrete fix. */
function looseReading(text: string): string | null {
  const v = parseV4Loose(text);
  return v === null ? null : formatV4(v);
}

function checkAddressPart(text: string): { ok: true; ip: IpAddr } | { ok: false; message: string; fix: string } {
  const strict = parseIp(text);
  if (strict) return { ok: true, ip: strict };
  if (text.startsWith("[") || text.endsWith("]")) {
    const inner = text.replace(/^\[|\]$/g, "");
    return { ok: false, message: `'${text}': brackets are for URLs, not addresses in a policy`, fix: `write ${inner}` };
  }
  if (text.includes("%")) {
    const bare = text.slice(0, text.indexOf("%"));
    return { ok: false, message: `'${text}': IPv6 zone ids are not allowed in a policy`, fix: `write ${bare} (without the zone)` };
  }
  if (text.includes(":")) {
    return {
      ok: false,
      message: `'${text}' is not an IPv6 address (RFC 4291: eight groups of 1-4 hex digits, one '::' at most)`,
      fix: "write it like 2001:db8::1 or 2001:db8:0:0:0:0:0:1",
    };
  }
  if (/^[0-9]+(?:\.[0-9]+){3}$/.test(text) && text.split(".").some((p) => Number(p) > 255)) {
    return { ok: false, message: `'${text}': each IPv4 part must be 0..255`, fix: "write four decimal numbers 0..255, like 192.0.2.7" };
  }
  if (/^[0-9.x]+$/i.test(text)) {
    const parts = text.split(".");
    const reading = looseReading(text.toLowerCase());
    const decimal = parts.map((p) => (/^[0-9]+$/.test(p) ? String(Number(p)) : p)).join(".");
    if (parts.length === 4 && parts.every((p) => /^[0-9]+$/.test(p)) && parseIp(decimal)) {
      const octal = reading && reading !== decimal ? ` or ${reading} (octal, as inet_aton reads it)` : "";
      return {
        ok: false,
        message: `'${text}': a leading zero is ambiguous (octal to inet_aton and browsers, decimal to people)`,
        fix: `write ${decimal} (decimal)${octal}`,
      };
    }
    if (reading) {
      return {
        ok: false,
        message: `'${text}' is a short or non-decimal IPv4 form; a policy spells addresses as four decimal parts`,
        fix: `write ${reading} (what '${text}' means to inet_aton)`,
      };
    }
  }
  return { ok: false, message: `'${text}' is not an IP address`, fix: "write an address like 192.0.2.7 or 2001:db8::7, or a CIDR like 10.0.0.0/8" };
}

/**
 * Check an address or CIDR as written in a policy entry. An address becomes a /32 or /128.
 * Refused, each with a concrete fix: host bits set (`10.0.0.1/8` -> "write 10.0.0.0/8"),
 * prefix out of range, short and leading-zero IPv4 forms, brackets, zone ids.
 * Does not decide whether the text was meant as an address at all (the caller does).
 */
export function checkAddressEntry(text: string): AddressCheck {
  const slash = text.indexOf("/");
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const a = checkAddressPart(addrText);
  if (!a.ok) return a;
  const ip = a.ip;
  const bits = familyBits(ip.family);
  if (slash === -1) return { ok: true, cidr: makeCidr(ip.family, ip.value, bits) };
  const prefText = text.slice(slash + 1);
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(prefText) || Number(prefText) > bits) {
    return {
      ok: false,
      message: `'${text}': the prefix length must be a number 0..${bits} for IPv${ip.family}`,
      fix: `write ${addrText}/${ip.family === 4 ? "24" : "64"} or another length 0..${bits}`,
    };
  }
  const prefix = Number(prefText);
  const net = networkOf(ip, prefix);
  if (net.addr !== ip.value) {
    return {
      ok: false,
      message: `'${text}' has host bits set: ${formatIp(ip)} is not the start of a /${prefix} network`,
      fix: `write ${net.text} (the network), or ${formatIp(ip)}/${bits} for the single address`,
    };
  }
  return { ok: true, cidr: net };
}

/** A CIDR or address in strict policy syntax, or null (host bits must be zero). */
export function parseCidr(text: string): Cidr | null {
  const r = checkAddressEntry(text);
  return r.ok ? r.cidr : null;
}

/** The IPv4 address of an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else null. */
export function unmapV4(ip: IpAddr): IpAddr | null {
  if (ip.family !== 6 || ip.value >> 32n !== MAPPED_PREFIX) return null;
  return { family: 4, value: ip.value & 0xffffffffn };
}
