/**
 * runtime/dns/upstream — asks the configured upstream resolvers, and nothing else.
 *
 * Map: guard -> `resolve(qname, qtype, cd)` -> one UDP socket per address family, a fresh
 * random id per query, answers accepted only from the upstream asked, with the id and
 * question asked -> on TC, the same question over TCP -> on timeout or network error, the
 * next upstream (the last one that answered is tried first). Identical questions in flight
 * share one upstream query. Bounded: at most `maxInflight` questions in flight.
 *
 * The query sent upstream is built from the normalized question only (codec.ts): no client
 * id, no client EDNS options, so nothing the client chose reaches an upstream but the name
 * the guard allowed.
 *
 * Owns sockets and timers; no policy knowledge.
 */
import { createSocket, type Socket } from "node:dgram";
import { connect } from "node:net";
import { randomInt } from "node:crypto";
import type { Packet } from "dns-packet";
import type { Upstream } from "../../policy/ir.ts";
import { decodeResponse, encodeUpstreamQuery, frame, frameAt, MAX_MESSAGE, rcodeOf, typeNumber } from "./codec.ts";
import { RuntimeError } from "../errors.ts";

export interface UpstreamClient {
  /** Resolves with the upstream's decoded answer; rejects with CF_RUNTIME_DNS_UPSTREAM when every upstream failed. */
  resolve(qname: string, qtype: number, cd: boolean): Promise<{ packet: Packet; upstream: string; tcp: boolean }>;
  close(): Promise<void>;
  /** questions in flight (for tests of the bound) */
  inflight(): number;
}

export interface UpstreamOptions {
  readonly upstreams: readonly Upstream[];
  /** per-try timeout, default 1500 ms */
  readonly timeoutMs?: number;
  readonly maxInflight?: number;
}

interface PendingUdp {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly qname: string;
  readonly qtype: number;
  readonly resolve: (b: Buffer) => void;
}

export function createUpstreamClient(o: UpstreamOptions): UpstreamClient {
  if (o.upstreams.length === 0) throw new RuntimeError("CF_RUNTIME_DNS_NO_UPSTREAM", "no DNS upstreams configured", "set dns.upstreams in the policy or pass --dns-upstream ADDR");
  const timeoutMs = o.timeoutMs ?? 1500;
  const maxInflight = o.maxInflight ?? 4096;
  const sockets = new Map<4 | 6, Socket>();
  /** `${family}:${id}` -> pending */
  const pending = new Map<string, PendingUdp>();
  const shared = new Map<string, Promise<{ packet: Packet; upstream: string; tcp: boolean }>>();
  let preferred = 0;
  let closed = false;

  function socketFor(family: 4 | 6): Socket {
    let s = sockets.get(family);
    if (s) return s;
    s = createSocket({ type: family === 4 ? "udp4" : "udp6" });
    s.on("message", (msg, rinfo) => {
      if (msg.length < 12) return;
      const id = msg.readUInt16BE(0);
      const key = `${family}:${id}`;
      const p = pending.get(key);
      // only the upstream we asked, from the port we asked
      if (!p || p.address !== rinfo.address || p.port !== rinfo.port) return;
      pending.delete(key);
      p.resolve(msg);
    });
    s.on("error", () => {
      /* per-query timeouts report failures */
    });
    s.unref();
    sockets.set(family, s);
    return s;
  }

  function udpOnce(u: Upstream, qname: string, qtype: number, cd: boolean): Promise<Buffer | null> {
    const family = u.family;
    const sock = socketFor(family);
    let id = randomInt(0, 65536);
    for (let i = 0; pending.has(`${family}:${id}`) && i < 16; i++) id = randomInt(0, 65536);
    const key = `${family}:${id}`;
    if (pending.has(key)) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (pending.get(key)?.resolve === done) pending.delete(key);
        resolve(null);
      }, timeoutMs);
      const done = (b: Buffer): void => {
        clearTimeout(timer);
        resolve(b);
      };
      pending.set(key, { key, address: u.address, port: u.port, qname, qtype, resolve: done });
      sock.send(encodeUpstreamQuery(id, qname, qtype, cd), u.port, u.address, (err) => {
        if (err) {
          pending.delete(key);
          clearTimeout(timer);
          resolve(null);
        }
      });
    }).then((b) => (b === null ? null : checkAnswer(b as Buffer, id, qname, qtype)));
  }

  function tcpOnce(u: Upstream, qname: string, qtype: number, cd: boolean): Promise<Buffer | null> {
    const id = randomInt(0, 65536);
    return new Promise<Buffer | null>((resolve) => {
      const sock = connect({ host: u.address, port: u.port });
      let buf = Buffer.alloc(0);
      const finish = (b: Buffer | null): void => {
        clearTimeout(timer);
        sock.destroy();
        resolve(b);
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      sock.on("connect", () => sock.write(frame(encodeUpstreamQuery(id, qname, qtype, cd))));
      sock.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length > MAX_MESSAGE + 2) return finish(null);
        const f = frameAt(buf, 0);
        if (f) finish(Buffer.from(f.msg));
      });
      sock.on("error", () => finish(null));
      sock.on("close", () => finish(null));
    }).then((b) => (b === null ? null : checkAnswer(b, id, qname, qtype)));
  }

  /** Accept only the answer to the question we asked. */
  function checkAnswer(b: Buffer, id: number, qname: string, qtype: number): Buffer | null {
    if (b.readUInt16BE(0) !== id || (b.readUInt16BE(2) & 0x8000) === 0) return null;
    const d = decodeResponse(b);
    if (!d.ok) return null;
    const q = d.packet.questions?.[0];
    if (!q || q.name.toLowerCase().replace(/\.$/, "") !== (qname === "" ? "." : qname) || typeNumber(q.type) !== qtype) return null;
    return b;
  }

  async function ask(qname: string, qtype: number, cd: boolean): Promise<{ packet: Packet; upstream: string; tcp: boolean }> {
    const n = o.upstreams.length;
    let lastFailure = "no answer";
    for (let i = 0; i < n; i++) {
      const idx = (preferred + i) % n;
      const u = o.upstreams[idx]!;
      const name = u.family === 6 ? `[${u.address}]:${u.port}` : `${u.address}:${u.port}`;
      let raw = await udpOnce(u, qname, qtype, cd);
      let tcp = false;
      if (raw !== null && (raw.readUInt16BE(2) & 0x0200) !== 0) {
        raw = await tcpOnce(u, qname, qtype, cd);
        tcp = true;
      }
      if (raw === null) {
        lastFailure = `${name} did not answer`;
        continue;
      }
      const d = decodeResponse(raw);
      if (!d.ok) {
        lastFailure = `${name}: ${d.why}`;
        continue;
      }
      const rcode = rcodeOf(d.packet);
      if ((rcode === "SERVFAIL" || rcode === "REFUSED") && i < n - 1) {
        lastFailure = `${name} answered ${rcode}`;
        continue;
      }
      preferred = idx;
      return { packet: d.packet, upstream: name, tcp };
    }
    throw new RuntimeError("CF_RUNTIME_DNS_UPSTREAM", `every DNS upstream failed (${lastFailure})`, "check dns.upstreams and that the upstream resolvers are reachable from the guard");
  }

  return {
    resolve(qname, qtype, cd) {
      if (closed) return Promise.reject(new RuntimeError("CF_RUNTIME_DNS_CLOSED", "the upstream client is closed", "start the guard again"));
      const key = `${qname}|${qtype}|${cd ? 1 : 0}`;
      const s = shared.get(key);
      if (s) return s;
      if (shared.size >= maxInflight) return Promise.reject(new RuntimeError("CF_RUNTIME_DNS_BUSY", `more than ${maxInflight} questions in flight`, "the client is flooding the guard; raise maxInflight if this is expected"));
      const p = ask(qname, qtype, cd).finally(() => shared.delete(key));
      shared.set(key, p);
      return p;
    },
    async close() {
      closed = true;
      for (const s of sockets.values()) s.close();
      sockets.clear();
    },
    inflight: () => shared.size,
  };
}
