/**
 * The pcap / NFLOG / IP parser (src/runtime/nflog/parse.ts) on hand-built records and on a
 * capture taken from the kernel, plus fuzzing: it never throws anything but NflogParseError
 * and always ends on truncated or hostile input.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createPcapDecoder, NflogParseError, parseIpPacket, parseNflog, parsePcapHeader, type IpPacket, type PcapRecord } from "../../../src/runtime/nflog/parse.ts";
import { REAL_CAPTURE, ipv4, ipv6, l4, loggedPacket, nflog, packetHdrTlv, pcapHeader, pcapRecord, prefixTlv, tlv, u32be } from "./build.ts";

function decodeAll(bytes: Buffer, chunk = bytes.length): PcapRecord[] {
  const d = createPcapDecoder();
  const out: PcapRecord[] = [];
  for (let i = 0; i < bytes.length; i += chunk) out.push(...d.push(bytes.subarray(i, i + chunk)));
  return out;
}

function throwsCode(fn: () => unknown, code: string, fatal?: boolean): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof NflogParseError, `expected NflogParseError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (fatal !== undefined) assert.equal(e.fatal, fatal);
    return true;
  });
}

void describe("pcap global header", () => {
  const cases: Array<{ name: string; bytes: Buffer; le?: boolean; nanos?: boolean; code?: string }> = [
    { name: "a little-endian microsecond header is read", bytes: pcapHeader(), le: true, nanos: false },
    { name: "a big-endian header is read", bytes: pcapHeader({ le: false }), le: false, nanos: false },
    { name: "a nanosecond header is read", bytes: pcapHeader({ nanos: true }), le: true, nanos: true },
    { name: "FCS bits above the link type are ignored", bytes: pcapHeader({ linktype: 239 | 0x10000000 }), le: true },
    { name: "a wrong magic is not a pcap stream", bytes: Buffer.concat([Buffer.from("GET / HTTP/1.1\r\n"), Buffer.alloc(8)]), code: "CF_NFLOG_PCAP_MAGIC" },
    { name: "an Ethernet capture is refused", bytes: pcapHeader({ linktype: 1 }), code: "CF_NFLOG_LINKTYPE" },
    { name: "a header cut short is refused", bytes: pcapHeader().subarray(0, 20), code: "CF_NFLOG_PCAP_MAGIC" },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      if (c.code) return throwsCode(() => parsePcapHeader(c.bytes), c.code, true);
      const h = parsePcapHeader(c.bytes);
      assert.equal(h.littleEndian, c.le);
      if (c.nanos !== undefined) assert.equal(h.nanos, c.nanos);
      assert.equal(h.linktype, 239);
    });
  }
});

void describe("pcap stream decoder", () => {
  void it("decodes the kernel capture into three records whatever the chunking", () => {
    const whole = decodeAll(REAL_CAPTURE);
    assert.equal(whole.length, 3);
    for (const chunk of [1, 3, 7, 16, 24, 25, 100]) {
      const parts = decodeAll(REAL_CAPTURE, chunk);
      assert.deepEqual(parts.map((r) => r.data.toString("hex")), whole.map((r) => r.data.toString("hex")), `chunk ${chunk}`);
    }
    assert.equal(whole[0]?.data.length, 0x5c);
  });

  void it("holds a partial record back until the rest arrives", () => {
    const d = createPcapDecoder();
    const rec = pcapRecord(Buffer.alloc(40, 1));
    assert.deepEqual(d.push(Buffer.concat([pcapHeader(), rec.subarray(0, 30)])), []);
    assert.equal(d.pending(), 30);
    assert.equal(d.push(rec.subarray(30)).length, 1);
    assert.equal(d.pending(), 0);
  });

  void it("turns microsecond and nanosecond record times into milliseconds", () => {
    const us = decodeAll(Buffer.concat([pcapHeader(), pcapRecord(Buffer.alloc(4), { sec: 10, frac: 250_000 })]));
    assert.equal(us[0]?.timeMs, 10_250);
    const ns = decodeAll(Buffer.concat([pcapHeader({ nanos: true }), pcapRecord(Buffer.alloc(4), { sec: 10, frac: 250_000_000 })]));
    assert.equal(ns[0]?.timeMs, 10_250);
  });

  void it("reads big-endian record headers", () => {
    const recs = decodeAll(Buffer.concat([pcapHeader({ le: false }), pcapRecord(Buffer.alloc(8, 7), { le: false, sec: 3 })]));
    assert.equal(recs.length, 1);
    assert.equal(recs[0]?.timeMs, 3000);
    assert.equal(recs[0]?.data.length, 8);
  });

  void it("an impossible record length breaks the stream for good", () => {
    const d = createPcapDecoder();
    const bad = Buffer.concat([pcapHeader(), pcapRecord(Buffer.alloc(0), { incl: 50_000_000 })]);
    throwsCode(() => d.push(bad), "CF_NFLOG_RECORD_LENGTH", true);
    throwsCode(() => d.push(pcapRecord(Buffer.alloc(4))), "CF_NFLOG_RECORD_LENGTH", true);
  });

  void it("records before a break in the same chunk are still handed out, and failure() says why", () => {
    const d = createPcapDecoder();
    const good = pcapRecord(Buffer.alloc(12, 3));
    const recs = d.push(Buffer.concat([pcapHeader(), good, good, Buffer.from("garbage-garbage-garbage!")]));
    assert.equal(recs.length, 2);
    assert.equal(d.failure()?.code, "CF_NFLOG_RECORD_LENGTH");
    throwsCode(() => d.push(good), "CF_NFLOG_RECORD_LENGTH", true);
  });

  void it("garbage instead of a pcap header breaks the stream", () => {
    throwsCode(() => createPcapDecoder().push(Buffer.from("tcpdump: you do not have permission\n......")), "CF_NFLOG_PCAP_MAGIC", true);
  });
});

void describe("NFLOG records", () => {
  void it("the kernel capture yields prefix, family, group, uid, gid and the payload", () => {
    const [a, b, c] = decodeAll(REAL_CAPTURE).map((r) => parseNflog(r.data, true));
    assert.ok(a && b && c);
    for (const p of [a, b, c]) {
      assert.equal(p.prefix, "blocked-rule");
      assert.equal(p.group, 7);
      assert.equal(p.uid, 0);
      assert.equal(p.gid, 0);
      assert.equal(p.hook, 3);
      assert.equal(p.outdev, 1);
    }
    assert.equal(a.family, 2);
    assert.equal(a.hwProtocol, 0x0800);
    assert.equal(b.family, 10);
    assert.equal(b.hwProtocol, 0x86dd);
    assert.equal(a.payload?.length, 0x1f);
  });

  const cases: Array<{ name: string; rec: Buffer; le?: boolean; check: (p: ReturnType<typeof parseNflog>) => void }> = [
    {
      name: "TLV headers in big-endian order are read when the stream says so",
      rec: nflog([prefixTlv("be-rule"), tlv(11, u32be(1000))], { le: false, group: 0x1234 }),
      le: false,
      check: (p) => {
        assert.equal(p.prefix, "be-rule");
        assert.equal(p.uid, 1000);
        assert.equal(p.group, 0x1234);
      },
    },
    {
      name: "unknown TLVs are skipped",
      rec: nflog([tlv(99, Buffer.alloc(13, 0xee)), prefixTlv("after-unknown"), tlv(21, Buffer.alloc(2))]),
      check: (p) => assert.equal(p.prefix, "after-unknown"),
    },
    {
      name: "a record without a prefix TLV has the empty prefix",
      rec: nflog([packetHdrTlv(0x0800)]),
      check: (p) => {
        assert.equal(p.prefix, "");
        assert.equal(p.payload, null);
        assert.equal(p.uid, null);
      },
    },
    {
      name: "a prefix without its NUL is taken whole",
      rec: nflog([tlv(10, "no-nul")]),
      check: (p) => assert.equal(p.prefix, "no-nul"),
    },
    {
      name: "a UTF-8 prefix is decoded",
      rec: nflog([prefixTlv("règle-ü")]),
      check: (p) => assert.equal(p.prefix, "règle-ü"),
    },
    {
      name: "the nested and byte-order flag bits of a TLV type are ignored",
      rec: nflog([tlv(10 | 0x8000, "flagged\u0000")]),
      check: (p) => assert.equal(p.prefix, "flagged"),
    },
    {
      name: "the kernel timestamp is read as milliseconds",
      rec: nflog([tlv(3, Buffer.from("0000000065000000" + "000000000003d090", "hex"))]),
      check: (p) => assert.equal(p.timeMs, 0x65000000 * 1000 + 250),
    },
    {
      name: "a payload cut by the snaplen is kept as far as it goes",
      rec: nflog([prefixTlv("cut"), tlv(9, Buffer.alloc(20, 0x45), 200)]),
      check: (p) => assert.equal(p.payload?.length, 20),
    },
    {
      name: "a TLV seen twice keeps its first value",
      rec: nflog([prefixTlv("first"), prefixTlv("second")]),
      check: (p) => assert.equal(p.prefix, "first"),
    },
    {
      name: "up to three trailing bytes after the last TLV are ignored",
      rec: nflog([prefixTlv("tail")], { trailing: 3 }),
      check: (p) => assert.equal(p.prefix, "tail"),
    },
  ];
  for (const c of cases) void it(c.name, () => c.check(parseNflog(c.rec, c.le ?? true)));

  const bad: Array<{ name: string; rec: Buffer; code: string }> = [
    { name: "a record shorter than the NFLOG header is refused", rec: Buffer.from([2, 0]), code: "CF_NFLOG_SHORT" },
    { name: "a TLV with length below 4 is refused (it would never advance)", rec: nflog([tlv(10, "x", 2)]), code: "CF_NFLOG_TLV" },
    { name: "a TLV running past the record is refused", rec: nflog([tlv(10, "abc", 64)]), code: "CF_NFLOG_TLV" },
  ];
  for (const c of bad) void it(c.name, () => throwsCode(() => parseNflog(c.rec, true), c.code, false));
});

void describe("IP headers of logged packets", () => {
  const cases: Array<{ name: string; pkt: Buffer; want: Partial<IpPacket> }> = [
    {
      name: "IPv4 UDP gives addresses and ports",
      pkt: ipv4({ src: "10.0.0.2", dst: "192.0.2.7", protocol: 17, body: l4("udp", 40000, 53) }),
      want: { family: 4, src: "10.0.0.2", dst: "192.0.2.7", l4: "udp", srcPort: 40000, dstPort: 53, fragment: false },
    },
    {
      name: "IPv4 TCP behind 8 bytes of options gives the right ports",
      pkt: ipv4({ src: "10.0.0.2", dst: "192.0.2.7", protocol: 6, body: l4("tcp", 1234, 443), options: 2 }),
      want: { l4: "tcp", srcPort: 1234, dstPort: 443 },
    },
    {
      name: "IPv4 ICMP gives type and code and no ports",
      pkt: ipv4({ src: "10.0.0.2", dst: "192.0.2.7", protocol: 1, body: l4("icmp", 8, 0) }),
      want: { l4: "icmp", icmpType: 8, icmpCode: 0, srcPort: null, dstPort: null },
    },
    {
      name: "a non-first IPv4 fragment has no ports",
      pkt: ipv4({ src: "10.0.0.2", dst: "192.0.2.7", protocol: 17, body: l4("udp", 1, 2), fragOffset: 185 }),
      want: { l4: "udp", srcPort: null, dstPort: null, fragment: true },
    },
    {
      name: "IPv4 with the transport header cut off has null ports",
      pkt: ipv4({ src: "10.0.0.2", dst: "192.0.2.7", protocol: 6, body: Buffer.alloc(2) }),
      want: { l4: "tcp", srcPort: null, dstPort: null, fragment: false },
    },
    {
      name: "IPv4 SCTP has a protocol number but no l4 name",
      pkt: ipv4({ src: "10.0.0.2", dst: "192.0.2.7", protocol: 132, body: l4("udp", 5, 6) }),
      want: { l4: null, protocol: 132, srcPort: null },
    },
    {
      name: "IPv6 UDP gives compressed addresses and ports",
      pkt: ipv6({ src: "2001:db8::1", dst: "2001:db8:0:0:1:0:0:2", protocol: 17, body: l4("udp", 5353, 443) }),
      want: { family: 6, src: "2001:db8::1", dst: "2001:db8::1:0:0:2", l4: "udp", srcPort: 5353, dstPort: 443 },
    },
    {
      name: "an IPv4-mapped IPv6 destination is written in mixed notation",
      pkt: ipv6({ src: "::1", dst: "::ffff:c000:207", protocol: 6, body: l4("tcp", 1, 80) }),
      want: { dst: "::ffff:192.0.2.7", dstPort: 80 },
    },
    {
      name: "IPv6 TCP behind hop-by-hop, routing, destination options and a first fragment",
      pkt: ipv6({ src: "2001:db8::1", dst: "2001:db8::2", protocol: 6, body: l4("tcp", 999, 8443), ext: [{ type: 0 }, { type: 43 }, { type: 60 }, { type: 44, fragOffset: 0 }] }),
      want: { l4: "tcp", protocol: 6, srcPort: 999, dstPort: 8443, fragment: false },
    },
    {
      name: "IPv6 UDP behind an authentication header",
      pkt: ipv6({ src: "2001:db8::1", dst: "2001:db8::2", protocol: 17, body: l4("udp", 7, 8), ext: [{ type: 51 }] }),
      want: { l4: "udp", dstPort: 8 },
    },
    {
      name: "a non-first IPv6 fragment has no ports",
      pkt: ipv6({ src: "2001:db8::1", dst: "2001:db8::2", protocol: 17, body: l4("udp", 7, 8), ext: [{ type: 44, fragOffset: 100 }] }),
      want: { l4: "udp", srcPort: null, dstPort: null, fragment: true },
    },
    {
      name: "ICMPv6 is icmp with its type",
      pkt: ipv6({ src: "2001:db8::1", dst: "2001:db8::2", protocol: 58, body: l4("icmp", 128, 0) }),
      want: { l4: "icmp", icmpType: 128, protocol: 58 },
    },
    {
      name: "protocol 1 inside IPv6 is not ICMP",
      pkt: ipv6({ src: "2001:db8::1", dst: "2001:db8::2", protocol: 1, body: l4("icmp", 8, 0) }),
      want: { l4: null, protocol: 1 },
    },
    {
      name: "IPv6 with its extension chain cut short has no transport",
      pkt: ipv6({ src: "2001:db8::1", dst: "2001:db8::2", protocol: 6, body: l4("tcp", 1, 2), ext: [{ type: 0 }] }).subarray(0, 41),
      want: { l4: null, protocol: 0, srcPort: null },
    },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      const got = parseIpPacket(c.pkt);
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(got[k as keyof IpPacket], v, k);
    });
  }

  const bad: Array<{ name: string; pkt: Buffer }> = [
    { name: "an empty payload is refused", pkt: Buffer.alloc(0) },
    { name: "IP version 5 is refused", pkt: Buffer.from([0x50, 0, 0, 0]) },
    { name: "an IPv4 header length below 20 is refused", pkt: Buffer.concat([Buffer.from([0x44]), Buffer.alloc(30)]) },
    { name: "an IPv4 header cut short is refused", pkt: ipv4({ src: "1.2.3.4", dst: "5.6.7.8", protocol: 6, body: Buffer.alloc(0) }).subarray(0, 12) },
    { name: "an IPv6 header cut short is refused", pkt: Buffer.concat([Buffer.from([0x60]), Buffer.alloc(20)]) },
  ];
  for (const c of bad) void it(c.name, () => throwsCode(() => parseIpPacket(c.pkt), "CF_NFLOG_IP", false));

  void it("the kernel capture's payloads parse to the ports that were sent", () => {
    const ips = decodeAll(REAL_CAPTURE).map((r) => parseIpPacket(parseNflog(r.data, true).payload ?? Buffer.alloc(0)));
    assert.deepEqual(
      ips.map((p) => `${p.l4} ${p.src}:${p.srcPort} -> ${p.dst}:${p.dstPort}`),
      ["udp 198.51.100.1:45183 -> 198.51.100.1:9999", "udp 2001:db8::1:58602 -> 2001:db8::1:9999", "tcp 198.51.100.1:59176 -> 198.51.100.1:9999"],
    );
  });
});

/** Run `fn`; anything thrown must be an NflogParseError. */
function onlyTyped(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof NflogParseError)) throw new Error(`threw a non-parse error: ${String(e)}`, { cause: e });
  }
}

void describe("fuzzing the parser", { timeout: 120_000 }, () => {
  void it("arbitrary bytes in arbitrary chunks never throw anything but NflogParseError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: 64 }), fc.boolean(), (bytes, chunk, withHeader) => {
        const stream = withHeader ? Buffer.concat([pcapHeader(), Buffer.from(bytes)]) : Buffer.from(bytes);
        const d = createPcapDecoder();
        for (let i = 0; i < stream.length; i += chunk) {
          let recs: PcapRecord[] = [];
          try {
            recs = d.push(stream.subarray(i, i + chunk));
          } catch (e) {
            if (!(e instanceof NflogParseError)) throw e;
            return;
          }
          for (const r of recs) onlyTyped(() => void parseIpPacket(parseNflog(r.data, true).payload ?? Buffer.alloc(0)));
        }
      }),
      { numRuns: 2000 },
    );
  });

  void it("mutated and truncated valid records never throw anything but NflogParseError", () => {
    const seeds = [
      loggedPacket("r", ipv4({ src: "10.0.0.1", dst: "192.0.2.1", protocol: 6, body: l4("tcp", 1, 443) }), { uid: 1000 }),
      loggedPacket("rule-with-a-longer-name", ipv6({ src: "2001:db8::1", dst: "2001:db8::2", protocol: 17, body: l4("udp", 1, 53), ext: [{ type: 0 }, { type: 44 }] })),
      loggedPacket("icmp", ipv4({ src: "10.0.0.1", dst: "192.0.2.1", protocol: 1, body: l4("icmp", 8, 0) }), { le: false }),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
        fc.nat(),
        fc.boolean(),
        (seed, flips, cut, le) => {
          const b = Buffer.from(seed);
          for (const [pos, val] of flips) b[pos % b.length] = val;
          const rec = b.subarray(0, seed.length - (cut % (seed.length + 1)));
          onlyTyped(() => {
            const p = parseNflog(rec, le);
            if (p.payload) parseIpPacket(p.payload);
          });
          onlyTyped(() => void parseIpPacket(rec.subarray(Math.min(rec.length, 4 + (cut % 48)))));
        },
      ),
      { numRuns: 5000 },
    );
  });

  void it("a stream of valid records cut at any point decodes a prefix of them and ends", () => {
    const recs = [1, 2, 3].map((n) => pcapRecord(loggedPacket(`rule-${n}`, ipv4({ src: "10.0.0.1", dst: "192.0.2.1", protocol: 17, body: l4("udp", n, 53) }))));
    const stream = Buffer.concat([pcapHeader(), ...recs]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: stream.length }), fc.integer({ min: 1, max: 40 }), (cut, chunk) => {
        const got = decodeAll(stream.subarray(0, cut), chunk).map((r) => parseNflog(r.data, true).prefix);
        assert.deepEqual(got, ["rule-1", "rule-2", "rule-3"].slice(0, got.length));
        if (cut === stream.length) assert.equal(got.length, 3);
      }),
      { numRuns: 1000 },
    );
  });
});
