/**
 * runtime/demo/zone-server — a tiny authoritative DNS server: answers from a static table,
 * logs every question it receives, truncates UDP answers over 512 bytes (TC) and answers the
 * same question in full over TCP. It is the resolver of `clawfence demo`'s offline world and
 * the upstream of the DNS guard's unit tests (integration tests use dnsmasq and unbound).
 * Not a resolver for production: no recursion, no DNSSEC, no limits beyond the demo's needs.
 */
import { createSocket } from "node:dgram";
import { createServer, type Socket } from "node:net";
import * as dnsPacket from "dns-packet";
import type { Answer, Packet } from "dns-packet";

export interface ZoneServer {
  readonly port: number;
  readonly log: Array<{ name: string; type: string; tcp: boolean }>;
  close(): Promise<void>;
}

export type Zone = Record<string, { answers?: Answer[]; rcode?: string; authorities?: Answer[] }>;

function answer(q: Packet, zone: Zone): Buffer {
  const question = q.questions?.[0];
  const key = `${(question?.name ?? "").toLowerCase()}|${question?.type ?? ""}`;
  const z = zone[key] ?? zone[`${(question?.name ?? "").toLowerCase()}|*`];
  const rcodes: Record<string, number> = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 };
  return dnsPacket.encode({
    type: "response",
    id: q.id ?? 0,
    flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED | (rcodes[z?.rcode ?? (z ? "NOERROR" : "NXDOMAIN")] ?? 0),
    questions: q.questions ?? [],
    answers: z?.answers ?? [],
    authorities: z?.authorities ?? [],
  });
}

export async function startZoneServer(zone: Zone, address = "127.0.0.1", port = 0): Promise<ZoneServer> {
  const log: ZoneServer["log"] = [];
  const udp = createSocket("udp4");
  udp.on("message", (m, r) => {
    let q: Packet;
    try {
      q = dnsPacket.decode(m);
    } catch {
      return;
    }
    const qq = q.questions?.[0];
    log.push({ name: qq?.name ?? "", type: qq?.type ?? "", tcp: false });
    let out = answer(q, zone);
    if (out.length > 512) {
      out = dnsPacket.encode({ type: "response", id: q.id ?? 0, flags: dnsPacket.TRUNCATED_RESPONSE | dnsPacket.RECURSION_AVAILABLE, questions: q.questions ?? [] });
    }
    udp.send(out, r.port, r.address);
  });
  await new Promise<void>((res) => udp.bind(port, address, () => res()));
  const bound = udp.address().port;
  const conns = new Set<Socket>();
  const tcp = createServer((s) => {
    conns.add(s);
    let buf = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        let q: Packet;
        try {
          q = dnsPacket.decode(buf.subarray(2, 2 + len));
        } catch {
          s.destroy();
          return;
        }
        buf = buf.subarray(2 + len);
        const qq = q.questions?.[0];
        log.push({ name: qq?.name ?? "", type: qq?.type ?? "", tcp: true });
        const out = answer(q, zone);
        const f = Buffer.alloc(2);
        f.writeUInt16BE(out.length);
        s.write(Buffer.concat([f, out]));
      }
    });
    s.on("error", () => {});
    s.on("close", () => conns.delete(s));
  });
  await new Promise<void>((res) => tcp.listen(bound, address, () => res()));
  return {
    port: bound,
    log,
    async close() {
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => udp.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}
