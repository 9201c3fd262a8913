/**
 * Tests for runtime/proxy/client-hello: SNI extraction from real and hand-built ClientHellos,
 * refusal of ambiguous ones, and fuzzing (never throws, always answers).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseClientHello } from "../../../src/runtime/proxy/client-hello.ts";
import { buildHello, captureRealHello, extension, serverNameExt } from "./hello-builder.ts";

void test("the SNI of a real node:tls ClientHello is read", async () => {
  const hello = await captureRealHello("api.example.com");
  assert.deepEqual(parseClientHello(hello), { status: "ok", sni: "api.example.com", ech: false });
});
void test("a real ClientHello without SNI reads as no name", async () => {
  // node:tls sends no SNI when servername is an address
  const hello = await captureRealHello("");
  const r = parseClientHello(hello);
  assert.equal(r.status, "ok");
  if (r.status === "ok") assert.equal(r.sni, null);
});
void test("a real ClientHello cut anywhere asks for more", async () => {
  const hello = await captureRealHello("api.example.com");
  for (let i = 1; i < hello.length; i++) assert.equal(parseClientHello(hello.subarray(0, i)).status, "more", `cut at ${i}`);
});

const table: Array<[string, Buffer, unknown]> = [
  ["a hand-built hello with one name is read", buildHello({ names: ["a.example"] }), { status: "ok", sni: "a.example", ech: false }],
  ["a hello split over 7-byte records is reassembled", buildHello({ names: ["split.example"], recordSize: 7 }), { status: "ok", sni: "split.example", ech: false }],
  ["a hello without extensions has no name", buildHello({}), { status: "ok", sni: null, ech: false }],
  ["an Encrypted Client Hello is reported", buildHello({ names: ["public.example"], extra: [[0xfe0d, Uint8Array.from([0])]] }), { status: "ok", sni: "public.example", ech: true }],
];
for (const [title, buf, want] of table) {
  void test(title, () => assert.deepEqual(parseClientHello(buf), want));
}

const refused: Array<[string, Buffer, string]> = [
  ["two host names are refused", buildHello({ names: ["a.example", "b.example"] }), "CF_PROXY_TLS_SNI"],
  ["a repeated server_name extension is refused", buildHello({ names: ["a.example"], extra: [[0, serverNameExt(["b.example"])]] }), "CF_PROXY_TLS_DUP_EXT"],
  ["a name with a NUL byte is refused", buildHello({ names: ["a.example\u0000.evil"] }), "CF_PROXY_TLS_SNI"],
  ["a name with non-ASCII bytes is refused", buildHello({ names: ["\u00e9.example"] }), "CF_PROXY_TLS_SNI"],
  ["a record that is not a handshake in the middle is refused", Buffer.concat([buildHello({ names: ["x.example"], recordSize: 20 }).subarray(0, 25), Buffer.from([0x17, 3, 3, 0, 1, 0])]), "CF_PROXY_TLS_RECORD"],
  ["a handshake message that is not a ClientHello is refused", Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0]), "CF_PROXY_TLS_NOT_HELLO"],
  ["a record of 0 bytes is refused", Buffer.from([0x16, 3, 1, 0, 0]), "CF_PROXY_TLS_RECORD"],
];
for (const [title, buf, code] of refused) {
  void test(title, () => {
    const r = parseClientHello(buf);
    assert.equal(r.status, "error");
    if (r.status === "error") assert.equal(r.code, code);
  });
}

void test("plain text is not TLS", () => {
  assert.deepEqual(parseClientHello(Buffer.from("GET / HTTP/1.1\r\n")), { status: "not-tls" });
  assert.deepEqual(parseClientHello(Buffer.from("SSH-2.0-x\r\n")), { status: "not-tls" });
});

void test("an extension list with a wrong length is refused", () => {
  const h = buildHello({ names: ["a.example"] });
  const bad = Buffer.from(h);
  // corrupt the server_name list length (after record 5 + hs 4 + body 2+32+1+4+2 + ext len 2 + ext hdr 4)
  bad.writeUInt16BE(999, 5 + 4 + 2 + 32 + 1 + 4 + 2 + 2 + 4);
  assert.equal(parseClientHello(bad).status, "error");
});

void test("the ClientHello parser never throws and always answers (fuzz: random bytes)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (raw) => {
      const r = parseClientHello(Uint8Array.from([0x16, 3, 1, ...raw]));
      assert.ok(["more", "ok", "error", "not-tls"].includes(r.status));
    }),
    { numRuns: 20000 },
  );
});

void test("the ClientHello parser never throws on mutated real-shaped hellos (fuzz: bit flips)", () => {
  const base = buildHello({ names: ["mutate.example"], extra: [[10, Uint8Array.from([0, 2, 0, 29])], [43, Uint8Array.from([2, 3, 4])]] });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(base.length), (flips, cut) => {
      const m = Buffer.from(base);
      for (const [i, v] of flips) m[i] = v;
      const r = parseClientHello(m.subarray(0, cut));
      assert.ok(["more", "ok", "error", "not-tls"].includes(r.status));
      if (r.status === "ok" && r.sni !== null) assert.match(r.sni, /^[\x21-\x7e]+$/);
    }),
    { numRuns: 20000 },
  );
});

void test("a huge claimed hello is refused rather than buffered without end", () => {
  const hdr = Buffer.from([0x16, 3, 1, 0x40, 0x00, 1, 0x10, 0x00, 0x00]);
  const r = parseClientHello(Buffer.concat([hdr, Buffer.alloc(16384 - 4)]));
  assert.equal(r.status, "error");
});

void test("a hello dribbled in one-byte records stops at the buffer bound", () => {
  // claims 61440 bytes (allowed) but sends them one per record: 6 bytes of buffer per byte
  const head = [1, 0, 0xf0, 0x00];
  const tiny: number[] = [];
  for (let i = 0; i < 30000; i++) tiny.push(0x16, 3, 1, 0, 1, head[i] ?? 0);
  const t = parseClientHello(Buffer.from(tiny));
  assert.equal(t.status, "error");
  if (t.status === "error") assert.equal(t.code, "CF_PROXY_TLS_TOO_BIG");
});

void test("extension() and serverNameExt() build what the parser reads", () => {
  assert.deepEqual(extension(0, serverNameExt(["a"])), [0, 0, 0, 6, 0, 4, 0, 0, 1, 97]);
});
