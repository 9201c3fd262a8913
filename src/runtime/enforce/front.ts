/**
 * runtime/enforce/front — the enforcer's DNS sockets (UDP and TCP on one address and port),
 * handing each query to the current DNS guard's `handle()`, so a reload can swap the guard
 * (new policy, new decider, new set programmer) without closing the sockets.
 *
 * Map: datagram / TCP frame -> gate -> handler(msg, client, transport) -> reply.
 * `pause()` closes the gate and resolves when every query already inside has its reply (its
 * set elements are in the kernel): the reload then reads the kernel's live elements knowing
 * nothing is on its way. Queries arriving while paused wait (bounded: beyond `maxQueued`
 * they are dropped, and the client retries); `resume(handler)` lets them through to the new
 * guard. TCP framing and bounds mirror the guard's own servers (dns/guard.ts).
 *
 * Owns the sockets; knows nothing of policies.
 */
import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server, type Socket as TcpSocket } from "node:net";
import { serveDnsTcp } from "../dns/tcp.ts";
import { RuntimeError } from "../errors.ts";

export type QueryHandler = (msg: Uint8Array, client: string, transport: "udp" | "tcp") => Promise<Buffer | null>;

export interface DnsFrontOptions {
  readonly address: string;
  readonly port: number;
  readonly handler: QueryHandler;
  readonly maxQueued?: number;
  readonly maxTcpConnections?: number;
  readonly tcpIdleMs?: number;
}

export interface DnsFront {
  start(): Promise<void>;
  /** stop handing out queries; resolves when the ones in flight are answered */
  pause(): Promise<void>;
  /** hand queries (the waiting ones first) to `handler` from now on */
  resume(handler?: QueryHandler): void;
  close(): Promise<void>;
  address(): { address: string; port: number };
  stats(): { inflight: number; queued: number; dropped: number };
}

export function createDnsFront(o: DnsFrontOptions): DnsFront {
  const maxQueued = o.maxQueued ?? 10_000;
  const maxTcp = o.maxTcpConnections ?? 256;
  const tcpIdleMs = o.tcpIdleMs ?? 10_000;
  let handler = o.handler;
  let paused = false;
  let inflight = 0;
  let dropped = 0;
  let drained: (() => void) | null = null;
  const queue: Array<() => void> = [];
  let udp: Socket | null = null;
  let tcp: Server | null = null;
  const conns = new Set<TcpSocket>();

  function dispatch(msg: Uint8Array, client: string, transport: "udp" | "tcp", reply: (r: Buffer) => void, fail: () => void): void {
    const go = (): void => {
      inflight++;
      void handler(msg, client, transport)
        .then(
          (r) => {
            if (r !== null) reply(r);
          },
          () => fail(),
        )
        .finally(() => {
          inflight--;
          if (inflight === 0 && drained) {
            const d = drained;
            drained = null;
            d();
          }
        });
    };
    if (!paused) return go();
    if (queue.length >= maxQueued) {
      dropped++;
      return;
    }
    queue.push(go);
  }

  function onTcp(sock: TcpSocket): void {
    serveDnsTcp(sock, {
      conns,
      maxConns: maxTcp,
      idleMs: tcpIdleMs,
      // a copy: a paused front holds the question until the guard is swapped
      answer: (msg, client) => new Promise<Buffer | null>((ok, fail) => dispatch(Buffer.from(msg), client, "tcp", ok, fail)),
    });
  }

  return {
    async start() {
      const u = createSocket({ type: o.address.includes(":") ? "udp6" : "udp4" });
      u.on("message", (m, rinfo) => {
        const client = rinfo.family === "IPv6" ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`;
        dispatch(m, client, "udp", (r) => u.send(r, rinfo.port, rinfo.address), () => undefined);
      });
      u.on("error", () => {});
      await new Promise<void>((resolve, reject) => {
        u.once("error", reject);
        u.bind(o.port, o.address, () => {
          u.off("error", reject);
          resolve();
        });
      }).catch((e: unknown) => {
        u.close();
        throw new RuntimeError("CF_RUNTIME_ENFORCE_LISTEN", `the DNS guard cannot listen on ${o.address}:${o.port}: ${(e as Error).message}`, "stop what listens there (e.g. another resolver) or pick another address with --dns-listen");
      });
      udp = u;
      const t = createServer(onTcp);
      await new Promise<void>((resolve, reject) => {
        t.once("error", reject);
        t.listen(u.address().port, o.address, () => {
          t.off("error", reject);
          resolve();
        });
      }).catch((e: unknown) => {
        u.close();
        udp = null;
        throw new RuntimeError("CF_RUNTIME_ENFORCE_LISTEN", `the DNS guard cannot listen on TCP ${o.address}:${o.port}: ${(e as Error).message}`, "stop what listens there or pick another address with --dns-listen");
      });
      tcp = t;
    },
    pause() {
      paused = true;
      if (inflight === 0) return Promise.resolve();
      return new Promise<void>((r) => {
        drained = r;
      });
    },
    resume(h) {
      if (h) handler = h;
      paused = false;
      for (const go of queue.splice(0)) go();
    },
    async close() {
      const u = udp;
      const t = tcp;
      udp = null;
      tcp = null;
      queue.length = 0;
      if (u) await new Promise<void>((r) => u.close(() => r()));
      for (const s of conns) s.destroy();
      if (t) await new Promise<void>((r) => t.close(() => r()));
    },
    address() {
      const a = udp?.address();
      if (!a) throw new RuntimeError("CF_RUNTIME_DNS_NOT_STARTED", "the DNS front is not listening", "call start() first");
      return { address: a.address, port: a.port };
    },
    stats: () => ({ inflight, queued: queue.length, dropped }),
  };
}
