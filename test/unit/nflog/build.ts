/**
 * test/unit/nflog/build — hand-built pcap streams of DLT_NFLOG records for the parser and
 * reader tests: global header, record header, NFLOG header + TLVs (in either byte order),
 * IPv4/IPv6 packets with TCP/UDP/ICMP headers and IPv6 extension headers.
 * Not a test file: imported by them.
 */

export interface Tlv {
  readonly type: number;
  readonly value: Buffer;
  /** override the TLV length field (to build broken records) */
  readonly len?: number;
}

export function pcapHeader(o: { le?: boolean; nanos?: boolean; linktype?: number; snaplen?: number } = {}): Buffer {
  const le = o.le ?? true;
  const b = Buffer.alloc(24);
  const w32 = (v: number, off: number): number => (le ? b.writeUInt32LE(v, off) : b.writeUInt32BE(v, off));
  const w16 = (v: number, off: number): number => (le ? b.writeUInt16LE(v, off) : b.writeUInt16BE(v, off));
  w32(o.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(2, 4);
  w16(4, 6);
  w32(o.snaplen ?? 262144, 16);
  w32(o.linktype ?? 239, 20);
  return b;
}

export function pcapRecord(data: Buffer, o: { le?: boolean; sec?: number; frac?: number; incl?: number; orig?: number } = {}): Buffer {
  const le = o.le ?? true;
  const h = Buffer.alloc(16);
  const w32 = (v: number, off: number): number => (le ? h.writeUInt32LE(v, off) : h.writeUInt32BE(v, off));
  w32(o.sec ?? 1_700_000_000, 0);
  w32(o.frac ?? 0, 4);
  w32(o.incl ?? data.length, 8);
  w32(o.orig ?? data.length, 12);
  return Buffer.concat([h, data]);
}

export function tlv(type: number, value: Buffer | string, len?: number): Tlv {
  const v = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  return len === undefined ? { type, value: v } : { type, value: v, len };
}

export const u32be = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

export function prefixTlv(prefix: string): Tlv {
  return tlv(10, Buffer.concat([Buffer.from(prefix, "utf8"), Buffer.from([0])]));
}

export function packetHdrTlv(hw: number, hook = 3): Tlv {
  return tlv(1, Buffer.from([hw >> 8, hw & 255, hook, 0]));
}

/** NFLOG header + TLVs, each padded to 4 bytes; TLV length/type in `le` order. */
export function nflog(tlvs: readonly Tlv[], o: { le?: boolean; family?: number; group?: number; trailing?: number } = {}): Buffer {
  const le = o.le ?? true;
  const parts: Buffer[] = [Buffer.from([o.family ?? 2, 0, ((o.group ?? 0) >> 8) & 255, (o.group ?? 0) & 255])];
  for (const t of tlvs) {
    const h = Buffer.alloc(4);
    const len = t.len ?? t.value.length + 4;
    if (le) {
      h.writeUInt16LE(len, 0);
      h.writeUInt16LE(t.type, 2);
    } else {
      h.writeUInt16BE(len, 0);
      h.writeUInt16BE(t.type, 2);
    }
    const pad = (4 - (t.value.length % 4)) % 4;
    parts.push(h, t.value, Buffer.alloc(pad));
  }
  if (o.trailing) parts.push(Buffer.alloc(o.trailing));
  return Buffer.concat(parts);
}

function v4Bytes(a: string): number[] {
  return a.split(".").map(Number);
}

function v6Bytes(a: string): number[] {
  const [head = "", tail] = a.split("::");
  const groups = (s: string): number[] => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...Array.from({ length: 8 - h.length - t.length }, () => 0), ...t];
  return all.flatMap((g) => [g >> 8, g & 255]);
}

/** transport header: tcp/udp ports (+ padding to a plausible length), icmp type/code */
export function l4(proto: "tcp" | "udp" | "icmp", a: number, b: number): Buffer {
  if (proto === "icmp") return Buffer.from([a, b, 0, 0, 0, 0, 0, 0]);
  const x = Buffer.alloc(proto === "tcp" ? 20 : 8);
  x.writeUInt16BE(a, 0);
  x.writeUInt16BE(b, 2);
  return x;
}

export function ipv4(o: { src: string; dst: string; protocol: number; body: Buffer; options?: number; fragOffset?: number }): Buffer {
  const ihl = 5 + (o.options ?? 0);
  const h = Buffer.alloc(ihl * 4);
  h[0] = 0x40 | ihl;
  h.writeUInt16BE(ihl * 4 + o.body.length, 2);
  h.writeUInt16BE((o.fragOffset ?? 0) & 0x1fff, 6);
  h[8] = 64;
  h[9] = o.protocol;
  Buffer.from(v4Bytes(o.src)).copy(h, 12);
  Buffer.from(v4Bytes(o.dst)).copy(h, 16);
  return Buffer.concat([h, o.body]);
}

/** An IPv6 extension header chain: each entry is (type, body) with body sized for its length field. */
export interface Ext {
  readonly type: 0 | 43 | 44 | 51 | 60;
  /** fragment offset in 8-byte units (type 44 only) */
  readonly fragOffset?: number;
}

export function ipv6(o: { src: string; dst: string; protocol: number; body: Buffer; ext?: readonly Ext[] }): Buffer {
  const ext = o.ext ?? [];
  const chain: Buffer[] = [];
  for (let i = 0; i < ext.length; i++) {
    const e = ext[i];
    if (!e) continue;
    const next = ext[i + 1]?.type ?? o.protocol;
    if (e.type === 44) {
      const f = Buffer.alloc(8);
      f[0] = next;
      f.writeUInt16BE(((e.fragOffset ?? 0) << 3) & 0xfff8, 2);
      chain.push(f);
    } else if (e.type === 51) {
      const a = Buffer.alloc(12); // (1 + 2) * 4
      a[0] = next;
      a[1] = 1;
      chain.push(a);
    } else {
      const x = Buffer.alloc(16); // (1 + 1) * 8
      x[0] = next;
      x[1] = 1;
      chain.push(x);
    }
  }
  const payload = Buffer.concat([...chain, o.body]);
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = ext[0]?.type ?? o.protocol;
  h[7] = 64;
  Buffer.from(v6Bytes(o.src)).copy(h, 8);
  Buffer.from(v6Bytes(o.dst)).copy(h, 24);
  return Buffer.concat([h, payload]);
}

/** A whole logged packet as tcpdump writes it: one NFLOG record with the usual TLVs. */
export function loggedPacket(prefix: string, payload: Buffer, o: { le?: boolean; family?: number; group?: number; uid?: number } = {}): Buffer {
  const v6 = (payload[0] ?? 0) >> 4 === 6;
  const tlvs = [packetHdrTlv(v6 ? 0x86dd : 0x0800), prefixTlv(prefix), tlv(5, u32be(1))];
  if (o.uid !== undefined) tlvs.push(tlv(11, u32be(o.uid)), tlv(14, u32be(o.uid)));
  tlvs.push(tlv(9, payload));
  return nflog(tlvs, { le: o.le ?? true, family: o.family ?? (v6 ? 10 : 2), group: o.group ?? 0 });
}

/**
 * Three records captured from the kernel (6.18, x86-64, little-endian) with
 * `tcpdump -i nflog:7 -U -w -` for `log group 7 prefix "blocked-rule" drop` on the output hook:
 * UDP 198.51.100.1:45183 -> 198.51.100.1:9999, UDP [2001:db8::1]:58602 -> [2001:db8::1]:9999,
 * TCP SYN 198.51.100.1:59176 -> 198.51.100.1:9999, each with uid 0 and gid 0.
 */
export const REAL_CAPTURE = Buffer.from(
  "d4c3b2a102000400000000000000000000000400ef0000008010026bf45308005c0000005c00000002000007080001000800030011000a00626c6f636b65642d72756c6500000000080005000000000108000b000000000008000e0000000000230009004500001f6dba4000401178aac6336401c6336401b07f270f000b548668690a008010026b0954080070000000700000000a0000070800010086dd030011000a00626c6f636b65642d72756c6500000000080005000000000108000b000000000008000e0000000000370009006007fa0a000b114020010db800000000000000000000000120010db8000000000000000000000001e4ea270f000b5b9068690a008010026b0b540800780000007800000002000007080001000800030011000a00626c6f636b65642d72756c6500000000080005000000000108000b000000000008000e0000000000400009004500003c6727400040067f2bc6336401c6336401e728270f2b3ed76e00000000a002ffd7549800000204ffd70402080aad83387c000000000103030a",
  "hex",
);
