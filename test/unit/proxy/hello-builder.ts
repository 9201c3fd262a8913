/**
 * test/unit/proxy/hello-builder — TLS ClientHello bytes for tests: hand-built ones (to reach
 * every edge of the parser) and a real one captured from node:tls (to prove the parser reads
 * what a real client sends).
 */
import * as net from "node:net";
import * as tls from "node:tls";

export interface HelloSpec {
  /** server names in the server_name extension; [] omits the extension */
  readonly names?: readonly string[];
  /** extra raw extensions: [type, body] */
  readonly extra?: ReadonlyArray<readonly [number, Uint8Array]>;
  /** split the handshake message into records of at most this many bytes */
  readonly recordSize?: number;
}

function u16(n: number): number[] {
  return [(n >> 8) & 255, n & 255];
}

export function extension(type: number, body: Uint8Array): number[] {
  return [...u16(type), ...u16(body.length), ...body];
}

export function serverNameExt(names: readonly string[]): Uint8Array {
  const entries = names.flatMap((n) => {
    const b = Buffer.from(n, "latin1");
    return [0, ...u16(b.length), ...b];
  });
  return Uint8Array.from([...u16(entries.length), ...entries]);
}

export function buildHello(spec: HelloSpec = {}): Buffer {
  const exts: number[] = [];
  if (spec.names && spec.names.length > 0) exts.push(...extension(0, serverNameExt(spec.names)));
  for (const [t, body] of spec.extra ?? []) exts.push(...extension(t, body));
  const body = [
    3, 3, // legacy_version
    ...Array.from({ length: 32 }, () => 7), // random
    0, // session id
    ...u16(2), 0x13, 0x01, // one cipher suite
    1, 0, // null compression
    ...u16(exts.length),
    ...exts,
  ];
  const hs = [1, (body.length >> 16) & 255, (body.length >> 8) & 255, body.length & 255, ...body];
  const size = spec.recordSize ?? 16384;
  const out: number[] = [];
  for (let i = 0; i < hs.length; i += size) {
    const frag = hs.slice(i, i + size);
    out.push(0x16, 3, 1, ...u16(frag.length), ...frag);
  }
  return Buffer.from(out);
}

/** The first flight node:tls sends for `servername` (undefined: no SNI), captured on a local socket. */
export async function captureRealHello(servername: string | undefined): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address() as net.AddressInfo;
  const got = new Promise<Buffer>((resolve) => {
    server.once("connection", (s) => {
      let buf = Buffer.alloc(0);
      s.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const len = buf.length >= 5 ? buf.readUInt16BE(3) : -1;
        if (len >= 0 && buf.length >= 5 + len) {
          s.destroy();
          resolve(buf);
        }
      });
    });
  });
  const c = tls.connect({ host: "127.0.0.1", port: addr.port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }) });
  c.on("error", () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}
