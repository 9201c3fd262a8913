/**
 * runtime/nflog/parse — the pcap stream `tcpdump -i nflog:N -U -w -` writes, decoded into
 * logged packets: pcap global header, records, the NFLOG header and TLVs of each record
 * (link type DLT_NFLOG = 239), and the IPv4/IPv6 header + TCP/UDP ports / ICMP type of the
 * logged payload.
 *
 * Map: bytes (any chunking) -> `createPcapDecoder().push(chunk)` -> `PcapRecord`s ->
 * `parseNflog(record)` -> `NflogPacket` (prefix, uid, payload, ...) -> `parseIpPacket(payload)`
 * -> `IpPacket` (addresses, protocol, ports). The reader (reader.ts) turns those into flow
 * events (map.ts).
 *
 * Failure model: every failure is an `NflogParseError` with a stable code, nothing else is
 * thrown. A bad record (`fatal: false`) is skipped: the pcap record header already told where
 * the next one starts. A bad stream (`fatal: true`: wrong magic or link type, an impossible
 * record length) cannot be resynchronised and stops the decoder. Every loop advances by at
 * least 4 bytes per step, so truncated or hostile input always ends.
 *
 * Byte order: the pcap headers are in the writer's order (the magic says which); the NFLOG
 * TLV length and type are in the capturing host's order, which for a live stream is the same
 * machine, so the magic's order is used for them too. TLV values are netlink attributes in
 * network order (big-endian). Pure: Buffer only, no I/O, no clock.
 */
import { formatIp } from "../../policy/addr.ts";

/** DLT_NFLOG / LINKTYPE_NFLOG */
export const LINKTYPE_NFLOG = 239;
/** Largest record the decoder accepts; anything larger means the stream is out of step. */
export const MAX_RECORD = 1 << 20;

/** NFLOG attribute types (linux/netfilter/nfnetlink_log.h, enum nfulnl_attr_type). */
export const NFULA = {
  PACKET_HDR: 1,
  MARK: 2,
  TIMESTAMP: 3,
  IFINDEX_INDEV: 4,
  IFINDEX_OUTDEV: 5,
  PAYLOAD: 9,
  PREFIX: 10,
  UID: 11,
  SEQ: 12,
  GID: 14,
} as const;

export type NflogParseCode =
  | "CF_NFLOG_PCAP_MAGIC" // not a pcap stream
  | "CF_NFLOG_LINKTYPE" // a pcap stream, but not of NFLOG records
  | "CF_NFLOG_RECORD_LENGTH" // a record header with an impossible length: the stream is out of step
  | "CF_NFLOG_SHORT" // a record too short for the NFLOG header
  | "CF_NFLOG_TLV" // a TLV whose length runs past the record or is below 4
  | "CF_NFLOG_NO_PAYLOAD" // no NFULA_PAYLOAD: nothing to say about the packet
  | "CF_NFLOG_IP"; // the payload is not a well-formed IPv4/IPv6 header

export class NflogParseError extends Error {
  readonly code: NflogParseCode;
  /** true: the stream cannot go on; false: only this record is bad */
  readonly fatal: boolean;
  constructor(code: NflogParseCode, message: string, fatal: boolean) {
    super(message);
    this.name = "NflogParseError";
    this.code = code;
    this.fatal = fatal;
  }
}

export interface PcapHeader {
  readonly littleEndian: boolean;
  /** record timestamps carry nanoseconds (magic a1b23c4d) instead of microseconds */
  readonly nanos: boolean;
  readonly snaplen: number;
  readonly linktype: number;
}

export interface PcapRecord {
  /** capture time in milliseconds since the epoch (fractional) */
  readonly timeMs: number;
  /** bytes as captured (caplen) */
  readonly data: Buffer;
  /** length on the wire (may exceed data.length when the snaplen cut it) */
  readonly origLen: number;
}

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

export function parsePcapHeader(buf: Buffer): PcapHeader {
  if (buf.length < GLOBAL_HEADER) throw new NflogParseError("CF_NFLOG_PCAP_MAGIC", `pcap header needs ${GLOBAL_HEADER} bytes, got ${buf.length}`, true);
  const le = buf.readUInt32LE(0);
  const be = buf.readUInt32BE(0);
  let littleEndian: boolean;
  let nanos: boolean;
  if (le === MAGIC_US || le === MAGIC_NS) {
    littleEndian = true;
    nanos = le === MAGIC_NS;
  } else if (be === MAGIC_US || be === MAGIC_NS) {
    littleEndian = false;
    nanos = be === MAGIC_NS;
  } else {
    throw new NflogParseError("CF_NFLOG_PCAP_MAGIC", `not a pcap stream (magic 0x${be.toString(16).padStart(8, "0")})`, true);
  }
  const u32 = (off: number): number => (littleEndian ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const snaplen = u32(16);
  // the upper bits of the link-type field carry FCS information; the type is the low 16 bits
  const linktype = u32(20) & 0xffff;
  if (linktype !== LINKTYPE_NFLOG) {
    throw new NflogParseError("CF_NFLOG_LINKTYPE", `pcap link type ${linktype}, expected NFLOG (${LINKTYPE_NFLOG})`, true);
  }
  return { littleEndian, nanos, snaplen, linktype };
}

export interface PcapDecoder {
  /**
   * Feed bytes; returns the records completed by them. When the stream breaks, the records
   * before the break are still returned and `failure()` says why; a push with nothing to
   * return, and every later push, throws the fatal NflogParseError.
   */
  push(chunk: Buffer): PcapRecord[];
  /** the fatal error that stopped the stream, or null */
  failure(): NflogParseError | null;
  /** the global header, once read */
  header(): PcapHeader | null;
  /** bytes held back waiting for the rest of a record */
  pending(): number;
}

/** An incremental decoder for a pcap byte stream of any chunking. */
export function createPcapDecoder(): PcapDecoder {
  let hdr: PcapHeader | null = null;
  let buf: Buffer = Buffer.alloc(0);
  let broken: NflogParseError | null = null;

  function push(chunk: Buffer): PcapRecord[] {
    if (broken) throw broken;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const out: PcapRecord[] = [];
    let off = 0;
    try {
      if (!hdr) {
        if (buf.length < GLOBAL_HEADER) return out;
        hdr = parsePcapHeader(buf);
        off = GLOBAL_HEADER;
      }
      const h = hdr;
      const u32 = (o: number): number => (h.littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
      const limit = Math.min(MAX_RECORD, Math.max(h.snaplen, 65_536));
      while (buf.length - off >= RECORD_HEADER) {
        const sec = u32(off);
        const frac = u32(off + 4);
        const incl = u32(off + 8);
        const orig = u32(off + 12);
        if (incl > limit) {
          throw new NflogParseError("CF_NFLOG_RECORD_LENGTH", `pcap record of ${incl} bytes (limit ${limit}): the stream is out of step`, true);
        }
        if (buf.length - off - RECORD_HEADER < incl) break;
        const start = off + RECORD_HEADER;
        // copy: the record outlives this chunk's buffer, which is reused for the remainder
        const data = Buffer.from(buf.subarray(start, start + incl));
        out.push({ timeMs: sec * 1000 + (h.nanos ? frac / 1e6 : frac / 1e3), data, origLen: orig });
        off = start + incl;
      }
    } catch (e) {
      broken = e instanceof NflogParseError ? e : new NflogParseError("CF_NFLOG_PCAP_MAGIC", String(e), true);
      buf = Buffer.alloc(0);
      // the records before the break are good: hand them out; the next push throws
      if (out.length) return out;
      throw broken;
    }
    buf = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
    return out;
  }

  return { push, failure: () => broken, header: () => hdr, pending: () => buf.length };
}

/** One NFLOG message: what the kernel's `log group N` statement sent. */
export interface NflogPacket {
  /** NFPROTO of the hook: 2 (IPv4), 10 (IPv6), 1 (inet), 7 (bridge), ... */
  readonly family: number;
  /** the NFLOG group (resource id) */
  readonly group: number;
  /** the `prefix "..."` of the log statement, "" when none */
  readonly prefix: string;
  /** link-layer protocol from NFULA_PACKET_HDR (0x0800 IPv4, 0x86dd IPv6), null when absent */
  readonly hwProtocol: number | null;
  readonly hook: number | null;
  readonly mark: number | null;
  /** kernel timestamp in ms (NFULA_TIMESTAMP), null when absent */
  readonly timeMs: number | null;
  readonly indev: number | null;
  readonly outdev: number | null;
  /** socket owner of a locally generated packet (NFULA_UID/GID), null when unknown */
  readonly uid: number | null;
  readonly gid: number | null;
  /** the network-layer packet as logged (possibly cut by the snaplen) */
  readonly payload: Buffer | null;
}

const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Decode one DLT_NFLOG record. `littleEndian` is the TLV header order (the pcap magic's).
 * Unknown TLVs are skipped; a TLV seen twice keeps its first value.
 */
export function parseNflog(data: Buffer, littleEndian: boolean): NflogPacket {
  if (data.length < 4) throw new NflogParseError("CF_NFLOG_SHORT", `NFLOG record of ${data.length} bytes, needs at least 4`, false);
  const family = data.readUInt8(0);
  const group = data.readUInt16BE(2);
  let prefix: string | null = null;
  let hwProtocol: number | null = null;
  let hook: number | null = null;
  let mark: number | null = null;
  let timeMs: number | null = null;
  let indev: number | null = null;
  let outdev: number | null = null;
  let uid: number | null = null;
  let gid: number | null = null;
  let payload: Buffer | null = null;
  let off = 4;
  while (data.length - off >= 4) {
    const len = littleEndian ? data.readUInt16LE(off) : data.readUInt16BE(off);
    // NLA_F_NESTED and NLA_F_NET_BYTEORDER live in the top two bits of the type
    const type = (littleEndian ? data.readUInt16LE(off + 2) : data.readUInt16BE(off + 2)) & 0x3fff;
    if (len < 4) throw new NflogParseError("CF_NFLOG_TLV", `TLV at offset ${off} has length ${len} (< 4)`, false);
    if (off + len > data.length) {
      // the snaplen cuts the record; the payload comes last, and a cut payload is still useful
      if (type === NFULA.PAYLOAD && payload === null) {
        payload = Buffer.from(data.subarray(off + 4));
        break;
      }
      throw new NflogParseError("CF_NFLOG_TLV", `TLV type ${type} at offset ${off} runs ${off + len - data.length} bytes past the record`, false);
    }
    const v = data.subarray(off + 4, off + len);
    switch (type) {
      case NFULA.PACKET_HDR:
        if (v.length >= 3 && hwProtocol === null) {
          hwProtocol = v.readUInt16BE(0);
          hook = v.readUInt8(2);
        }
        break;
      case NFULA.MARK:
        if (v.length >= 4 && mark === null) mark = v.readUInt32BE(0);
        break;
      case NFULA.TIMESTAMP:
        // struct nfulnl_msg_packet_timestamp { __aligned_be64 sec, usec; }
        if (v.length >= 16 && timeMs === null) timeMs = Number(v.readBigUInt64BE(0)) * 1000 + Number(v.readBigUInt64BE(8)) / 1000;
        break;
      case NFULA.IFINDEX_INDEV:
        if (v.length >= 4 && indev === null) indev = v.readUInt32BE(0);
        break;
      case NFULA.IFINDEX_OUTDEV:
        if (v.length >= 4 && outdev === null) outdev = v.readUInt32BE(0);
        break;
      case NFULA.PAYLOAD:
        if (payload === null) payload = Buffer.from(v);
        break;
      case NFULA.PREFIX:
        if (prefix === null) {
          const nul = v.indexOf(0);
          prefix = v.subarray(0, nul < 0 ? v.length : nul).toString("utf8");
        }
        break;
      case NFULA.UID:
        if (v.length >= 4 && uid === null) uid = v.readUInt32BE(0);
        break;
      case NFULA.GID:
        if (v.length >= 4 && gid === null) gid = v.readUInt32BE(0);
        break;
      default:
        break;
    }
    off += align4(len);
  }
  return { family, group, prefix: prefix ?? "", hwProtocol, hook, mark, timeMs, indev, outdev, uid, gid, payload };
}

export type L4 = "tcp" | "udp" | "icmp";

/** The network and transport headers of a logged packet. */
export interface IpPacket {
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  /** IP protocol number of the transport (after IPv6 extension headers) */
  readonly protocol: number;
  /** tcp/udp/icmp (ICMPv6 is "icmp"); null for any other protocol */
  readonly l4: L4 | null;
  /** null for non-first fragments, ICMP, other protocols, or a transport header cut short */
  readonly srcPort: number | null;
  readonly dstPort: number | null;
  readonly icmpType: number | null;
  readonly icmpCode: number | null;
  /** true when this is a fragment other than the first (no transport header in it) */
  readonly fragment: boolean;
}

const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, HOPOPTS: 0, ROUTING: 43, FRAGMENT: 44, AH: 51, NONE: 59, DSTOPTS: 60 } as const;

function v4Text(b: Buffer, off: number): string {
  return `${b[off] ?? 0}.${b[off + 1] ?? 0}.${b[off + 2] ?? 0}.${b[off + 3] ?? 0}`;
}

function v6Text(b: Buffer, off: number): string {
  return formatIp({ family: 6, value: (b.readBigUInt64BE(off) << 64n) | b.readBigUInt64BE(off + 8) });
}

function l4Of(protocol: number, family: 4 | 6): L4 | null {
  if (protocol === IPPROTO.TCP) return "tcp";
  if (protocol === IPPROTO.UDP) return "udp";
  if (family === 4 ? protocol === IPPROTO.ICMP : protocol === IPPROTO.ICMPV6) return "icmp";
  return null;
}

function transport(b: Buffer, off: number, protocol: number, family: 4 | 6, src: string, dst: string, fragment: boolean): IpPacket {
  const l4 = l4Of(protocol, family);
  let srcPort: number | null = null;
  let dstPort: number | null = null;
  let icmpType: number | null = null;
  let icmpCode: number | null = null;
  if (!fragment && (l4 === "tcp" || l4 === "udp") && b.length - off >= 4) {
    srcPort = b.readUInt16BE(off);
    dstPort = b.readUInt16BE(off + 2);
  }
  if (!fragment && l4 === "icmp" && b.length - off >= 2) {
    icmpType = b.readUInt8(off);
    icmpCode = b.readUInt8(off + 1);
  }
  return { family, src, dst, protocol, l4, srcPort, dstPort, icmpType, icmpCode, fragment };
}

/**
 * Parse the IP header at the start of `b` (the version nibble says which family). The
 * transport header may be missing (snaplen, fragments): its fields are then null, which is
 * not an error. Only an IP header that cannot be read is.
 */
export function parseIpPacket(b: Buffer): IpPacket {
  if (b.length < 1) throw new NflogParseError("CF_NFLOG_IP", "empty payload", false);
  const version = (b[0] ?? 0) >> 4;
  if (version === 4) {
    const ihl = ((b[0] ?? 0) & 0x0f) * 4;
    if (ihl < 20) throw new NflogParseError("CF_NFLOG_IP", `IPv4 header length ${ihl} (< 20)`, false);
    if (b.length < ihl) throw new NflogParseError("CF_NFLOG_IP", `IPv4 header of ${ihl} bytes cut at ${b.length}`, false);
    const fragOffset = b.readUInt16BE(6) & 0x1fff;
    return transport(b, ihl, b.readUInt8(9), 4, v4Text(b, 12), v4Text(b, 16), fragOffset !== 0);
  }
  if (version === 6) {
    if (b.length < 40) throw new NflogParseError("CF_NFLOG_IP", `IPv6 header cut at ${b.length} bytes (< 40)`, false);
    const src = v6Text(b, 8);
    const dst = v6Text(b, 24);
    let next = b.readUInt8(6);
    let off = 40;
    let fragment = false;
    // each extension header is at least 8 bytes long, so this walk ends
    for (;;) {
      if (next === IPPROTO.HOPOPTS || next === IPPROTO.ROUTING || next === IPPROTO.DSTOPTS) {
        if (b.length - off < 2) return transport(b, b.length, next, 6, src, dst, fragment);
        const n = b.readUInt8(off);
        off += ((b[off + 1] ?? 0) + 1) * 8;
        next = n;
      } else if (next === IPPROTO.FRAGMENT) {
        if (b.length - off < 8) return transport(b, b.length, next, 6, src, dst, fragment);
        const n = b.readUInt8(off);
        if ((b.readUInt16BE(off + 2) & 0xfff8) !== 0) fragment = true;
        off += 8;
        next = n;
      } else if (next === IPPROTO.AH) {
        if (b.length - off < 2) return transport(b, b.length, next, 6, src, dst, fragment);
        const n = b.readUInt8(off);
        off += ((b[off + 1] ?? 0) + 2) * 4;
        next = n;
      } else {
        return transport(b, Math.min(off, b.length), next, 6, src, dst, fragment);
      }
    }
  }
  throw new NflogParseError("CF_NFLOG_IP", `payload is not IPv4 or IPv6 (version ${version})`, false);
}
