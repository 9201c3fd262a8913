/**
 * bench/dns — the DNS guard against its upstream alone, in namespaces made here:
 *   client ns (dnsperf, a Node latency probe) -- guard ns (serve.ts + nft table) -- upstream ns (dnsmasq)
 * Results (one JSON line each, baselines from the same run):
 *  1. cache-hit throughput: dnsperf against the guard vs dnsperf against dnsmasq directly
 *  2. added latency at 1k qps (cache hits): p50/p99 through the guard minus direct to dnsmasq
 *  3. new names: p50 time for `program()` to get an element into the kernel through the
 *     resident `nft -i` session, vs one `nft -f -` process per answer
 *  4. new names end to end: p50 of a first-time name through the guard minus direct
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { loadPolicy } from "../src/policy/load.ts";
import { compileNftables } from "../src/compile/nftables/index.ts";
import { createNftOneShot, createNftSession, type NftRunner } from "../src/runtime/nft/session.ts";
import { createSetProgrammer } from "../src/runtime/nft/programmer.ts";
import { emitter } from "./lib.ts";

const id = randomBytes(3).toString("hex");
const NS = { client: `cfdbc${id}`, guard: `cfdbg${id}`, up: `cfdbu${id}` };
const TABLE = "cf_dnsbench";
const dir = mkdtempSync(join(tmpdir(), "cf-dns-bench-"));
const procs: ChildProcess[] = [];
const sh = (cmd: string, args: readonly string[], input?: string): string => execFileSync(cmd, args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
const inNs = (ns: string, cmd: string, ...args: string[]): string => sh("ip", ["netns", "exec", ns, cmd, ...args]);
const emit = emitter("dns");
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

const POLICY = `version: 1
name: dnsbench
dns:
  upstreams: ["10.78.2.2"]
  min_ttl: 5
rules:
  - name: web
    allow: ["*.cdn.example.net", api.example.com]
    ports: [443]
    protocol: tcp
`;

/** Node probe run in the client ns: sends `rate` queries/s for `seconds`, prints latencies (ms) as JSON. */
const PROBE = `
const d = require("node:dgram");
const [server, rate, seconds, namesJson] = process.argv.slice(1);
const names = JSON.parse(namesJson);
const s = d.createSocket("udp4");
const sent = new Map(); const lat = []; let id = 0; let lost = 0;
s.on("message", (m) => { const i = m.readUInt16BE(0); const t = sent.get(i); if (t !== undefined) { sent.delete(i); lat.push(Number(process.hrtime.bigint() - t) / 1e6); } });
function q(name, qid) { const labels = name.split("."); const parts = [Buffer.from([qid >> 8, qid & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of labels) parts.push(Buffer.from([l.length]), Buffer.from(l)); parts.push(Buffer.from([0, 0, 1, 0, 1])); return Buffer.concat(parts); }
const total = Math.floor(Number(rate) * Number(seconds)); const interval = 1000 / Number(rate); const start = performance.now(); let n = 0;
function tick() { const due = Math.floor((performance.now() - start) / interval) + 1;
  while (n < Math.min(due, total)) { const qid = (id = (id + 1) & 0xffff); sent.set(qid, process.hrtime.bigint()); s.send(q(names[n % names.length], qid), 53, server); n++; }
  if (n < total) setTimeout(tick, 1); else setTimeout(() => { lost = sent.size; process.stdout.write(JSON.stringify({ lat, lost })); s.close(); }, 1000); }
tick();`;

function probe(server: string, rate: number, seconds: number, names: string[]): { lat: number[]; lost: number } {
  return JSON.parse(inNs(NS.client, process.execPath, "-e", PROBE, server, String(rate), String(seconds), JSON.stringify(names))) as { lat: number[]; lost: number };
}

function dnsperf(server: string, file: string): number {
  const out = inNs(NS.client, "dnsperf", "-s", server, "-d", file, "-l", "5", "-q", "200", "-c", "4");
  if (process.env["CF_BENCH_VERBOSE"]) process.stderr.write(out);
  return Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? "NaN");
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    emit({ metric: "skipped", value: 0, note: "needs root for namespaces" });
    return;
  }
  for (const ns of Object.values(NS)) sh("ip", ["netns", "add", ns]);
  const a = `cfdba${id}`;
  const b = `cfdbb${id}`;
  sh("ip", ["-n", NS.client, "link", "add", "eth0", "type", "veth", "peer", "name", a, "netns", NS.guard]);
  sh("ip", ["-n", NS.guard, "link", "add", "up0", "type", "veth", "peer", "name", b, "netns", NS.up]);
  for (const [ns, dev, addr] of [
    [NS.client, "eth0", "10.78.1.2/24"],
    [NS.guard, a, "10.78.1.1/24"],
    [NS.guard, "up0", "10.78.2.1/24"],
    [NS.up, b, "10.78.2.2/24"],
  ] as const) {
    sh("ip", ["-n", ns, "addr", "add", addr, "dev", dev]);
    sh("ip", ["-n", ns, "link", "set", dev, "up"]);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
  }
  // the client reaches the upstream directly through the guard ns (for the baseline)
  sh("ip", ["-n", NS.client, "route", "add", "10.78.2.0/24", "via", "10.78.1.1"]);
  sh("ip", ["-n", NS.up, "route", "add", "10.78.1.0/24", "via", "10.78.2.1"]);
  sh("ip", ["netns", "exec", NS.guard, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
  const policyFile = join(dir, "p.yaml");
  writeFileSync(policyFile, POLICY);
  const policy = loadPolicy(policyFile, (p) => readFileSync(p, "utf8"));
  // hook forward leaves the guard's own traffic alone; the sets are what we measure
  sh("ip", ["netns", "exec", NS.guard, "nft", "-f", "-"], compileNftables(policy, { tableName: TABLE, hook: "forward", iface: "nothing0" }).text);

  procs.push(
    spawn("ip", ["netns", "exec", NS.up, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address=10.78.2.2", "--user=root", "--pid-file=", "--local-ttl=3600", "--cache-size=10000", "--dns-forward-max=1000", "--address=/cdn.example.net/151.101.1.7", "--address=/api.example.com/93.184.216.34"], { stdio: "ignore" }),
  );
  const guard = spawn("ip", ["netns", "exec", NS.guard, process.execPath, ...(process.env["CF_BENCH_PROF"] ? ["--cpu-prof", "--cpu-prof-dir=/tmp/cfprof2"] : []), "src/runtime/dns/serve.ts", "--policy", policyFile, "--listen", "10.78.1.1:53", "--table", TABLE, "--events", "/dev/null", "--heuristics", JSON.stringify({ maxUniquePerDomain: 1_000_000 })], { stdio: ["ignore", "pipe", "inherit"] });
  procs.push(guard);
  await new Promise<void>((resolve, reject) => {
    let out = "";
    guard.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready")) resolve();
    });
    guard.once("exit", () => reject(new Error("guard exited")));
  });
  await new Promise((r) => setTimeout(r, 300));

  // 1. cache-hit throughput
  const hot = Array.from({ length: 20 }, (_, i) => `h${i}.cdn.example.net A`);
  const hotFile = join(dir, "hot");
  writeFileSync(hotFile, hot.join("\n"));
  inNs(NS.client, "dnsperf", "-s", "10.78.1.1", "-d", hotFile, "-n", "1"); // warm the cache
  const guardQps = dnsperf("10.78.1.1", hotFile);
  const upQps = dnsperf("10.78.2.2", hotFile);
  emit({ metric: "cache-hit qps", value: round(guardQps, 0), unit: "1/s", baseline: round(upQps, 0), baseline_name: "dnsmasq alone", ratio: round(guardQps / upQps), target: ">= 20000 qps", pass: guardQps >= 20_000 });

  // 2. added latency at 1k qps, cache hits
  const hotNames = hot.map((l) => l.split(" ")[0] ?? "");
  const g = probe("10.78.1.1", 1000, 5, hotNames);
  const u = probe("10.78.2.2", 1000, 5, hotNames);
  const p99 = pct(g.lat, 99) - pct(u.lat, 99);
  emit({ metric: "added p50 latency at 1k qps", value: round(pct(g.lat, 50) - pct(u.lat, 50)), unit: "ms", baseline: round(pct(u.lat, 50)), baseline_name: "dnsmasq alone p50", note: `guard p50 ${round(pct(g.lat, 50))} ms, lost ${g.lost}/${u.lost}` });
  emit({ metric: "added p99 latency at 1k qps", value: round(p99), unit: "ms", baseline: round(pct(u.lat, 99)), baseline_name: "dnsmasq alone p99", note: `guard p99 ${round(pct(g.lat, 99))} ms`, target: "<= 1 ms", pass: p99 <= 1 });

  // 3. new name -> element in the kernel
  const measure = async (runner: NftRunner, n: number, base: number): Promise<number[]> => {
    const prog = createSetProgrammer({ policy, table: TABLE, runner, clock: { now: () => Date.now() } });
    const grant = { rule: "web", order: 0, protocol: "tcp" as const, ports: [{ from: 443, to: 443 }] };
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const ip = `100.${base}.${(i >> 8) & 255}.${i & 255}`;
      const t = performance.now();
      await prog.program([{ grants: [grant], address: { ip, family: 4, ttl: 60 } }], 5);
      out.push(performance.now() - t);
    }
    return out;
  };
  const session = createNftSession({ nft: ["ip", "netns", "exec", NS.guard, "nft"] });
  await measure(session, 5, 1); // start the process
  const viaSession = await measure(session, 1000, 2);
  await session.close();
  const viaOneShot = await measure(createNftOneShot({ nft: ["ip", "netns", "exec", NS.guard, "nft"] }), 200, 3);
  const sp50 = pct(viaSession, 50);
  const op50 = pct(viaOneShot, 50);
  emit({ metric: "new name to kernel p50 (nft -i session)", value: round(sp50), unit: "ms", baseline: round(op50), baseline_name: "nft -f per answer", ratio: round(sp50 / op50), target: "<= 2 ms", pass: sp50 <= 2, note: `p99 ${round(pct(viaSession, 99))} ms over 1000 elements` });

  // 4. new names end to end (miss + programming) vs the upstream alone
  const fresh = (tag: string): string[] => Array.from({ length: 500 }, (_, i) => `n${tag}${i}.cdn.example.net`);
  const gNew = probe("10.78.1.1", 100, 5, fresh("g"));
  const uNew = probe("10.78.2.2", 100, 5, fresh("u"));
  emit({ metric: "new name answer p50 added", value: round(pct(gNew.lat, 50) - pct(uNew.lat, 50)), unit: "ms", baseline: round(pct(uNew.lat, 50)), baseline_name: "dnsmasq alone p50 (its cache miss)", note: `guard p50 ${round(pct(gNew.lat, 50))} ms, p99 ${round(pct(gNew.lat, 99))} ms` });
}

try {
  await main();
} finally {
  for (const p of procs) if (p.exitCode === null) p.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 200));
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  for (const ns of Object.values(NS)) {
    try {
      sh("ip", ["netns", "del", ns]);
    } catch {
      /* not created */
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
