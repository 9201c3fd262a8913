/**
 * runtime/dns/codec — the hardened edge between bytes and DNS messages.
 *
 * Map: client bytes -> `parseQuery()` (our own strict parser: one question, letters/digits/
 * hyphen/underscore labels, no compression, bounded EDNS0) -> the guard. Upstream bytes ->
 * `decodeResponse()` (dns-packet inside size limits and try/catch) -> answer.ts. The guard's
 * reply -> `encodeReply()` (dns-packet, truncated to the client's UDP size with TC set).
 *
 * Never throws on input: every malformed packet becomes a value (`drop` or an rcode to send).
 * dns-packet only follows compression pointers that point strictly backwards, so a
 * compression loop cannot hang it (tested with loop packets and a fuzzer); our query parser
 * refuses pointers in the question altogether.
 *
 * Pure: imports dns-packet and Buffer only; no sockets, no clock.
 */
import * as dnsPacket from "dns-packet";
import { createRequire } from "node:module";
import type { Answer, Packet, Question } from "dns-packet";

/** The largest message accepted from anyone (TCP frame limit). */
export const MAX_MESSAGE = 65_535;
/** Queries are small; anything bigger than this is refused with FORMERR. */
export const MAX_QUERY = 4096;
/** The UDP payload size clawfence advertises upstream and caps client sizes at (DNS flag day 2020). */
export const EDNS_UDP_SIZE = 1232;

export type RcodeName = "NOERROR" | "FORMERR" | "SERVFAIL" | "NXDOMAIN" | "NOTIMP" | "REFUSED";
const RCODE: Record<RcodeName, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

export interface ParsedQuery {
  readonly id: number;
  readonly rd: boolean;
  readonly cd: boolean;
  /** the question name as the client wrote it (case kept, for 0x20 clients), no trailing dot */
  readonly qnameRaw: string;
  /** lowercase, no trailing dot; "" for the root */
  readonly qname: string;
  readonly qtype: number;
  readonly qclass: number;
  /** null: no OPT record (plain DNS, 512-byte UDP replies) */
  readonly edns: { readonly udpSize: number; readonly do: boolean } | null;
}

export type QueryParse =
  | { readonly ok: true; readonly query: ParsedQuery }
  /** not a query we may answer at all (too short to carry an id, or a response): stay silent */
  | { readonly ok: false; readonly action: "drop"; readonly why: string }
  /** answer with `rcode`, echoing id and (when parsed) the question */
  | {
      readonly ok: false;
      readonly action: "reply";
      readonly rcode: RcodeName;
      readonly why: string;
      readonly id: number;
      readonly rd: boolean;
      readonly question: { readonly qnameRaw: string; readonly qtype: number; readonly qclass: number } | null;
    };

const LABEL_BYTE = new Uint8Array(256);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") LABEL_BYTE[c.charCodeAt(0)] = 1;

/**
 * Parse a client's query. Strict on purpose: a name with bytes outside [A-Za-z0-9_-] in a
 * label (binary labels, dots inside labels, spaces) is answered REFUSED with `why`
 * "label-bytes" — such names can only be data, never a host to connect to.
 */
export function parseQuery(buf: Uint8Array): QueryParse {
  if (buf.length < 12) return { ok: false, action: "drop", why: "shorter than a DNS header" };
  const id = (buf[0]! << 8) | buf[1]!;
  const flags = (buf[2]! << 8) | buf[3]!;
  if (flags & 0x8000) return { ok: false, action: "drop", why: "a response, not a query" };
  const rd = (flags & 0x0100) !== 0;
  const cd = (flags & 0x0010) !== 0;
  const fail = (rcode: RcodeName, why: string, question: { qnameRaw: string; qtype: number; qclass: number } | null = null): QueryParse => ({
    ok: false,
    action: "reply",
    rcode,
    why,
    id,
    rd,
    question,
  });
  if (buf.length > MAX_QUERY) return fail("FORMERR", `query of ${buf.length} bytes is larger than ${MAX_QUERY}`);
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return fail("NOTIMP", `opcode ${opcode} is not supported`);
  const qd = (buf[4]! << 8) | buf[5]!;
  const an = (buf[6]! << 8) | buf[7]!;
  const ns = (buf[8]! << 8) | buf[9]!;
  const ar = (buf[10]! << 8) | buf[11]!;
  if (qd !== 1) return fail("FORMERR", `${qd} questions (exactly one is supported)`);
  if (an !== 0 || ns !== 0) return fail("FORMERR", "a query with answer or authority records");
  if (ar > 2) return fail("FORMERR", `${ar} additional records`);

  // question name: plain labels only
  let off = 12;
  const labels: string[] = [];
  let wire = 1;
  let badBytes = false;
  for (;;) {
    if (off >= buf.length) return fail("FORMERR", "question name runs past the end");
    const len = buf[off]!;
    off++;
    if (len === 0) break;
    if (len > 63) return fail("FORMERR", len >= 0xc0 ? "compression pointer in the question" : "bad label length");
    if (off + len > buf.length) return fail("FORMERR", "label runs past the end");
    wire += len + 1;
    if (wire > 255) return fail("FORMERR", "name longer than 255 bytes");
    let s = "";
    for (let i = off; i < off + len; i++) {
      const b = buf[i]!;
      if (LABEL_BYTE[b] !== 1) badBytes = true;
      s += String.fromCharCode(b);
    }
    labels.push(s);
    off += len;
  }
  if (off + 4 > buf.length) return fail("FORMERR", "question type/class missing");
  const qtype = (buf[off]! << 8) | buf[off + 1]!;
  const qclass = (buf[off + 2]! << 8) | buf[off + 3]!;
  off += 4;
  const qnameRaw = labels.join(".");
  const question = { qnameRaw: badBytes ? "" : qnameRaw, qtype, qclass };
  if (badBytes) return fail("REFUSED", "label-bytes", null);

  // additional section: at most one OPT (EDNS0), anything else is skipped within bounds
  let edns: ParsedQuery["edns"] = null;
  for (let i = 0; i < ar; i++) {
    const nameEnd = skipName(buf, off);
    if (nameEnd < 0) return fail("FORMERR", "bad name in additional section", question);
    off = nameEnd;
    if (off + 10 > buf.length) return fail("FORMERR", "additional record runs past the end", question);
    const type = (buf[off]! << 8) | buf[off + 1]!;
    const klass = (buf[off + 2]! << 8) | buf[off + 3]!;
    const version = buf[off + 5]!;
    const eflags = (buf[off + 6]! << 8) | buf[off + 7]!;
    const rdlen = (buf[off + 8]! << 8) | buf[off + 9]!;
    off += 10;
    if (off + rdlen > buf.length) return fail("FORMERR", "additional record data runs past the end", question);
    off += rdlen;
    if (type === 41) {
      if (edns !== null) return fail("FORMERR", "two OPT records", question);
      if (version !== 0) return fail("FORMERR", `EDNS version ${version} (only 0 is supported)`, question);
      edns = { udpSize: Math.max(512, klass), do: (eflags & 0x8000) !== 0 };
    }
  }
  return { ok: true, query: { id, rd, cd, qnameRaw, qname: qnameRaw.toLowerCase(), qtype, qclass, edns } };
}

/** End offset of a (possibly compressed) name at `off`, or -1. Bounded: at most 128 steps. */
function skipName(buf: Uint8Array, off: number): number {
  for (let steps = 0; steps < 128; steps++) {
    if (off >= buf.length) return -1;
    const len = buf[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1;
    if (len > 63) return -1;
    off += len + 1;
  }
  return -1;
}

export type ResponseDecode = { readonly ok: true; readonly packet: Packet } | { readonly ok: false; readonly why: string };

/** Decode an upstream message. Never throws; refuses messages over MAX_MESSAGE. */
export function decodeResponse(buf: Uint8Array): ResponseDecode {
  if (buf.length < 12) return { ok: false, why: "shorter than a DNS header" };
  if (buf.length > MAX_MESSAGE) return { ok: false, why: "larger than 65535 bytes" };
  try {
    const packet = dnsPacket.decode(Buffer.from(buf.buffer, buf.byteOffset, buf.length));
    return { ok: true, packet };
  } catch (err) {
    return { ok: false, why: err instanceof Error ? err.message : String(err) };
  }
}

export function rcodeOf(p: Packet): string {
  return (p as Packet & { rcode?: string }).rcode ?? "NOERROR";
}

/** The query clawfence sends upstream: fresh id, normalized name, our EDNS0, nothing of the client's. */
export function encodeUpstreamQuery(id: number, qname: string, qtype: number, cd: boolean): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED | (cd ? dnsPacket.CHECKING_DISABLED : 0),
    questions: [{ name: qname === "" ? "." : qname, type: wireTypeName(qtype) as Question["type"], class: "IN" }],
    additionals: [{ type: "OPT", name: ".", udpPayloadSize: EDNS_UDP_SIZE, flags: 0 } as unknown as Answer],
  });
}

export interface Reply {
  readonly id: number;
  readonly rd: boolean;
  readonly rcode: RcodeName;
  readonly question: { readonly qnameRaw: string; readonly qtype: number; readonly qclass: number } | null;
  readonly answers?: readonly Answer[];
  readonly authorities?: readonly Answer[];
  /** echo an OPT record with our UDP size (the client sent one) */
  readonly edns: boolean;
}

/**
 * Encode a reply. `maxSize` is the client's UDP limit (null over TCP): if the full message is
 * larger, the reply is cut to header + question with TC set, so the client retries over TCP.
 * Never throws: a record dns-packet cannot encode turns the reply into SERVFAIL.
 */
export function encodeReply(r: Reply, maxSize: number | null): Buffer {
  const full = tryEncode(r, true);
  if (full !== null && (maxSize === null || full.length <= maxSize)) return full;
  if (full === null) return tryEncode({ ...r, rcode: "SERVFAIL", answers: [], authorities: [] }, false) ?? minimalHeader(r.id, r.rd, "SERVFAIL");
  return tryEncode({ ...r, answers: [], authorities: [] }, false, true) ?? minimalHeader(r.id, r.rd, "SERVFAIL");
}

/**
 * A reply encoded once, to be stamped per query (a cache hit): `stampReply` writes the id,
 * the RD flag, the client's spelling of the question name and the aged TTLs into a copy.
 * The result is byte for byte what `encodeReply` gives for the same reply (dns-packet writes
 * names without compression, so the question name is the only place the client's case goes).
 */
export interface ReplyTemplate {
  readonly wire: Buffer;
  /** byte length of the question name (starts at offset 12) */
  readonly nameLength: number;
  /** offsets of the TTL fields of the answer and authority records */
  readonly ttlOffsets: readonly number[];
  /** their TTLs as encoded (elapsed 0) */
  readonly ttls: readonly number[];
}

/**
 * Encode `r` (any id, rd false, the question in lowercase) untruncated for stamping; null
 * when dns-packet cannot encode it (the caller then goes through `encodeReply`).
 */
export function replyTemplate(r: Reply): ReplyTemplate | null {
  if (r.question === null || r.question.qnameRaw === "") return null;
  const wire = tryEncode({ ...r, id: 0, rd: false }, true);
  if (wire === null) return null;
  const nameEnd = skipName(wire, 12);
  if (nameEnd < 0) return null;
  const records = ((wire[6]! << 8) | wire[7]!) + ((wire[8]! << 8) | wire[9]!);
  const ttlOffsets: number[] = [];
  const ttls: number[] = [];
  let off = nameEnd + 4;
  for (let i = 0; i < records; i++) {
    off = skipName(wire, off);
    if (off < 0 || off + 10 > wire.length) return null;
    ttlOffsets.push(off + 4);
    ttls.push(wire.readUInt32BE(off + 4));
    off += 10 + ((wire[off + 8]! << 8) | wire[off + 9]!);
  }
  return { wire, nameLength: nameEnd - 12, ttlOffsets, ttls };
}

/**
 * The reply of `t` for query `msg` (parsed by `parseQuery`: its question name starts at 12 and
 * has `t.nameLength` bytes), with every TTL reduced by `elapsedSec` (never below 0); null when
 * it does not fit `maxSize` (the caller then goes through `encodeReply`, which truncates).
 */
export function stampReply(t: ReplyTemplate, msg: Uint8Array, id: number, rd: boolean, elapsedSec: number, maxSize: number | null): Buffer | null {
  const w = t.wire;
  if (maxSize !== null && w.length > maxSize) return null;
  const out = Buffer.allocUnsafe(w.length);
  w.copy(out, 0, 0, w.length);
  out[0] = id >> 8;
  out[1] = id & 0xff;
  if (rd) out[2] = out[2]! | 0x01;
  out.set(msg.subarray(12, 12 + t.nameLength), 12);
  if (elapsedSec > 0) for (let i = 0; i < t.ttlOffsets.length; i++) out.writeUInt32BE(Math.max(0, t.ttls[i]! - elapsedSec), t.ttlOffsets[i]!);
  return out;
}

function tryEncode(r: Reply, withRecords: boolean, truncated = false): Buffer | null {
  try {
    const flags =
      (r.rd ? dnsPacket.RECURSION_DESIRED : 0) | dnsPacket.RECURSION_AVAILABLE | (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) | RCODE[r.rcode];
    const questions: Question[] = r.question
      ? [{ name: r.question.qnameRaw === "" ? "." : r.question.qnameRaw, type: wireTypeName(r.question.qtype) as Question["type"], class: className(r.question.qclass) as Question["class"] }]
      : [];
    const additionals = r.edns ? [{ type: "OPT", name: ".", udpPayloadSize: EDNS_UDP_SIZE, flags: 0 } as unknown as Answer] : [];
    return dnsPacket.encode({
      type: "response",
      id: r.id,
      flags,
      questions,
      answers: withRecords ? [...(r.answers ?? [])] : [],
      authorities: withRecords ? [...(r.authorities ?? [])] : [],
      additionals,
    });
  } catch {
    return null;
  }
}

function minimalHeader(id: number, rd: boolean, rcode: RcodeName): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(0x8000 | (rd ? 0x0100 : 0) | 0x0080 | RCODE[rcode], 2);
  return b;
}

const TYPE_NAMES: Record<number, string> = {
  1: "A",
  2: "NS",
  5: "CNAME",
  6: "SOA",
  10: "NULL",
  12: "PTR",
  13: "HINFO",
  15: "MX",
  16: "TXT",
  28: "AAAA",
  33: "SRV",
  35: "NAPTR",
  39: "DNAME",
  41: "OPT",
  43: "DS",
  46: "RRSIG",
  47: "NSEC",
  48: "DNSKEY",
  52: "TLSA",
  64: "SVCB",
  65: "HTTPS",
  255: "ANY",
  257: "CAA",
};

/** Mnemonic of a type number for people and events ("A", "HTTPS", "TYPE65399"). */
export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `TYPE${t}`;
}

/** dns-packet knows no SVCB/HTTPS codec; those and unknown types travel as "UNKNOWN_<n>" with raw rdata. */
export function wireTypeName(t: number): string {
  return t === 64 || t === 65 || TYPE_NAMES[t] === undefined ? `UNKNOWN_${t}` : (TYPE_NAMES[t] ?? `UNKNOWN_${t}`);
}

const TYPE_NUMBERS: Record<string, number> = Object.fromEntries(Object.entries(TYPE_NAMES).map(([n, s]) => [s, Number(n)]));

// dns-packet's own type table (no typings ship for this file)
const packetTypes = createRequire(import.meta.url)("dns-packet/types") as { toType(name: string): number };

/** Type number of a dns-packet type string ("A", "AFSDB", "UNKNOWN_65"); 0 when unknown. */
export function typeNumber(s: string): number {
  const u = s.toUpperCase();
  if (u.startsWith("UNKNOWN_")) return Number.parseInt(u.slice(8), 10) || 0;
  return TYPE_NUMBERS[u] ?? packetTypes.toType(u);
}

function className(c: number): string {
  switch (c) {
    case 1:
      return "IN";
    case 3:
      return "CH";
    case 4:
      return "HS";
    case 255:
      return "ANY";
    default:
      return `UNKNOWN_${c}`;
  }
}

/** Read one length-prefixed message from a TCP stream buffer; null when incomplete. */
export function frameAt(buf: Buffer, off: number): { msg: Buffer; next: number } | null {
  if (buf.length - off < 2) return null;
  const len = buf.readUInt16BE(off);
  if (buf.length - off - 2 < len) return null;
  return { msg: buf.subarray(off + 2, off + 2 + len), next: off + 2 + len };
}

export function frame(msg: Buffer): Buffer {
  const b = Buffer.alloc(2 + msg.length);
  b.writeUInt16BE(msg.length, 0);
  msg.copy(b, 2);
  return b;
}
