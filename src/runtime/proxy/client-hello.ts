/**
 * runtime/proxy/client-hello — reads the server name (SNI) out of a TLS ClientHello without
 * decrypting anything.
 *
 * Map: the CONNECT tunnel and the transparent TLS listener buffer the client's first bytes
 * and call `parseClientHello` on each arrival until it answers "ok", "not-tls" or "error";
 * the buffered bytes are then forwarded unchanged. Handshake messages split over several
 * records are reassembled (post-quantum key shares make hellos large); the total is
 * bounded by `MAX_HELLO_BYTES`.
 *
 * Refused as malformed, because a server might read them differently from us: a repeated
 * extension, two host names in server_name, trailing bytes inside a length, non-ASCII names.
 * Reported, not judged: Encrypted Client Hello (the outer SNI is not the real destination;
 * the caller decides what that means).
 *
 * Pure: no I/O. Never throws.
 */

export const MAX_HELLO_BYTES = 64 * 1024;
/** bytes the caller may buffer while waiting: the hello plus record headers for small records */
export const MAX_BUFFERED = 2 * MAX_HELLO_BYTES;

export type HelloStep =
  | { readonly status: "more" }
  /** the first byte is not a TLS handshake record: plain text or another protocol */
  | { readonly status: "not-tls" }
  | { readonly status: "ok"; readonly sni: string | null; readonly ech: boolean }
  | { readonly status: "error"; readonly code: string; readonly message: string };

const EXT_SERVER_NAME = 0x0000;
const EXT_ECH = 0xfe0d;
const EXT_ESNI_DRAFT = 0xffce;

function fail(code: string, message: string): HelloStep {
  return { status: "error", code, message };
}

export function parseClientHello(buf: Uint8Array): HelloStep {
  if (buf.length === 0) return { status: "more" };
  if (buf[0] !== 0x16) return { status: "not-tls" };
  // Reassemble the handshake layer from consecutive handshake records.
  const parts: Uint8Array[] = [];
  let have = 0;
  let need = -1; // handshake message length incl. its 4-byte header, once known
  let off = 0;
  // a dribbling client sending one-byte records cannot make us buffer without bound
  const more = (): HelloStep => (buf.length > MAX_BUFFERED ? fail("CF_PROXY_TLS_TOO_BIG", "the ClientHello is larger than 64 KiB") : { status: "more" });
  for (;;) {
    if (buf.length < off + 5) return more();
    if (buf[off] !== 0x16) return fail("CF_PROXY_TLS_RECORD", "a non-handshake record arrived before the ClientHello was complete");
    if (buf[off + 1] !== 3) return fail("CF_PROXY_TLS_VERSION", "the record is not TLS (major version is not 3)");
    const len = ((buf[off + 3] ?? 0) << 8) | (buf[off + 4] ?? 0);
    if (len === 0 || len > 16384) return fail("CF_PROXY_TLS_RECORD", `a handshake record of ${len} bytes is not allowed`);
    if (buf.length < off + 5 + len) return more();
    const frag = buf.subarray(off + 5, off + 5 + len);
    parts.push(frag);
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const hs = concat(parts, 4);
      if (hs[0] !== 1) return fail("CF_PROXY_TLS_NOT_HELLO", `the first handshake message is type ${hs[0]}, not ClientHello`);
      need = 4 + (((hs[1] ?? 0) << 16) | ((hs[2] ?? 0) << 8) | (hs[3] ?? 0));
      if (need > MAX_HELLO_BYTES) return fail("CF_PROXY_TLS_TOO_BIG", "the ClientHello is larger than 64 KiB");
    }
    if (need >= 0 && have >= need) {
      if (have > need) return fail("CF_PROXY_TLS_TRAILING", "the ClientHello record carries bytes after the message");
      return parseHelloBody(concat(parts, need).subarray(4));
    }
  }
}

function concat(parts: readonly Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    if (o >= n) break;
    const take = Math.min(p.length, n - o);
    out.set(p.subarray(0, take), o);
    o += take;
  }
  return out;
}

function parseHelloBody(b: Uint8Array): HelloStep {
  const r = new Reader(b);
  if (!r.skip(2 + 32)) return fail("CF_PROXY_TLS_SHORT", "the ClientHello ends inside its random");
  const sid = r.u8();
  if (sid === null || sid > 32 || !r.skip(sid)) return fail("CF_PROXY_TLS_SHORT", "bad session id");
  const cs = r.u16();
  if (cs === null || cs === 0 || cs % 2 !== 0 || !r.skip(cs)) return fail("CF_PROXY_TLS_SHORT", "bad cipher suites");
  const cm = r.u8();
  if (cm === null || cm === 0 || !r.skip(cm)) return fail("CF_PROXY_TLS_SHORT", "bad compression methods");
  if (r.left() === 0) return { status: "ok", sni: null, ech: false };
  const extLen = r.u16();
  if (extLen === null || extLen !== r.left()) return fail("CF_PROXY_TLS_EXT_LEN", "the extensions length does not match the message");
  const seen = new Set<number>();
  let sni: string | null = null;
  let ech = false;
  while (r.left() > 0) {
    const type = r.u16();
    const len = r.u16();
    if (type === null || len === null || len > r.left()) return fail("CF_PROXY_TLS_EXT_LEN", "an extension runs past the end of the message");
    if (seen.has(type)) return fail("CF_PROXY_TLS_DUP_EXT", `extension ${type} appears twice`);
    seen.add(type);
    const body = r.take(len);
    if (type === EXT_ECH || type === EXT_ESNI_DRAFT) ech = true;
    if (type === EXT_SERVER_NAME) {
      const got = parseServerName(body);
      if (typeof got !== "string" && got !== null) return got;
      sni = got;
    }
  }
  return { status: "ok", sni, ech };
}

function parseServerName(b: Uint8Array): string | null | HelloStep {
  if (b.length === 0) return null; // a server's empty echo; in a ClientHello it means no name
  const r = new Reader(b);
  const listLen = r.u16();
  if (listLen === null || listLen !== r.left() || listLen === 0) return fail("CF_PROXY_TLS_SNI", "the server_name list length is wrong");
  let name: string | null = null;
  while (r.left() > 0) {
    const t = r.u8();
    const l = r.u16();
    if (t === null || l === null || l > r.left()) return fail("CF_PROXY_TLS_SNI", "a server name runs past the end of the list");
    const v = r.take(l);
    if (t !== 0) continue;
    if (name !== null) return fail("CF_PROXY_TLS_SNI", "the ClientHello names two servers");
    if (l === 0) return fail("CF_PROXY_TLS_SNI", "the server name is empty");
    for (const c of v) if (c < 0x21 || c > 0x7e) return fail("CF_PROXY_TLS_SNI", "the server name has bytes a host name cannot have");
    name = Buffer.from(v).toString("latin1");
  }
  return name;
}

class Reader {
  private p = 0;
  private readonly b: Uint8Array;
  constructor(b: Uint8Array) {
    this.b = b;
  }
  left(): number {
    return this.b.length - this.p;
  }
  u8(): number | null {
    if (this.left() < 1) return null;
    return this.b[this.p++] ?? null;
  }
  u16(): number | null {
    if (this.left() < 2) return null;
    const v = ((this.b[this.p] ?? 0) << 8) | (this.b[this.p + 1] ?? 0);
    this.p += 2;
    return v;
  }
  skip(n: number): boolean {
    if (this.left() < n) return false;
    this.p += n;
    return true;
  }
  take(n: number): Uint8Array {
    const v = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return v;
  }
}
