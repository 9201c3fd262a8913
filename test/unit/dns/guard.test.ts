/**
 * The DNS guard end to end inside one process: real UDP/TCP sockets on 127.0.0.1, a real
 * upstream (zone-server.ts), the real decider and set programmer. Mock: the nft runner only
 * records the text it would apply — nft must run in a namespace of its own, which
 * test/integration/dns-guard.test.ts does with the real kernel.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import * as dnsPacket from "dns-packet";
import type { Packet } from "dns-packet";
import { compileDecider } from "../../../src/match/decide.ts";
import { createDnsGuard, type DnsGuard } from "../../../src/runtime/dns/guard.ts";
import { createSetProgrammer, type SetProgrammer } from "../../../src/runtime/nft/programmer.ts";
import type { NftRunner } from "../../../src/runtime/nft/session.ts";
import { createMemorySink, FLOW_CHANNEL, type FlowEvent } from "../../../src/runtime/events.ts";
import type { Policy } from "../../../src/policy/ir.ts";
import { allow, deny, policy as buildPolicy } from "../match/ir-builder.ts";
import { startZoneServer, type Zone, type ZoneServer } from "../../../src/runtime/demo/zone-server.ts";

const ZONE: Zone = {
  "api.example.com|A": { answers: [{ type: "A", name: "api.example.com", ttl: 60, data: "93.184.216.10" }] },
  "api.example.com|AAAA": { answers: [{ type: "AAAA", name: "api.example.com", ttl: 60, data: "2606:4700::10" }] },
  "www.cdn.example.net|A": {
    answers: [
      { type: "CNAME", name: "www.cdn.example.net", ttl: 300, data: "edge.cdnprovider.example" },
      { type: "A", name: "edge.cdnprovider.example", ttl: 30, data: "151.101.1.7" },
      { type: "A", name: "unrelated.example.org", ttl: 30, data: "151.101.1.99" },
    ],
  },
  "rebind.cdn.example.net|A": {
    answers: [
      { type: "A", name: "rebind.cdn.example.net", ttl: 60, data: "127.0.0.1" },
      { type: "A", name: "rebind.cdn.example.net", ttl: 60, data: "169.254.169.254" },
      { type: "A", name: "rebind.cdn.example.net", ttl: 60, data: "93.184.216.11" },
    ],
  },
  "big.cdn.example.net|A": {
    answers: Array.from({ length: 40 }, (_, i) => ({ type: "A" as const, name: "big.cdn.example.net", ttl: 60, data: `93.184.216.${100 + i}` })),
  },
  "txt.cdn.example.net|TXT": { answers: [{ type: "TXT", name: "txt.cdn.example.net", ttl: 60, data: ["x".repeat(250), "y".repeat(250), "z".repeat(100)] }] },
};

interface Rig {
  guard: DnsGuard;
  upstream: ZoneServer;
  applied: string[];
  sink: ReturnType<typeof createMemorySink>;
  clock: { t: number; now(): number };
  failNft: { on: boolean };
  /** program() calls the guard made, and a switch that makes them reject before the runner */
  programCalls: { n: number; fail: boolean };
  close(): Promise<void>;
}

function testPolicy(mode: "enforce" | "monitor" = "enforce"): Policy {
  return buildPolicy({
    mode,
    rules: [deny("block-evil", ["evil.example.com", "*.exfil.example"]), allow("models", ["api.example.com", "*.cdn.example.net"], { ports: [443], protocol: "tcp" })],
  });
}

async function rig(p: Policy = testPolicy(), limits = {}): Promise<Rig> {
  const upstream = await startZoneServer(ZONE);
  const applied: string[] = [];
  const failNft = { on: false };
  const runner: NftRunner = {
    apply(text) {
      if (failNft.on) return Promise.reject(new Error("nft refused"));
      applied.push(text);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  const clock = { t: 1_700_000_000_000, now: () => clock.t };
  const real = createSetProgrammer({ policy: p, table: "cf_test", runner, clock });
  const programCalls = { n: 0, fail: false };
  const programmer: SetProgrammer = {
    ...real,
    program(entries, minTtl) {
      programCalls.n++;
      return programCalls.fail ? Promise.reject(new Error("programmer refused")) : real.program(entries, minTtl);
    },
  };
  const sink = createMemorySink();
  const guard = createDnsGuard({
    listen: { address: "127.0.0.1", port: 0 },
    policy: p,
    decider: compileDecider(p),
    upstreams: [{ address: "127.0.0.1", family: 4, port: upstream.port }],
    programmer,
    sink,
    clock,
    limits: { upstreamTimeoutMs: 500, ...limits },
  });
  await guard.start();
  return {
    guard,
    upstream,
    applied,
    sink,
    clock,
    failNft,
    programCalls,
    async close() {
      await guard.close();
      await upstream.close();
    },
  };
}

function query(name: string, type: "A" | "AAAA" | "TXT" | "NULL" | "HTTPS" = "A", id = 4242, edns = true): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type === "HTTPS" ? ("UNKNOWN_65" as "A") : type, class: "IN" }],
    ...(edns ? { additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232, flags: 0 } as unknown as dnsPacket.Answer] } : {}),
  });
}

async function ask(r: Rig, name: string, type: Parameters<typeof query>[1] = "A"): Promise<{ p: Packet; e: FlowEvent }> {
  const before = r.sink.events.length;
  const out = await r.guard.handle(query(name, type), "127.0.0.1:5353", "udp");
  assert.ok(out, "the guard answered");
  const e = r.sink.events[before];
  assert.ok(e, "one flow event per query");
  assert.equal(r.sink.events.length, before + 1);
  return { p: dnsPacket.decode(out), e };
}

const rcode = (p: Packet): string => (p as Packet & { rcode: string }).rcode;

void test("an allowed name is answered after its address is programmed for the rule's ports", async () => {
  const r = await rig();
  try {
    const { p, e } = await ask(r, "API.Example.com");
    assert.equal(rcode(p), "NOERROR");
    assert.equal(p.questions?.[0]?.name, "API.Example.com", "question echoed with the client's case (0x20)");
    assert.deepEqual(
      p.answers?.map((a) => (a as { data?: unknown }).data),
      ["93.184.216.10"],
    );
    assert.equal(r.applied.join(""), "add element inet cf_test d1_4 { 93.184.216.10 . tcp . 443 timeout 60s }\n");
    assert.equal(e.verdict, "allow");
    assert.equal(e.rule, "models");
    assert.equal(e.reason, "rule-allow");
    assert.equal(e.rcode, "NOERROR");
    assert.deepEqual(e.answers, ["93.184.216.10"]);
    assert.equal(e.qtype, "A");
    assert.equal(e.kind, "dns");
    assert.ok(typeof e.latency_ms === "number");
  } finally {
    await r.close();
  }
});

void test("AAAA answers go to the IPv6 set", async () => {
  const r = await rig();
  try {
    const { p } = await ask(r, "api.example.com", "AAAA");
    assert.equal(rcode(p), "NOERROR");
    assert.equal(r.applied.join(""), "add element inet cf_test d1_6 { 2606:4700::10 . tcp . 443 timeout 60s }\n");
  } finally {
    await r.close();
  }
});

void test("a name denied by a rule is refused with that rule and never reaches the upstream", async () => {
  const r = await rig();
  try {
    const { p, e } = await ask(r, "data1.exfil.example");
    assert.equal(rcode(p), "REFUSED");
    assert.equal(e.rule, "block-evil");
    assert.equal(e.reason, "rule-deny");
    assert.equal(e.enforced, true);
    assert.equal(r.upstream.log.length, 0);
    assert.equal(r.applied.length, 0);
  } finally {
    await r.close();
  }
});

void test("an unlisted name is refused by the default and never reaches the upstream", async () => {
  const r = await rig();
  try {
    const { p, e } = await ask(r, "elsewhere.example.org");
    assert.equal(rcode(p), "REFUSED");
    assert.equal(e.rule, "default");
    assert.equal(e.reason, "default-deny");
    assert.equal(r.upstream.log.length, 0);
  } finally {
    await r.close();
  }
});

void test("a CNAME chain ties the final address to the name asked and drops unrelated records", async () => {
  const r = await rig();
  try {
    const { p, e } = await ask(r, "www.cdn.example.net");
    assert.deepEqual(
      p.answers?.map((a) => `${a.type} ${a.name} ${String((a as { data?: unknown }).data)}`),
      ["CNAME www.cdn.example.net edge.cdnprovider.example", "A edge.cdnprovider.example 151.101.1.7"],
    );
    assert.deepEqual(e.answers, ["151.101.1.7"]);
    // TTL 30 < ... programmed for max(30, min_ttl 5) = 30 s
    assert.equal(r.applied.join(""), "add element inet cf_test d1_4 { 151.101.1.7 . tcp . 443 timeout 30s }\n");
  } finally {
    await r.close();
  }
});

void test("special-purpose addresses are removed from an answer (rebinding) and logged", async () => {
  const r = await rig();
  try {
    const { p, e } = await ask(r, "rebind.cdn.example.net");
    assert.deepEqual(
      p.answers?.map((a) => (a as { data?: unknown }).data),
      ["93.184.216.11"],
    );
    assert.deepEqual(e.removed, ["127.0.0.1", "169.254.169.254"]);
    assert.ok(!r.applied.join("").includes("127.0.0.1"));
  } finally {
    await r.close();
  }
});

void test("a long encoded label under an allowed wildcard is refused as exfiltration before any upstream sees it", async () => {
  const r = await rig();
  try {
    const { p, e } = await ask(r, "mzxw6ytboi4dgnbvgy3tqojqgezdgnbvgy3tqojqmfrggzdfmztwq2lk.cdn.example.net");
    assert.equal(rcode(p), "REFUSED");
    assert.equal(e.reason, "dns-exfiltration");
    assert.equal(e.rule, "models");
    assert.match(e.detail ?? "", /^label-length/);
    assert.equal(r.upstream.log.length, 0);
  } finally {
    await r.close();
  }
});

void test("a large TXT answer under a wildcard is refused as exfiltration", async () => {
  const r = await rig();
  try {
    const { p, e } = await ask(r, "txt.cdn.example.net", "TXT");
    assert.equal(rcode(p), "REFUSED");
    assert.equal(e.reason, "dns-exfiltration");
    assert.match(e.detail ?? "", /^txt-size/);
  } finally {
    await r.close();
  }
});

void test("NULL queries under a wildcard are refused", async () => {
  const r = await rig();
  try {
    const { p, e } = await ask(r, "a.cdn.example.net", "NULL");
    assert.equal(rcode(p), "REFUSED");
    assert.match(e.detail ?? "", /^query-type/);
    assert.equal(r.upstream.log.length, 0);
  } finally {
    await r.close();
  }
});

void test("use-application-dns.net is NXDOMAIN so browsers keep DoH off", async () => {
  const r = await rig();
  try {
    const { p } = await ask(r, "use-application-dns.net");
    assert.equal(rcode(p), "NXDOMAIN");
    assert.equal(r.upstream.log.length, 0);
  } finally {
    await r.close();
  }
});

void test("when programming fails the client gets SERVFAIL (fail closed)", async () => {
  const r = await rig();
  try {
    r.failNft.on = true;
    const { p, e } = await ask(r, "api.example.com");
    assert.equal(rcode(p), "SERVFAIL");
    assert.equal(p.answers?.length ?? 0, 0);
    assert.match(e.detail ?? "", /set programming failed/);
    r.failNft.on = false;
    const again = await ask(r, "api.example.com");
    assert.equal(rcode(again.p), "NOERROR", "the next answer programs again");
    assert.equal(r.applied.length, 1);
  } finally {
    await r.close();
  }
});

void test("cache hits age the TTL and do not touch the kernel while the element outlives them", async () => {
  const r = await rig();
  try {
    await ask(r, "api.example.com");
    r.clock.t += 20_000;
    const { p } = await ask(r, "api.example.com");
    assert.equal((p.answers?.[0] as { ttl?: number } | undefined)?.ttl, 40);
    assert.equal(r.upstream.log.length, 1, "served from cache");
    assert.equal(r.applied.length, 1, "no second nft call");
    assert.equal(r.guard.stats().cacheHits, 1);
  } finally {
    await r.close();
  }
});

void test("a cache hit skips the programmer only while the elements it confirmed outlive the answer", async () => {
  const r = await rig();
  try {
    await ask(r, "api.example.com");
    assert.equal(r.programCalls.n, 1);
    r.clock.t += 20_000;
    r.programCalls.fail = true;
    const hit = await ask(r, "api.example.com");
    assert.equal(rcode(hit.p), "NOERROR", "the elements confirmed 20 s ago live 60 s: nothing to ask");
    assert.equal(r.programCalls.n, 1);
    assert.deepEqual(hit.e.answers, ["93.184.216.10"]);
    // a phase change starts a new table: the next hit must program again, and fails closed
    r.guard.setPhase("later");
    const after = await ask(r, "api.example.com");
    assert.equal(r.programCalls.n, 2);
    assert.equal(rcode(after.p), "SERVFAIL");
    assert.match(after.e.detail ?? "", /set programming failed/);
    r.programCalls.fail = false;
    const ok = await ask(r, "api.example.com");
    assert.equal(rcode(ok.p), "NOERROR");
    assert.equal(r.programCalls.n, 3);
    assert.equal(r.upstream.log.length, 1, "all served from the cache");
  } finally {
    await r.close();
  }
});

void test("a cache hit refreshes through the programmer when min_ttl asks for more than the element is known to have", async () => {
  const base = testPolicy();
  const r = await rig({ ...base, dns: { ...base.dns, minTtl: 300 } });
  try {
    await ask(r, "api.example.com");
    r.clock.t += 1_000;
    r.programCalls.fail = true;
    const { p } = await ask(r, "api.example.com");
    assert.equal(r.programCalls.n, 2, "59 s of TTL left but half of min_ttl (150 s) is not known to be covered");
    assert.equal(rcode(p), "SERVFAIL");
  } finally {
    await r.close();
  }
});

void test("cache hits keep the client's name case, id and RD flag, and age every TTL", async () => {
  const r = await rig();
  try {
    await ask(r, "www.cdn.example.net");
    r.clock.t += 10_500;
    const msg = dnsPacket.encode({ type: "query", id: 9, flags: 0, questions: [{ name: "WwW.CDN.example.NET", type: "A", class: "IN" }] });
    const out = await r.guard.handle(msg, "127.0.0.1:5353", "udp");
    assert.ok(out);
    const p = dnsPacket.decode(out);
    assert.equal(p.id, 9);
    assert.equal(p.flag_rd, false);
    assert.equal(p.questions?.[0]?.name, "WwW.CDN.example.NET");
    assert.equal(p.additionals?.length ?? 0, 0, "no OPT echoed to a client that sent none");
    assert.deepEqual(
      p.answers?.map((a) => [a.type, (a as { ttl?: number }).ttl]),
      [
        ["CNAME", 289],
        ["A", 19],
      ],
    );
  } finally {
    await r.close();
  }
});

void test("in monitor mode an unlisted name is answered and logged as would-deny, with nothing opened", async () => {
  const r = await rig(testPolicy("monitor"));
  try {
    const allowed = await ask(r, "api.example.com");
    assert.equal(allowed.e.verdict, "allow");
    assert.equal(rcode(allowed.p), "NOERROR");
    const denied = await ask(r, "other.example.com");
    assert.equal(denied.e.verdict, "deny");
    assert.equal(denied.e.enforced, false);
    assert.equal(denied.e.rule, "default");
    assert.equal(rcode(denied.p), "NXDOMAIN", "answered from the upstream (not REFUSED)");
    assert.deepEqual(r.upstream.log.map((l) => l.name), ["api.example.com", "other.example.com"]);
    assert.equal(r.applied.length, 1, "only the allowed name was programmed");
  } finally {
    await r.close();
  }
});

void test("a name denied by a monitor-mode rule is answered and its addresses go into that rule's set, which logs and accepts", async () => {
  const p = buildPolicy({
    rules: [deny("staged-deny", ["api.example.com"], { mode: "monitor" }), allow("models", ["*.cdn.example.net"], { ports: [443], protocol: "tcp" })],
  });
  const r = await rig(p);
  try {
    const a = await ask(r, "api.example.com");
    assert.equal(a.e.verdict, "deny");
    assert.equal(a.e.enforced, false);
    assert.equal(a.e.rule, "staged-deny");
    assert.equal(rcode(a.p), "NOERROR");
    assert.match(r.applied.join(""), /add element inet cf_test d0_4 \{ 93\.184\.216\.10 \. tcp \. 1-65535 timeout 60s/);
  } finally {
    await r.close();
  }
});

void test("a truncated upstream answer is retried over TCP and the client is told to use TCP", async () => {
  const r = await rig();
  try {
    const out = await r.guard.handle(query("big.cdn.example.net", "A", 7, false), "127.0.0.1:5353", "udp");
    assert.ok(out);
    const p = dnsPacket.decode(out);
    assert.equal(p.flag_tc, true, "a 512-byte client gets TC");
    assert.ok(r.upstream.log.some((l) => l.tcp), "upstream asked over TCP");
    const tcpOut = await r.guard.handle(query("big.cdn.example.net", "A", 8, false), "127.0.0.1:5353", "tcp");
    assert.ok(tcpOut);
    assert.equal(dnsPacket.decode(tcpOut).answers?.length, 40);
  } finally {
    await r.close();
  }
});

void test("per-client rate limiting drops a flood and counts it", async () => {
  const r = await rig(testPolicy(), { ratePerClient: 1, burst: 3 });
  try {
    const outs = [];
    for (let i = 0; i < 10; i++) outs.push(await r.guard.handle(query("evil.example.com", "A", i), "10.0.0.9:1000", "udp"));
    assert.equal(outs.filter((o) => o === null).length, 7);
    assert.equal(r.guard.stats().rateLimited, 7);
    assert.ok(await r.guard.handle(query("evil.example.com"), "10.0.0.10:1000", "udp"), "another client is unaffected");
  } finally {
    await r.close();
  }
});

void test("events are published on the clawfence:flow channel", async () => {
  const r = await rig();
  const seen: unknown[] = [];
  const on = (m: unknown): void => void seen.push(m);
  subscribe(FLOW_CHANNEL, on);
  try {
    await ask(r, "evil.example.com");
    assert.equal(seen.length, 1);
    assert.equal((seen[0] as FlowEvent).rule, "block-evil");
  } finally {
    unsubscribe(FLOW_CHANNEL, on);
    await r.close();
  }
});

void test("the guard answers over real UDP and TCP sockets", async () => {
  const r = await rig();
  try {
    const { udp, tcp } = r.guard.addresses();
    const s = createSocket("udp4");
    const udpAnswer = await new Promise<Buffer>((res) => {
      s.on("message", (m) => res(m));
      s.send(query("api.example.com"), udp.port, udp.address);
    });
    s.close();
    assert.equal(dnsPacket.decode(udpAnswer).answers?.map((a) => (a as { data?: unknown }).data)[0], "93.184.216.10");
    const tcpAnswer = await new Promise<Buffer>((res, rej) => {
      const c = connect({ host: tcp.address, port: tcp.port }, () => {
        const q = query("evil.example.com");
        const len = Buffer.alloc(2);
        len.writeUInt16BE(q.length);
        c.write(Buffer.concat([len, q]));
      });
      let buf = Buffer.alloc(0);
      c.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          c.destroy();
          res(buf.subarray(2));
        }
      });
      c.on("error", rej);
    });
    assert.equal(rcode(dnsPacket.decode(tcpAnswer)), "REFUSED");
  } finally {
    await r.close();
  }
});

void test("malformed packets get FORMERR or silence, each with a malformed event, and the guard keeps answering", async () => {
  const r = await rig();
  try {
    const tooShort = await r.guard.handle(Buffer.from([1, 2, 3]), "127.0.0.1:1", "udp");
    assert.equal(tooShort, null);
    const twoQuestions = query("api.example.com");
    twoQuestions.writeUInt16BE(2, 4);
    const out = await r.guard.handle(twoQuestions, "127.0.0.1:1", "udp");
    assert.ok(out);
    assert.equal(rcode(dnsPacket.decode(out)), "FORMERR");
    assert.equal(r.sink.events.at(-1)?.reason, "malformed");
    const { p } = await ask(r, "api.example.com");
    assert.equal(rcode(p), "NOERROR");
  } finally {
    await r.close();
  }
});
