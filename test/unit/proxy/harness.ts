/**
 * test/unit/proxy/harness — a proxy on loopback with origin servers beside it, for the
 * proxy's unit tests. Origins listen on 127.0.0.2 (the policy lists 127.0.0.0/8 as internal).
 *
 * The resolver here is an in-memory table standing in for DNS (a mock: the unit tests run
 * without a DNS server); test/integration/proxy-*.test.ts use the real upstream resolver
 * against dnsmasq in a namespace.
 */
import * as net from "node:net";
import * as http from "node:http";
import * as dgram from "node:dgram";
import { compileDecider } from "../../../src/match/decide.ts";
import { parseIp } from "../../../src/match/ip.ts";
import type { IpAddr } from "../../../src/match/decision.ts";
import { createMemorySink, type FlowEvent } from "../../../src/runtime/events.ts";
import { createProxy, type ListenerSpec, type Proxy, type ProxyLimits } from "../../../src/runtime/proxy/proxy.ts";
import { ResolveError, type NameResolver } from "../../../src/runtime/proxy/resolver.ts";
import { policy, type PolicySpec } from "../match/ir-builder.ts";

export const ORIGIN = "127.0.0.2";

export function tableResolver(table: Record<string, readonly string[]>): NameResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    resolve(name: string) {
      asked.push(name);
      const addrs = table[name];
      if (!addrs) return Promise.reject(new ResolveError("CF_PROXY_NXDOMAIN", `${name} has no address`));
      return Promise.resolve({ addresses: addrs.map((a) => parseIp(a) as IpAddr), ttl: 60 });
    },
  };
}

export interface Origins {
  http: number;
  echo: number;
  udp: number;
  close(): Promise<void>;
}

/** An HTTP server answering "origin <host> <method> <url>", a TCP echo server, a UDP echo. */
export async function startOrigins(): Promise<Origins> {
  const h = http.createServer((req, res) => {
    let n = 0;
    req.on("data", (d: Buffer) => (n += d.length));
    req.on("end", () => {
      const body = `origin ${req.headers.host ?? "-"} ${req.method ?? "-"} ${req.url ?? "-"} body=${n} pc=${String(req.headers["proxy-connection"] ?? "-")}\n`;
      res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  const e = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  const u = dgram.createSocket("udp4");
  u.on("message", (m, r) => u.send(Buffer.concat([Buffer.from("echo:"), m]), r.port, r.address));
  await new Promise<void>((r) => h.listen(0, ORIGIN, r));
  await new Promise<void>((r) => e.listen(0, ORIGIN, r));
  await new Promise<void>((r) => u.bind(0, ORIGIN, r));
  return {
    http: (h.address() as net.AddressInfo).port,
    echo: (e.address() as net.AddressInfo).port,
    udp: u.address().port,
    async close() {
      h.closeAllConnections();
      await new Promise<void>((r) => h.close(() => r()));
      await new Promise<void>((r) => e.close(() => r()));
      u.close();
    },
  };
}

export interface Rig {
  proxy: Proxy;
  events: FlowEvent[];
  port(kind: ListenerSpec["kind"]): number;
  close(): Promise<void>;
}

export async function startRig(
  spec: PolicySpec,
  resolver: NameResolver,
  opts: { limits?: Partial<ProxyLimits>; targetPort?: { tls?: number; http?: number }; requireSni?: number[] } = {},
): Promise<Rig> {
  const p = policy(spec);
  const sink = createMemorySink();
  const listeners: ListenerSpec[] = [
    { kind: "http", address: "127.0.0.1", port: 0 },
    { kind: "socks5", address: "127.0.0.1", port: 0 },
    { kind: "transparent-tls", address: "127.0.0.1", port: 0, ...(opts.targetPort?.tls ? { targetPort: opts.targetPort.tls } : {}) },
    { kind: "transparent-http", address: "127.0.0.1", port: 0, ...(opts.targetPort?.http ? { targetPort: opts.targetPort.http } : {}) },
  ];
  const proxy = createProxy({
    listeners,
    policy: p,
    decider: compileDecider(p),
    resolver,
    sink,
    clock: { now: () => Date.now() },
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.requireSni ? { requireSni: opts.requireSni } : {}),
  });
  await proxy.start();
  return {
    proxy,
    events: sink.events,
    port(kind) {
      const a = proxy.addresses().find((x) => x.kind === kind);
      if (!a) throw new Error(`no ${kind} listener`);
      return a.port;
    },
    close: () => proxy.close(),
  };
}

/** Wait until `pred` holds (events arrive when sockets close). */
export async function until(pred: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Open a TCP connection, write `data`, and collect everything until the peer closes (or `ms`). */
export function exchange(port: number, data: Buffer | string, ms = 3000, firstDataOnly = false): Promise<{ text: string; buf: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let finished = false;
    const done = (closed: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(t);
      s.destroy();
      const buf = Buffer.concat(chunks);
      resolve({ text: buf.toString("latin1"), buf, closed });
    };
    const t = setTimeout(() => done(false), ms);
    s.on("data", (d: Buffer) => {
      chunks.push(d);
      // a keep-alive answer leaves the connection open: the first bytes are enough
      if (firstDataOnly) setTimeout(() => done(false), 30);
    });
    s.on("error", () => done(true));
    s.on("close", () => done(true));
    s.on("connect", () => s.write(data));
  });
}

/** A connected socket with a queue of received bytes, for step-by-step protocols. */
export async function stepper(port: number): Promise<{ s: net.Socket; read(n: number, ms?: number): Promise<Buffer>; closed: Promise<void> }> {
  const s = net.connect({ host: "127.0.0.1", port });
  s.on("error", () => {});
  await new Promise<void>((r) => s.once("connect", () => r()));
  let buf = Buffer.alloc(0);
  let waiter: (() => void) | null = null;
  s.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    waiter?.();
  });
  const closed = new Promise<void>((r) => s.once("close", () => r()));
  return {
    s,
    closed,
    async read(n: number, ms = 3000): Promise<Buffer> {
      const t0 = Date.now();
      while (buf.length < n) {
        if (s.destroyed && buf.length < n) throw new Error(`closed after ${buf.length} of ${n} bytes`);
        if (Date.now() - t0 > ms) throw new Error(`timeout after ${buf.length} of ${n} bytes`);
        await new Promise<void>((r) => {
          waiter = r;
          setTimeout(r, 20);
        });
      }
      const out = buf.subarray(0, n);
      buf = buf.subarray(n);
      return out;
    },
  };
}
