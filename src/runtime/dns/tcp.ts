/**
 * runtime/dns/tcp — one DNS-over-TCP client connection (RFC 7766 framing), for the DNS guard
 * and the enforcer's front: bounded connections, an idle timeout, bounded buffered bytes and
 * at most 32 questions in flight per connection (pipelining), answers written as they come.
 *
 * Owns the socket's reading and framing only; what a question gets is the caller's
 * `answer` (null: no reply; a rejection closes the connection).
 */
import type { Socket as TcpSocket } from "node:net";
import { frame, frameAt, MAX_MESSAGE } from "./codec.ts";

export interface DnsTcpOptions {
  /** the open connections of this server (this one is added, and removed on close) */
  readonly conns: Set<TcpSocket>;
  readonly maxConns: number;
  readonly idleMs: number;
  answer(msg: Buffer, client: string): Promise<Buffer | null>;
}

const MAX_PENDING = 32;

export function serveDnsTcp(sock: TcpSocket, o: DnsTcpOptions): void {
  if (o.conns.size >= o.maxConns) {
    sock.destroy();
    return;
  }
  o.conns.add(sock);
  sock.setTimeout(o.idleMs, () => sock.destroy());
  const client = `${sock.remoteFamily === "IPv6" ? `[${sock.remoteAddress}]` : sock.remoteAddress}:${sock.remotePort}`;
  let buf: Buffer = Buffer.alloc(0);
  let pending = 0;
  sock.on("data", (d: Buffer) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    if (buf.length > MAX_MESSAGE + 2 + 64 * 1024) return void sock.destroy();
    let off = 0;
    for (;;) {
      const f = frameAt(buf, off);
      if (f === null) break;
      off = f.next;
      if (pending >= MAX_PENDING) return void sock.destroy(); // pipelining bound
      pending++;
      o.answer(f.msg, client).then(
        (r) => {
          pending--;
          if (r !== null && !sock.destroyed) sock.write(frame(r));
        },
        () => {
          pending--;
          sock.destroy();
        },
      );
    }
    buf = off === 0 ? buf : buf.subarray(off);
  });
  sock.on("error", () => {});
  sock.on("close", () => o.conns.delete(sock));
}
