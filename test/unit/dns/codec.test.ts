/**
 * codec: the strict query parser, the hardened upstream decoder, reply encoding — by table,
 * with hand-made hostile packets (compression loops), and by fuzzing with fast-check.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as dnsPacket from "dns-packet";
import { decodeResponse, encodeReply, parseQuery, replyTemplate, stampReply, typeNumber, wireTypeName } from "../../../src/runtime/dns/codec.ts";

function q(name: string, type = "A", extra: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({ type: "query", id: 77, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as "A", class: "IN" }], ...extra });
}

function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): number[] {
  return [id >> 8, id & 255, flags >> 8, flags & 255, 0, qd, 0, an, 0, ns, 0, ar];
}

const cases: Array<[string, Uint8Array, string]> = [
  ["a plain A query parses with its name lowercased", q("Api.Example.COM"), "ok api.example.com"],
  ["a query with a trailing-dot name parses the same", q("api.example.com."), "ok api.example.com"],
  ["a _srv._tcp name is a valid name", q("_https._tcp.example.com", "SRV"), "ok _https._tcp.example.com"],
  ["a punycode name is a valid name", q("xn--bcher-kva.example"), "ok xn--bcher-kva.example"],
  ["the root name parses as the empty name", q("."), "ok "],
  ["fewer than 12 bytes are dropped silently", new Uint8Array([1, 2, 3]), "drop"],
  ["a response sent to the guard is dropped (no reflection loops)", new Uint8Array([...header(1, 0x8000, 1), 0, 0, 1, 0, 1]), "drop"],
  ["two questions are FORMERR", new Uint8Array([...header(1, 0x100, 2), 0, 0, 1, 0, 1, 0, 0, 1, 0, 1]), "reply FORMERR"],
  ["a NOTIFY opcode is NOTIMP", new Uint8Array([...header(1, 0x2000, 1), 0, 0, 1, 0, 1]), "reply NOTIMP"],
  ["a compression pointer in the question is FORMERR", new Uint8Array([...header(1, 0x100, 1), 0xc0, 12, 0, 1, 0, 1]), "reply FORMERR"],
  ["a label running past the end is FORMERR", new Uint8Array([...header(1, 0x100, 1), 10, 97, 98]), "reply FORMERR"],
  ["a label with a dot byte inside is REFUSED", new Uint8Array([...header(1, 0x100, 1), 3, 97, 46, 98, 3, 99, 111, 109, 0, 0, 1, 0, 1]), "reply REFUSED"],
  ["a label with binary bytes is REFUSED", new Uint8Array([...header(1, 0x100, 1), 2, 0xff, 0x00, 0, 0, 1, 0, 1]), "reply REFUSED"],
  ["a name longer than 255 bytes is FORMERR", new Uint8Array([...header(1, 0x100, 1), ...Array.from({ length: 5 }, () => [63, ...Array.from({ length: 63 }, () => 97)]).flat(), 0, 0, 1, 0, 1]), "reply FORMERR"],
  ["a missing type/class is FORMERR", new Uint8Array([...header(1, 0x100, 1), 1, 97, 0, 0]), "reply FORMERR"],
  ["a query over 4096 bytes is FORMERR", new Uint8Array([...header(1, 0x100, 1), ...Array.from({ length: 5000 }, () => 0)]), "reply FORMERR"],
];

for (const [name, bytes, want] of cases) {
  void test(name, () => {
    const r = parseQuery(bytes);
    const got = r.ok ? `ok ${r.query.qname}` : r.action === "drop" ? "drop" : `reply ${r.rcode}`;
    assert.equal(got, want);
  });
}

void test("EDNS0 is read: UDP size and the DO bit", () => {
  const r = parseQuery(q("a.example", "A", { additionals: [{ type: "OPT", name: ".", udpPayloadSize: 4096, flags: dnsPacket.DNSSEC_OK } as unknown as dnsPacket.Answer] }));
  assert.ok(r.ok);
  assert.deepEqual(r.query.edns, { udpSize: 4096, do: true });
});

void test("an EDNS version other than 0 is FORMERR", () => {
  const b = q("a.example", "A", { additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232, flags: 0, ednsVersion: 1 } as unknown as dnsPacket.Answer] });
  const r = parseQuery(b);
  assert.ok(!r.ok && r.action === "reply" && r.rcode === "FORMERR");
});

void test("dns-packet refuses a self-referencing compression pointer instead of looping", () => {
  // answer owner name points at itself (offset 29)
  const b = new Uint8Array([...header(1, 0x8180, 1, 1), 1, 97, 0, 0, 1, 0, 1, 0xc0, 29, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
  const r = decodeResponse(b);
  assert.equal(r.ok, false);
});

void test("dns-packet refuses a forward compression pointer (the start of a two-pointer loop)", () => {
  const b = new Uint8Array([...header(1, 0x8180, 1, 1), 1, 97, 0, 0, 1, 0, 1, 0xc0, 31, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 0xc0, 29]);
  assert.equal(decodeResponse(b).ok, false);
});

void test("a reply larger than the client's UDP size is cut to the question with TC set", () => {
  const answers = Array.from({ length: 60 }, (_, i) => ({ type: "A" as const, name: "big.example", ttl: 60, data: `93.184.216.${i}` }));
  const out = encodeReply({ id: 9, rd: true, rcode: "NOERROR", question: { qnameRaw: "big.example", qtype: 1, qclass: 1 }, answers, edns: false }, 512);
  const p = dnsPacket.decode(out);
  assert.equal(p.flag_tc, true);
  assert.equal(p.answers?.length, 0);
  assert.equal(p.questions?.[0]?.name, "big.example");
  assert.ok(out.length <= 512);
  const full = encodeReply({ id: 9, rd: true, rcode: "NOERROR", question: { qnameRaw: "big.example", qtype: 1, qclass: 1 }, answers, edns: false }, null);
  assert.equal(dnsPacket.decode(full).answers?.length, 60);
});

void test("a record dns-packet cannot encode turns the reply into SERVFAIL instead of throwing", () => {
  const out = encodeReply({ id: 9, rd: false, rcode: "NOERROR", question: { qnameRaw: "x.example", qtype: 1, qclass: 1 }, answers: [{ type: "MX", name: "x.example", data: null } as unknown as dnsPacket.Answer], edns: false }, null);
  assert.equal((dnsPacket.decode(out) as { rcode?: string }).rcode, "SERVFAIL");
});

void test("HTTPS and SVCB travel as raw types and map back to their numbers", () => {
  assert.equal(wireTypeName(65), "UNKNOWN_65");
  assert.equal(typeNumber("UNKNOWN_65"), 65);
  assert.equal(typeNumber("AAAA"), 28);
  assert.equal(typeNumber("AFSDB"), 18);
});

void test("fuzz: parseQuery never throws on random bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), (b) => {
      const r = parseQuery(b);
      assert.ok(typeof r.ok === "boolean");
    }),
    { numRuns: 20_000 },
  );
});

void test("fuzz: parseQuery and decodeResponse never throw on mutated valid packets", () => {
  const seeds = [q("api.example.com"), q("_x._tcp.example", "SRV", { additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232, flags: 0 } as unknown as dnsPacket.Answer] })];
  const resp = dnsPacket.encode({
    type: "response",
    id: 1,
    questions: [{ name: "www.example.com", type: "A" }],
    answers: [
      { type: "CNAME", name: "www.example.com", ttl: 5, data: "edge.example.net" },
      { type: "A", name: "edge.example.net", ttl: 5, data: "93.184.216.34" },
      { type: "TXT", name: "edge.example.net", ttl: 5, data: ["hello"] },
    ],
  });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(400), (which, flips, cut) => {
      const base = Buffer.from(which === 2 ? resp : seeds[which]!);
      for (const [at, v] of flips) base[at % base.length] = v;
      const b = base.subarray(0, Math.max(0, base.length - (cut % (base.length + 1))));
      parseQuery(b);
      const d = decodeResponse(b);
      assert.ok(typeof d.ok === "boolean");
    }),
    { numRuns: 20_000 },
  );
});

void test("fuzz: whatever parseQuery accepts can be answered", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 12, maxLength: 300 }), (b) => {
      const r = parseQuery(b);
      if (r.ok) {
        const out = encodeReply({ id: r.query.id, rd: r.query.rd, rcode: "REFUSED", question: r.query, edns: r.query.edns !== null }, 512);
        assert.ok(out.length >= 12);
      } else if (r.action === "reply") {
        assert.ok(encodeReply({ id: r.id, rd: r.rd, rcode: r.rcode, question: r.question, edns: false }, 512).length >= 12);
      }
    }),
    { numRuns: 20_000 },
  );
});

void test("fuzz: a stamped reply template is byte for byte the reply encodeReply gives", () => {
  const records: dnsPacket.Answer[] = [
    { type: "CNAME", name: "www.example.com", ttl: 300, data: "edge.example.net" },
    { type: "A", name: "edge.example.net", ttl: 30, data: "93.184.216.34" },
    { type: "AAAA", name: "edge.example.net", ttl: 7, data: "2606:4700::10" },
    { type: "TXT", name: "edge.example.net", ttl: 86_400, data: ["hello", "world"] },
  ];
  const soa = { type: "SOA", name: "example.com", ttl: 900, data: { mname: "ns.example.com", rname: "h.example.com", serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 60 } } as dnsPacket.Answer;
  fc.assert(
    fc.property(
      fc.array(fc.boolean(), { minLength: 15, maxLength: 15 }), // case of each letter of www.example.com
      fc.integer({ min: 0, max: 0xffff }),
      fc.boolean(),
      fc.boolean(),
      fc.integer({ min: 0, max: 100_000 }),
      fc.subarray(records),
      fc.boolean(),
      fc.constantFrom<number | null>(null, 512, 1232, 120),
      (upper, id, rd, edns, elapsed, answers, withSoa, maxSize) => {
        const raw = "www.example.com".split("").map((c, i) => (upper[i] ? c.toUpperCase() : c)).join("");
        const authorities = withSoa ? [soa] : [];
        const t = replyTemplate({ id: 0, rd: false, rcode: "NOERROR", question: { qnameRaw: "www.example.com", qtype: 1, qclass: 1 }, answers, authorities, edns });
        assert.ok(t);
        const query = q(raw, "A", { id, flags: rd ? dnsPacket.RECURSION_DESIRED : 0 });
        const stamped = stampReply(t, query, id, rd, elapsed, maxSize);
        const aged = (rs: dnsPacket.Answer[]): dnsPacket.Answer[] => rs.map((a) => ({ ...a, ttl: Math.max(0, ((a as { ttl?: number }).ttl ?? 0) - elapsed) }) as dnsPacket.Answer);
        const want = encodeReply({ id, rd, rcode: "NOERROR", question: { qnameRaw: raw, qtype: 1, qclass: 1 }, answers: aged(answers), authorities: aged(authorities), edns }, maxSize);
        if (stamped === null) assert.ok(maxSize !== null && t.wire.length > maxSize, "only a reply too big for the client is left to encodeReply");
        else assert.deepEqual(stamped, want);
      },
    ),
    { numRuns: 400 },
  );
});
