/**
 * The NFLOG reader against the kernel, in namespaces created here:
 *   near (nft table on the output hook, the reader: tcpdump -i nflog:N via ip netns exec)
 *     --veth--  far (198.51.100.2, 2001:db8::2; nothing listens: the logged packets are dropped)
 * 1. A hand-written table: `log group N prefix "blocked-rule" drop` on a TCP and a UDP port,
 *    a log-and-accept ("would deny") rule on another UDP port; TCP and UDP over IPv4 and IPv6
 *    arrive as events with the rule name, destination, port and protocol.
 * 2. A policy compiled by compile/nftables (hook output) and the reader mapping its prefixes
 *    with prefixMapperFor: rule-deny, monitor would-deny, dns, default-deny.
 * 3. A burst of UDP packets to a logged port: how many events per second the reader delivers
 *    and how many the kernel dropped (printed as a diagnostic; no timed assertion).
 * Everything is removed in `after`, whatever happened.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createMemorySink, type FlowEvent } from "../../src/runtime/events.ts";
import { createNflogReader, type NflogReader } from "../../src/runtime/nflog/reader.ts";
import { prefixMapperFor } from "../../src/runtime/nflog/map.ts";
import { compileNftables } from "../../src/compile/nftables/index.ts";
import { loadPolicyText } from "../../src/policy/load.ts";

const skip = ((): string | false => {
  if (process.getuid?.() !== 0) return "needs root";
  for (const b of ["ip", "nft", "tcpdump"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${b}`], { stdio: "ignore" });
    } catch {
      return `needs ${b}${b === "tcpdump" ? " (apt-get install tcpdump)" : ""}`;
    }
  }
  return false;
})();
if (skip && process.env["CI"] === "true") throw new Error(`integration prerequisites missing: ${skip}`);

const id = randomBytes(3).toString("hex");
const NS = { near: `cfnln${id}`, far: `cfnlf${id}` };
const VETH = { near: `cfnl${id}a`, far: `cfnl${id}b` };
const FAR4 = "198.51.100.2";
const FAR6 = "2001:db8::2";
/** distinct groups per test so a slow close of one reader never meets the next */
const GROUP = { hand: 3100 + (parseInt(id, 16) % 500), compiled: 3700 + (parseInt(id, 16) % 500), burst: 4300 + 2 * (parseInt(id, 16) % 500) };

function sh(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}
const nftNear = (input: string): string => sh("ip", ["netns", "exec", NS.near, "nft", "-f", "-"], input);

/** Client traffic from the near namespace: TCP connects and UDP datagrams, each bounded in time. */
const CLIENT = `
const net = require("node:net"), dgram = require("node:dgram");
const flows = JSON.parse(process.argv[1]);
const one = (f) => new Promise((res) => {
  if (f.proto === "tcp") {
    const s = net.connect({ host: f.ip, port: f.port, timeout: 400 });
    const done = () => { s.destroy(); res(); };
    s.on("connect", done); s.on("error", done); s.on("timeout", done);
  } else {
    const u = dgram.createSocket(f.ip.includes(":") ? "udp6" : "udp4");
    u.on("error", () => {});
    u.send("x", f.port, f.ip, () => { u.close(); res(); });
  }
});
Promise.all(flows.map(one)).then(() => process.exit(0));
`;

/** Send `count` UDP datagrams to ip:port as fast as one socket goes; prints the count sent. */
const BURST = `
const dgram = require("node:dgram");
const [ip, port, count] = process.argv.slice(1).map((v, i) => (i ? Number(v) : v));
const u = dgram.createSocket("udp4");
u.on("error", () => {});
let sent = 0, done = 0;
const msg = Buffer.from("burst");
function more() {
  for (let k = 0; k < 64 && sent < count; k++, sent++) u.send(msg, port, ip, () => { if (++done === count) { process.stdout.write(String(done)); u.close(); } });
  if (sent < count) setImmediate(more);
}
more();
`;

interface Flow {
  readonly proto: "tcp" | "udp";
  readonly ip: string;
  readonly port: number;
}

function send(flows: readonly Flow[]): void {
  sh("ip", ["netns", "exec", NS.near, process.execPath, "-e", CLIENT, JSON.stringify(flows)]);
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

const key = (e: Pick<FlowEvent, "proto" | "dst_ip" | "dst_port">): string => `${e.proto} ${e.dst_ip} ${e.dst_port}`;

void describe("NFLOG reader in a network namespace", { skip: skip || false, timeout: 120_000 }, () => {
  const readers: NflogReader[] = [];

  before(() => {
    sh("ip", ["netns", "add", NS.near]);
    sh("ip", ["netns", "add", NS.far]);
    sh("ip", ["link", "add", VETH.near, "netns", NS.near, "type", "veth", "peer", "name", VETH.far, "netns", NS.far]);
    for (const [ns, dev, v4, v6] of [
      [NS.near, VETH.near, "198.51.100.1/24", "2001:db8::1/64"],
      [NS.far, VETH.far, `${FAR4}/24`, `${FAR6}/64`],
    ] as const) {
      sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
      sh("ip", ["-n", ns, "addr", "add", v4, "dev", dev]);
      sh("ip", ["-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
      sh("ip", ["-n", ns, "link", "set", dev, "up"]);
    }
  });

  after(async () => {
    for (const r of readers) await r.close();
    for (const ns of [NS.near, NS.far]) {
      try {
        sh("ip", ["netns", "del", ns]);
      } catch {
        // already gone
      }
    }
  });

  async function reader(group: number, mapPrefix: Parameters<typeof createNflogReader>[0]["mapPrefix"]): Promise<{ r: NflogReader; events: FlowEvent[]; errors: string[] }> {
    const sink = createMemorySink(1_000_000);
    const errors: string[] = [];
    const r = createNflogReader({ group, netns: NS.near, mapPrefix, sink, clock: { now: () => Date.now() }, onError: (e) => errors.push(`${e.code}: ${e.message}`) });
    readers.push(r);
    await r.start();
    return { r, events: sink.events, errors };
  }

  void it("a log-and-drop rule's TCP and UDP packets over IPv4 and IPv6 arrive as events with the rule name", async () => {
    const g = GROUP.hand;
    nftNear(`table inet cfnltest {
  chain output {
    type filter hook output priority filter; policy accept;
    tcp dport 7001 log group ${g} prefix "blocked-rule" drop
    udp dport 7002 log group ${g} prefix "blocked-rule" drop
    udp dport 7003 log group ${g} prefix "staged-rule" accept
  }
}
`);
    const { r, events, errors } = await reader(g, (p) => (p === "blocked-rule" ? { rule: p, enforced: true } : p === "staged-rule" ? { rule: p, enforced: false } : null));
    const flows: Flow[] = [
      { proto: "tcp", ip: FAR4, port: 7001 },
      { proto: "tcp", ip: FAR6, port: 7001 },
      { proto: "udp", ip: FAR4, port: 7002 },
      { proto: "udp", ip: FAR6, port: 7002 },
      { proto: "udp", ip: FAR4, port: 7003 },
      { proto: "udp", ip: FAR6, port: 7003 },
    ];
    send(flows);
    // TCP retransmits the SYN, so at least one event per flow; the kernel flushes NFLOG batches within 1 s
    await until(() => flows.every((f) => events.some((e) => key(e) === `${f.proto} ${f.ip} ${f.port}`)), 5000);
    for (const f of flows) {
      const e = events.find((x) => key(x) === `${f.proto} ${f.ip} ${f.port}`);
      assert.ok(e, `no event for ${f.proto} ${f.ip}:${f.port}; got ${events.map(key).join(", ")}`);
      assert.equal(e.kind, "packet");
      assert.equal(e.verdict, "deny");
      assert.equal(e.rule, f.port === 7003 ? "staged-rule" : "blocked-rule");
      assert.equal(e.enforced, f.port !== 7003);
      assert.equal(e.reason, "rule-deny");
      assert.match(e.client ?? "", f.ip.includes(":") ? /^\[2001:db8::1\]:\d+$/ : /^198\.51\.100\.1:\d+$/);
      assert.ok(Math.abs(Date.parse(e.ts) - Date.now()) < 60_000, `ts ${e.ts} is now`);
    }
    assert.deepEqual(errors, []);
    // the kernel lets one socket per namespace bind a group: a second reader is refused, with the reason
    const second = createNflogReader({ group: g, netns: NS.near, mapPrefix: () => null, sink: createMemorySink(), clock: { now: () => Date.now() } });
    await assert.rejects(second.start(), (e: { code: string; fix: string }) => e.code === "CF_RUNTIME_NFLOG_START" && /another process reads NFLOG group/.test(e.fix));
    await second.close();
    assert.equal(r.stats().running, true, "the first reader is unaffected");
    await r.close();
    assert.equal(r.stats().parseErrors, 0);
    assert.equal(r.stats().unmapped, 0);
    sh("ip", ["netns", "exec", NS.near, "nft", "delete", "table", "inet", "cfnltest"]);
  });

  void it("a compiled policy's denies map back to their rules, modes and reasons", async () => {
    const g = GROUP.compiled;
    const policy = loadPolicyText(
      `version: 1
name: nflog-compiled
dns:
  upstreams: ["${FAR4}"]
rules:
  - name: deny-far-7010
    deny: [${FAR4}, "${FAR6}"]
    ports: [7010]
  - name: staged-deny
    deny: [${FAR4}]
    ports: [7011]
    protocol: udp
    mode: monitor
  - name: allow-far-7020
    allow: [${FAR4}]
    ports: [7020]
default: deny
`,
      "/test/nflog-compiled.yaml",
      (p) => {
        throw new Error(`no files (${p})`);
      },
    );
    const table = `cfnl_${id}`;
    const { text } = compileNftables(policy, { hook: "output", logGroup: g, tableName: table });
    nftNear(text);
    const { r, events, errors } = await reader(g, prefixMapperFor(policy));
    const want: Array<Flow & { rule: string; reason: string; enforced: boolean }> = [
      { proto: "tcp", ip: FAR4, port: 7010, rule: "deny-far-7010", reason: "rule-deny", enforced: true },
      { proto: "udp", ip: FAR6, port: 7010, rule: "deny-far-7010", reason: "rule-deny", enforced: true },
      { proto: "udp", ip: FAR4, port: 7011, rule: "staged-deny", reason: "rule-deny", enforced: false },
      { proto: "udp", ip: FAR6, port: 53, rule: "dns", reason: "rule-deny", enforced: true },
      { proto: "udp", ip: FAR4, port: 7030, rule: "default", reason: "default-deny", enforced: true },
    ];
    send([...want, { proto: "udp", ip: FAR4, port: 7020 }]);
    await until(() => want.every((f) => events.some((e) => key(e) === `${f.proto} ${f.ip} ${f.port}`)), 5000);
    for (const f of want) {
      const e = events.find((x) => key(x) === `${f.proto} ${f.ip} ${f.port}`);
      assert.ok(e, `no event for ${f.proto} ${f.ip}:${f.port}; got ${events.map(key).join(", ")}`);
      assert.deepEqual([e.rule, e.reason, e.enforced, e.verdict], [f.rule, f.reason, f.enforced, "deny"], `${f.proto} ${f.ip}:${f.port}`);
    }
    assert.ok(!events.some((e) => e.dst_port === 7020), "an allowed flow is not logged by the kernel");
    assert.deepEqual(errors, []);
    await r.close();
    assert.equal(r.stats().unmapped, 0);
    sh("ip", ["netns", "exec", NS.near, "nft", "delete", "table", "inet", table]);
  });

  for (const variant of [
    { name: "kernel batching (the default)", opts: "" },
    { name: "queue-threshold 1 (one message per datagram)", opts: "queue-threshold 1 " },
  ]) {
    void it(`a burst of logged UDP packets with ${variant.name}: every one is an event or a counted drop (rate printed)`, async (t) => {
      const g = GROUP.burst + (variant.opts ? 1 : 0);
      const count = 20_000;
      const table = `cfnlburst${variant.opts ? 1 : 0}`;
      nftNear(`table inet ${table} {
  chain output {
    type filter hook output priority filter; policy accept;
    udp dport 7100 log group ${g} ${variant.opts}prefix "burst" drop
  }
}
`);
      const { r, events, errors } = await reader(g, (p) => ({ rule: p, enforced: true }));
      const t0 = performance.now();
      const child = spawn("ip", ["netns", "exec", NS.near, process.execPath, "-e", BURST, FAR4, "7100", String(count)], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      await new Promise<void>((res) => child.on("close", () => res()));
      const sendMs = performance.now() - t0;
      // wait until the events stop coming (the kernel flushes its last batch within 1 s)
      let last = -1;
      let lastChange = performance.now();
      while (performance.now() - lastChange < 1500 && events.length < count) {
        if (events.length !== last) {
          last = events.length;
          lastChange = performance.now();
        }
        await new Promise((res) => setTimeout(res, 5));
      }
      const lastEventAt = events.length === count ? performance.now() : lastChange;
      await r.close();
      const s = r.stats();
      const seconds = (lastEventAt - t0) / 1000;
      t.diagnostic(
        JSON.stringify({ variant: variant.name, sent: Number(out), sendMs: Math.round(sendMs), events: events.length, dropped: s.dropped, seconds: Number(seconds.toFixed(3)), eventsPerSecond: Math.round(events.length / seconds) }),
      );
      assert.equal(Number(out), count);
      assert.equal(s.parseErrors, 0);
      assert.ok(events.length <= count);
      // every packet is an event, or the kernel's drops were reported (tcpdump counts ENOBUFS episodes, not messages)
      assert.ok(events.length === count || s.dropped > 0, `events ${events.length} of ${count} and no drop reported`);
      assert.deepEqual(errors, []);
      nftNear(`delete table inet ${table}\n`);
    });
  }
});
