/**
 * verify/live/recorder — the far side of `clawfence verify --live`: one process, run inside a
 * namespace of the live world (`ip netns exec`), that serves the world's zone over DNS and
 * listens on every address and port a probe aims at, and prints one JSON line for everything
 * that reaches it. These lines are the verdicts; what the probe itself saw is evidence only.
 *
 *   node recorder.ts SPEC.json
 *
 * SPEC: { resolver?: {address}, zone: [{name, a, aaaa, ttl}], listeners: [{proto, addr, port}] }.
 * Lines (stdout): {"ev":"ready"} once every listener is bound, then
 *   {"ev":"tcp","a","p","from"}         a TCP connection was accepted
 *   {"ev":"data","a","p","n","sni"?,"host"?,"tls"}  its first bytes (TLS ClientHello SNI / HTTP Host)
 *   {"ev":"udp","a","p","n","from"}     a datagram
 *   {"ev":"dns","name","type"}          a question reached the resolver
 * A listener that cannot bind is fatal (exit 1): a probe aimed at it would pass vacuously.
 * Imports the demo's zone server and the proxy's ClientHello parser (read-only use).
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer, isIPv6, type Server } from "node:net";
import type { Answer } from "dns-packet";
import { startZoneServer, type Zone } from "../../runtime/demo/zone-server.ts";
import { parseClientHello } from "../../runtime/proxy/client-hello.ts";

export interface RecorderSpec {
  readonly resolver?: { readonly address: string };
  readonly zone: ReadonlyArray<{ readonly name: string; readonly a: readonly string[]; readonly aaaa: readonly string[]; readonly ttl: number }>;
  readonly listeners: ReadonlyArray<{ readonly proto: "tcp" | "udp"; readonly addr: string; readonly port: number }>;
}

function emit(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function httpHost(buf: Buffer): string | undefined {
  const text = buf.subarray(0, 2048).toString("latin1");
  if (!/^[A-Z]+ \S+ HTTP\/1\.[01]\r\n/.test(text)) return undefined;
  const m = /\r\nhost:[ \t]*([^\r\n]*)/i.exec(text);
  return m?.[1]?.trim() ?? "";
}

function tcpListener(addr: string, port: number): Promise<Server> {
  const s = createServer((sock) => {
    emit({ ev: "tcp", a: addr, p: port, from: sock.remoteAddress ?? "?" });
    let first = true;
    sock.on("data", (d: Buffer) => {
      if (!first) return;
      first = false;
      const hello = parseClientHello(d);
      const host = httpHost(d);
      emit({ ev: "data", a: addr, p: port, n: d.length, tls: hello.status !== "not-tls", ...(hello.status === "ok" && hello.sni !== null ? { sni: hello.sni } : {}), ...(host !== undefined ? { host } : {}) });
      if (host !== undefined) sock.end("HTTP/1.1 200 OK\r\ncontent-length: 12\r\nconnection: close\r\n\r\nfar side ok\n");
      else if (hello.status === "not-tls") sock.end("CFOK far side\n");
      // TLS: no handshake from here; the probe gives up after its read timeout
    });
    sock.on("error", () => undefined);
    sock.setTimeout(5000, () => sock.destroy());
  });
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen({ host: addr, port, ipv6Only: isIPv6(addr) }, () => resolve(s));
  });
}

function udpListener(addr: string, port: number): Promise<UdpSocket> {
  const u = createSocket(isIPv6(addr) ? "udp6" : "udp4");
  u.on("message", (m, r) => {
    emit({ ev: "udp", a: addr, p: port, n: m.length, from: r.address });
    u.send("CFOK far side\n", r.port, r.address);
  });
  return new Promise((resolve, reject) => {
    u.once("error", reject);
    u.bind(port, addr, () => resolve(u));
  });
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined) throw new Error("usage: recorder.ts SPEC.json");
  const spec = JSON.parse(readFileSync(file, "utf8")) as RecorderSpec;
  if (spec.resolver) {
    const zone: Zone = {};
    for (const z of spec.zone) {
      const a = z.a.map((ip): Answer => ({ type: "A", name: z.name, ttl: z.ttl, data: ip }) as Answer);
      const aaaa = z.aaaa.map((ip): Answer => ({ type: "AAAA", name: z.name, ttl: z.ttl, data: ip }) as Answer);
      zone[`${z.name}|A`] = { answers: a };
      zone[`${z.name}|AAAA`] = { answers: aaaa };
      zone[`${z.name}|*`] = { answers: [] };
    }
    const dns = await startZoneServer(zone, spec.resolver.address, 53);
    const push = dns.log.push.bind(dns.log);
    dns.log.push = (...items) => {
      for (const q of items) emit({ ev: "dns", name: q.name.toLowerCase(), type: q.type, tcp: q.tcp });
      return push(...items);
    };
  }
  for (const l of spec.listeners) {
    try {
      if (l.proto === "tcp") await tcpListener(l.addr, l.port);
      else await udpListener(l.addr, l.port);
    } catch (e) {
      throw new Error(`cannot listen on ${l.proto} ${l.addr}:${l.port}: ${(e as Error).message}`, { cause: e });
    }
  }
  emit({ ev: "ready" });
  process.on("SIGTERM", () => process.exit(0));
}

main().catch((e: unknown) => {
  process.stderr.write(`verify recorder: ${(e as Error).message}\n`);
  process.exit(1);
});
