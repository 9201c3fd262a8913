/**
 * bench/nft — the nftables backend at 100k entries (PRODUCT.md section 8):
 *  1. compile a 100k-entry policy (50k IPv4 + 50k IPv6 addresses and networks over 10 rules)
 *     to nftables text: target < 2 s (baseline: the 2 s target itself);
 *  2. apply it atomically with one `nft -f` in a fresh namespace: target < 2 s;
 *  3. TCP throughput with iperf3 between two namespaces: no ruleset (baseline) vs the nft
 *     table with 100k set elements (target within 5%), and vs a seed 001-style iptables chain
 *     with one rule per address of the same size (contrast, same run);
 *     A conntrack-only table (established/related accept) is measured too: the cost every
 *     stateful ruleset pays, so the set's own cost can be told apart from conntrack's;
 *  4. new-connection rate (each SYN walks the whole chain, which is where rule-per-address
 *     hurts): none vs nft sets vs iptables rule-per-address.
 * Everything runs inside namespaces created here and removed at the end. Needs root, nft,
 * iptables-restore, iperf3; prints a skip line otherwise.
 */
import { execFileSync, spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { compileNftables } from "../src/compile/nftables/index.ts";
import { irPolicy } from "../src/compile/conformance.ts";
import { NetnsPair, have, netnsUnavailable } from "../test/unit/compile/netns-harness.ts";
import type { Policy } from "../src/policy/ir.ts";
import { emitter } from "./lib.ts";

const ENTRIES = 100_000;
const SERVER = "198.51.100.2";

const emit = emitter("nft");
function result(metric: string, value: number, unit: string, baseline: number, baselineName: string, target: string, pass: boolean): void {
  const ratio = baseline === 0 ? 0 : value / baseline;
  emit({ metric, value: Number(value.toFixed(3)), unit, baseline: Number(baseline.toFixed(3)), baseline_name: baselineName, ratio: Number(ratio.toFixed(4)), target, pass });
}

function bigPolicy(): Policy {
  const rules = [];
  const perRule = ENTRIES / 10;
  let n = 0;
  for (let r = 0; r < 10; r++) {
    const dests: string[] = [];
    for (let i = 0; i < perRule; i++, n++) {
      if (i % 2 === 0) dests.push(`100.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`.replace(/^100\./, `${11 + r}.`));
      else dests.push(`2001:db8:${r.toString(16)}:${(n >> 16).toString(16)}:${(n & 0xffff).toString(16)}::/80`);
    }
    if (r === 9) dests.push(`${SERVER}`);
    rules.push({ name: `bulk-${r}`, allow: dests, ports: [443, 5201, "8000-8100"], protocol: "tcp" as const });
  }
  return irPolicy({ name: "bench", rules });
}

function iptablesRulePerAddress(policy: Policy): string {
  let s = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT DROP [0:0]\n-A OUTPUT -o lo -j ACCEPT\n-A OUTPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n";
  for (const r of policy.rules) {
    for (const d of r.dests) if (d.kind === "cidr" && d.cidr.family === 4) s += `-A OUTPUT -p tcp -d ${d.cidr.text} --dport 5201 -j ACCEPT\n`;
  }
  s += `-A OUTPUT -j LOG --log-prefix "EGRESS-DENIED: "\nCOMMIT\n`;
  return s;
}

async function iperf(ns: NetnsPair): Promise<number> {
  const out = execFileSync("ip", ["netns", "exec", ns.near, "iperf3", "-c", SERVER, "-t", "3", "-J"], { encoding: "utf8" });
  const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}

const CONNECT = `
const net = require("node:net");
const end = Date.now() + 2000; let n = 0;
(function one() { if (Date.now() > end) { process.stdout.write(String(n / 2)); return; }
  const s = net.connect({ host: "${SERVER}", port: 5201 }, () => { n++; s.destroy(); one(); }); s.on("error", () => one()); })();
`;

function connRate(ns: NetnsPair): number {
  return Number(execFileSync("ip", ["netns", "exec", ns.near, process.execPath, "-e", CONNECT], { encoding: "utf8" }));
}

async function main(): Promise<void> {
  const policy = bigPolicy();
  const t0 = performance.now();
  const { text } = compileNftables(policy, {});
  const compileMs = performance.now() - t0;
  result("compile 100k entries", compileMs, "ms", 2000, "target 2 s", "< 2000 ms", compileMs < 2000);

  const skip = netnsUnavailable() ?? (have("iperf3") && have("iptables-restore") ? null : "needs iperf3 and iptables-restore");
  if (skip) {
    process.stdout.write(`nft bench: kernel parts skipped: ${skip}\n`);
    return;
  }
  const ns = new NetnsPair("bn");
  const server = { proc: null as ReturnType<typeof spawn> | null };
  try {
    ns.open();
    const t1 = performance.now();
    ns.exec("nft", ["-f", "-"], text);
    const applyMs = performance.now() - t1;
    result("atomic apply 100k entries (nft -f)", applyMs, "ms", 2000, "target 2 s", "< 2000 ms", applyMs < 2000);
    const t2 = performance.now();
    ns.exec("nft", ["-f", "-"], text);
    const reapplyMs = performance.now() - t2;
    result("atomic re-apply over the loaded table", reapplyMs, "ms", 2000, "target 2 s", "< 2000 ms", reapplyMs < 2000);
    ns.exec("nft", ["flush", "ruleset"]);

    server.proc = spawn("ip", ["netns", "exec", ns.far, "iperf3", "-s"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 500));
    const none = Math.max(await iperf(ns), await iperf(ns));
    const noneConn = connRate(ns);
    // conntrack alone (what any stateful ruleset pays, established/related accept)
    ns.exec("nft", ["-f", "-"], "table inet ctonly {\n chain o {\n type filter hook output priority filter; policy accept;\n ct state established,related accept\n }\n}\n");
    const ctOnly = Math.max(await iperf(ns), await iperf(ns));
    ns.exec("nft", ["flush", "ruleset"]);
    ns.exec("nft", ["-f", "-"], text);
    const nft = Math.max(await iperf(ns), await iperf(ns));
    const nftConn = connRate(ns);
    ns.exec("nft", ["flush", "ruleset"]);
    const ipt = iptablesRulePerAddress(policy);
    const t3 = performance.now();
    ns.exec("iptables-restore", [], ipt);
    const iptLoadMs = performance.now() - t3;
    const iptables = Math.max(await iperf(ns), await iperf(ns));
    const iptConn = connRate(ns);
    result("iperf3 throughput, nft 100k set elements", nft, "Gbit/s", none, "no ruleset", "within 5% (ratio >= 0.95)", nft / none >= 0.95);
    result("iperf3 throughput, nft 100k set elements vs conntrack-only table", nft, "Gbit/s", ctOnly, "ct established-accept only", "within 5% (ratio >= 0.95)", nft / ctOnly >= 0.95);
    result("iperf3 throughput, iptables 50k rules (rule per IPv4 address)", iptables, "Gbit/s", none, "no ruleset", "contrast", true);
    result("new connections/s, nft 100k set elements", nftConn, "1/s", noneConn, "no ruleset", "contrast", true);
    result("new connections/s, iptables 50k rules (rule per IPv4 address)", iptConn, "1/s", noneConn, "no ruleset", "contrast", true);
    result("iptables-restore of 50k rule-per-address chain", iptLoadMs, "ms", applyMs, "nft -f of 100k set elements", "contrast", true);
  } finally {
    server.proc?.kill("SIGKILL");
    ns.close();
  }
}

await main();
