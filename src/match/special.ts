/**
 * match/special — special-purpose addresses: the ranges a name or `any` must never reach
 * unless the policy lists them under `internal` (PRODUCT.md section 3).
 *
 * Sources:
 *  - IANA IPv4 Special-Purpose Address Registry
 *    https://www.iana.org/assignments/iana-ipv4-special-registry/ (RFC 6890 and updates)
 *  - IANA IPv6 Special-Purpose Address Registry
 *    https://www.iana.org/assignments/iana-ipv6-special-registry/ (RFC 6890 and updates)
 *  - IANA IPv4/IPv6 Multicast Address Space registries (224.0.0.0/4, ff00::/8)
 *  - IANA IPv6 Address Space registry: everything outside 2000::/3 that no entry above
 *    names is reserved or unassigned, and treated as special (fail closed)
 *  - cloud provider documentation for metadata endpoints (AWS IMDS and ECS/EKS agents,
 *    GCP, Azure, OCI, DigitalOcean at 169.254.169.254; AWS IPv6 fd00:ec2::254; Alibaba
 *    100.100.100.200; Azure WireServer 168.63.129.16, a public address used only inside Azure)
 *  - IPv6 forms that embed IPv4 (RFC 4291 mapped/compatible, RFC 6052 NAT64, RFC 3056 6to4,
 *    RFC 4380 Teredo); `classifySpecial` also returns the embedded IPv4 address.
 *
 * Every registry entry counts as special, including the few anycast services the registry
 * marks globally reachable (AS112, AMT, PCP/TURN anycast, ORCHIDv2): an agent has no business
 * reaching them through a name or `any`; a policy that needs one lists it under `internal`
 * or writes the literal address in a rule.
 *
 * `internal` and embedded forms (decided here, in one place):
 *  - IPv4-mapped (::ffff:a.b.c.d) and NAT64 well-known prefix (64:ff9b::a.b.c.d) reach exactly
 *    the embedded IPv4 host, so they count as internal when the IPv6 address OR the embedded
 *    IPv4 address is inside an `internal` range (`::ffff:10.0.0.1` with internal 10.0.0.0/8
 *    is internal).
 *  - 6to4, Teredo, IPv4-compatible and local-use NAT64 (64:ff9b:1::/48) are tunnels or
 *    operator-defined translations: the embedded IPv4 is a relay or an unknown layout, not
 *    the destination, so only the IPv6 address itself being inside `internal` counts. A 6to4
 *    address embedding a public IPv4 is still special.
 *
 * Pure: no I/O. Lookup is longest-prefix over tables built once at module load (immutable).
 */
import type { Cidr } from "../policy/ir.ts";
import { ipInCidr, parseCidr, type IpAddr } from "../policy/addr.ts";

export interface SpecialRange {
  /** canonical CIDR text of the most specific matching entry, e.g. "10.0.0.0/8" */
  readonly range: string;
  readonly name: string;
  /** for IPv6 forms that embed an IPv4 address: that address */
  readonly embedded?: IpAddr;
}

/** How an IPv6 range embeds IPv4, and whether the embedded address is the real destination. */
type Embed = "mapped" | "compatible" | "nat64" | "6to4" | "teredo";

interface Entry {
  readonly cidr: Cidr;
  readonly name: string;
  readonly embed?: Embed;
}

const TABLE: ReadonlyArray<readonly [string, string, Embed?]> = [
  // IPv4 Special-Purpose Address Registry
  ["0.0.0.0/8", "this network (RFC 791)"],
  ["0.0.0.0/32", "this host on this network (RFC 1122)"],
  ["10.0.0.0/8", "private-use (RFC 1918)"],
  ["100.64.0.0/10", "shared address space, CGNAT (RFC 6598)"],
  ["127.0.0.0/8", "loopback (RFC 1122)"],
  ["169.254.0.0/16", "link-local (RFC 3927)"],
  ["172.16.0.0/12", "private-use (RFC 1918)"],
  ["192.0.0.0/24", "IETF protocol assignments (RFC 6890)"],
  ["192.0.0.0/29", "IPv4 service continuity prefix (RFC 7335)"],
  ["192.0.0.8/32", "IPv4 dummy address (RFC 7600)"],
  ["192.0.0.9/32", "Port Control Protocol anycast (RFC 7723)"],
  ["192.0.0.10/32", "TURN anycast (RFC 8155)"],
  ["192.0.0.170/32", "NAT64/DNS64 discovery (RFC 8880)"],
  ["192.0.0.171/32", "NAT64/DNS64 discovery (RFC 8880)"],
  ["192.0.2.0/24", "documentation, TEST-NET-1 (RFC 5737)"],
  ["192.31.196.0/24", "AS112-v4 (RFC 7535)"],
  ["192.52.193.0/24", "AMT (RFC 7450)"],
  ["192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"],
  ["192.168.0.0/16", "private-use (RFC 1918)"],
  ["192.175.48.0/24", "direct delegation AS112 service (RFC 7534)"],
  ["198.18.0.0/15", "benchmarking (RFC 2544)"],
  ["198.51.100.0/24", "documentation, TEST-NET-2 (RFC 5737)"],
  ["203.0.113.0/24", "documentation, TEST-NET-3 (RFC 5737)"],
  ["240.0.0.0/4", "reserved (RFC 1112)"],
  ["255.255.255.255/32", "limited broadcast (RFC 919)"],
  // IPv4 multicast
  ["224.0.0.0/4", "multicast (RFC 5771)"],
  // cloud metadata and platform endpoints
  ["169.254.169.254/32", "cloud metadata (AWS, GCP, Azure, OCI, DigitalOcean, ...)"],
  ["169.254.170.2/32", "cloud metadata (AWS ECS task credentials)"],
  ["169.254.170.23/32", "cloud metadata (AWS EKS Pod Identity agent)"],
  ["100.100.100.200/32", "cloud metadata (Alibaba Cloud)"],
  ["168.63.129.16/32", "cloud platform endpoint (Azure WireServer)"],
  // IPv6 Special-Purpose Address Registry
  ["::/128", "unspecified address (RFC 4291)"],
  ["::1/128", "loopback (RFC 4291)"],
  ["::ffff:0:0/96", "IPv4-mapped (RFC 4291)", "mapped"],
  ["::/96", "IPv4-compatible, deprecated (RFC 4291)", "compatible"],
  ["64:ff9b::/96", "IPv4/IPv6 translation, NAT64 (RFC 6052)", "nat64"],
  ["64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"],
  ["100::/64", "discard-only (RFC 6666)"],
  ["100:0:0:1::/64", "dummy IPv6 prefix (RFC 9780)"],
  ["2001::/23", "IETF protocol assignments (RFC 2928)"],
  ["2001::/32", "Teredo (RFC 4380)", "teredo"],
  ["2001:1::1/128", "Port Control Protocol anycast (RFC 7723)"],
  ["2001:1::2/128", "TURN anycast (RFC 8155)"],
  ["2001:1::3/128", "DNS-SD service registration anycast (RFC 9665)"],
  ["2001:2::/48", "benchmarking (RFC 5180)"],
  ["2001:3::/32", "AMT (RFC 7450)"],
  ["2001:4:112::/48", "AS112-v6 (RFC 7535)"],
  ["2001:10::/28", "deprecated ORCHID (RFC 4843)"],
  ["2001:20::/28", "ORCHIDv2 (RFC 7343)"],
  ["2001:30::/28", "drone remote ID DETs (RFC 9374)"],
  ["2001:db8::/32", "documentation (RFC 3849)"],
  ["2002::/16", "6to4 (RFC 3056)", "6to4"],
  ["2620:4f:8000::/48", "direct delegation AS112 service (RFC 7534)"],
  ["3fff::/20", "documentation (RFC 9637)"],
  ["5f00::/16", "segment routing SIDs (RFC 9602)"],
  ["fc00::/7", "unique-local (RFC 4193)"],
  ["fe80::/10", "link-local unicast (RFC 4291)"],
  ["fec0::/10", "deprecated site-local (RFC 3879)"],
  ["ff00::/8", "multicast (RFC 4291)"],
  ["fd00:ec2::254/128", "cloud metadata (AWS IMDS IPv6)"],
  ["fd00:ec2::23/128", "cloud metadata (AWS EKS Pod Identity agent IPv6)"],
  // IPv6 Address Space registry: reserved/unassigned outside 2000::/3
  ...["::/8", "100::/8", "200::/7", "400::/6", "800::/5", "1000::/4", "4000::/3", "6000::/3", "8000::/3", "a000::/3", "c000::/3", "e000::/4", "f000::/5", "f800::/6", "fe00::/9"].map(
    (c) => [c, "reserved by IETF, outside 2000::/3 global unicast (IPv6 Address Space registry)"] as const,
  ),
];

function buildEntries(): Entry[] {
  const out: Entry[] = [];
  for (const [text, name, embed] of TABLE) {
    const cidr = parseCidr(text);
    if (!cidr) throw new Error(`special-purpose table: bad CIDR ${text}`);
    out.push(embed ? { cidr, name, embed } : { cidr, name });
  }
  return out;
}

/** All special-purpose entries, for docs, lint and tests. */
export const SPECIAL_RANGES: readonly Entry[] = buildEntries();

/**
 * Longest-prefix tables. IPv4 keys are numbers. IPv6 is split: entries with prefix <= 32
 * are keyed by the top 32 bits as a number; longer entries by bigint, looked at only when
 * the top 32 bits belong to one of them (most addresses never touch a bigint key).
 */
interface Tables {
  /** prefilter: 1 where some entry may contain addresses with this first octet (IPv4) */
  readonly v4Top8: Uint8Array;
  /** prefilter: 1 where some entry may contain addresses with these first 16 bits (IPv6) */
  readonly v6Top16: Uint8Array;
  readonly v4: ReadonlyArray<readonly [number, Map<number, Entry>]>;
  readonly v6short: ReadonlyArray<readonly [number, Map<number, Entry>]>;
  readonly v6long: ReadonlyArray<readonly [bigint, Map<bigint, Entry>]>;
  readonly v6longTops: ReadonlySet<number>;
}

function topKey(top: number, prefix: number): number {
  return prefix === 0 ? 0 : top >>> (32 - prefix);
}

function buildTables(entries: readonly Entry[]): Tables {
  const v4 = new Map<number, Map<number, Entry>>();
  const v6s = new Map<number, Map<number, Entry>>();
  const v6l = new Map<number, Map<bigint, Entry>>();
  const tops = new Set<number>();
  const v4Top8 = new Uint8Array(256);
  const v6Top16 = new Uint8Array(65536);
  const mark = (arr: Uint8Array, bits: number, top: number, prefix: number): void => {
    // top: the entry's first `bits` bits; a prefix shorter than `bits` covers a run of values
    const span = prefix >= bits ? 1 : 2 ** (bits - prefix);
    arr.fill(1, top, top + span);
  };
  const put = <K>(m: Map<number, Map<K, Entry>>, p: number, k: K, e: Entry): void => {
    let inner = m.get(p);
    if (!inner) m.set(p, (inner = new Map()));
    if (inner.has(k)) throw new Error(`special-purpose table: duplicate ${e.cidr.text}`);
    inner.set(k, e);
  };
  for (const e of entries) {
    const { family, addr, prefix } = e.cidr;
    if (family === 4) mark(v4Top8, 8, Number(addr >> 24n), prefix);
    else mark(v6Top16, 16, Number(addr >> 112n), prefix);
    if (family === 4) put(v4, prefix, topKey(Number(addr), prefix), e);
    else if (prefix <= 32) put(v6s, prefix, topKey(Number(addr >> 96n), prefix), e);
    else {
      put(v6l, prefix, addr >> BigInt(128 - prefix), e);
      tops.add(Number(addr >> 96n));
    }
  }
  const desc = <K>(m: Map<number, Map<K, Entry>>): Array<[number, Map<K, Entry>]> => [...m.entries()].sort((a, b) => b[0] - a[0]);
  return {
    v4Top8,
    v6Top16,
    v4: desc(v4),
    v6short: desc(v6s),
    v6long: desc(v6l).map(([p, m]) => [BigInt(128 - p), m] as const),
    v6longTops: tops,
  };
}

const TABLES = buildTables(SPECIAL_RANGES);

function lookup(ip: IpAddr): Entry | undefined {
  if (ip.family === 4) {
    const v = Number(ip.value);
    if (TABLES.v4Top8[v >>> 24] === 0) return undefined;
    for (const [p, m] of TABLES.v4) {
      const e = m.get(topKey(v, p));
      if (e) return e;
    }
    return undefined;
  }
  const top = Number(ip.value >> 96n);
  if (TABLES.v6Top16[top >>> 16] === 0) return undefined;
  if (TABLES.v6longTops.has(top)) {
    for (const [shift, m] of TABLES.v6long) {
      const e = m.get(ip.value >> shift);
      if (e) return e;
    }
  }
  for (const [p, m] of TABLES.v6short) {
    const e = m.get(topKey(top, p));
    if (e) return e;
  }
  return undefined;
}

function embeddedV4(ip: IpAddr, embed: Embed): IpAddr {
  const v = ip.value;
  switch (embed) {
    case "mapped":
    case "compatible":
    case "nat64":
      return { family: 4, value: v & 0xffffffffn };
    case "6to4":
      return { family: 4, value: (v >> 80n) & 0xffffffffn };
    case "teredo":
      // the client's address, obfuscated (bits inverted) in the low 32 bits (RFC 4380 4.)
      return { family: 4, value: ~v & 0xffffffffn };
    default: {
      const never: never = embed;
      throw new Error(`unhandled embed ${String(never)}`);
    }
  }
}

/**
 * Prefilters for the hot path (no bigint): false means `ip` is certainly not special-purpose
 * (so not special for any `internal`); true means ask the full check. `v` is an IPv4
 * address as a number, `top32` the most significant 32 bits of an IPv6 address.
 */
export function maybeSpecial4(v: number): boolean {
  return TABLES.v4Top8[v >>> 24] !== 0;
}
export function maybeSpecial6(top32: number): boolean {
  return TABLES.v6Top16[top32 >>> 16] !== 0;
}

/** The embedded IPv4 is the real destination (translation), not a relay (tunnel). */
function embedIsDestination(embed: Embed): boolean {
  switch (embed) {
    case "mapped":
    case "nat64":
      return true;
    case "compatible":
    case "6to4":
    case "teredo":
      return false;
    default: {
      const never: never = embed;
      throw new Error(`unhandled embed ${String(never)}`);
    }
  }
}

/** The most specific special-purpose range containing `ip`, or null for a public address. */
export function classifySpecial(ip: IpAddr): SpecialRange | null {
  const e = lookup(ip);
  if (!e) return null;
  if (e.embed) return { range: e.cidr.text, name: e.name, embedded: embeddedV4(ip, e.embed) };
  return { range: e.cidr.text, name: e.name };
}

/**
 * A fast predicate for one policy's `internal` list: true when `ip` is special-purpose and
 * not covered by `internal` (see the header for embedded forms). Build once per policy.
 */
export function compileSpecialCheck(internal: readonly Cidr[]): (ip: IpAddr) => boolean {
  const inInternal = (ip: IpAddr): boolean => {
    for (const c of internal) if (ipInCidr(ip, c)) return true;
    return false;
  };
  return (ip: IpAddr): boolean => {
    const e = lookup(ip);
    if (!e) return false;
    if (internal.length === 0) return true;
    if (inInternal(ip)) return false;
    if (e.embed && embedIsDestination(e.embed) && inInternal(embeddedV4(ip, e.embed))) return false;
    return true;
  };
}

/** true when `ip` is special-purpose and not covered by an `internal` range. */
export function isSpecial(ip: IpAddr, internal: readonly Cidr[]): boolean {
  return compileSpecialCheck(internal)(ip);
}
