/**
 * bench/decide — decide() throughput with 100k domain entries + 100k CIDR entries, against
 * the linear reference matcher (test/unit/match/reference.ts) on the same flows in the same
 * run. Target (PRODUCT.md section 8): >= 1M decisions/s on one core and >= 50x linear.
 *
 * Inputs are random but reproducible (seeded PRNG): 200 rules alternating allow/deny, some
 * port-restricted, each with 500 names (20% wildcards) and 500 CIDRs (70% IPv4 /16../32,
 * 30% IPv6 /32../128), and a mixed flow set: name hits, wildcard hits, misses, address hits
 * and misses, both families, with and without names. Also reports the build time, the heap
 * used by the compiled decider, and decideName() throughput. Every indexed decision of the
 * baseline sample is checked against the reference (a disagreement fails the run).
 * Rates are per CPU second of this process (process.cpuUsage), i.e. "on one core", so a busy
 * machine slows the run down but skews the numbers less than wall-clock time would.
 */
import { compileDecider } from "../src/match/decide.ts";
import type { Flow } from "../src/match/decision.ts";
import { networkOf } from "../src/policy/addr.ts";
import type { Dest, Fqdn, Policy, Rule } from "../src/policy/ir.ts";
import { referenceDecide } from "../test/unit/match/reference.ts";
import { cpuRate, emitter, prng } from "./lib.ts";

const SEED = 0xc1a3f3;
const N_RULES = 200;
const DOMAINS = 100_000;
const CIDRS = 100_000;

const rnd = prng(SEED);
const int = (n: number): number => Math.floor(rnd() * n);
const ALPHA = "abcdefghijklmnopqrstuvwxyz0123456789";
const label = (): string => Array.from({ length: 3 + int(8) }, () => ALPHA[int(ALPHA.length)]).join("");
const TLDS = ["com", "net", "org", "io", "dev", "example"];
const domain = (): string => `${label()}.${label()}.${TLDS[int(TLDS.length)] ?? "com"}`;
const v4 = (): bigint => BigInt(int(2 ** 32));
const v6 = (): bigint => (0x2400n << 112n) | (BigInt(int(2 ** 32)) << 80n) | (BigInt(int(2 ** 32)) << 48n) | BigInt(int(2 ** 32));

const pos = { file: "bench.yaml", line: 1, column: 1 };
const origin = { via: "literal" } as const;
const exactNames: string[] = [];
const wildSuffixes: string[] = [];
const cidrList: Array<{ family: 4 | 6; addr: bigint; prefix: number }> = [];

function buildPolicy(): Policy {
  const rules: Rule[] = [];
  const perRuleDomains = DOMAINS / N_RULES;
  const perRuleCidrs = CIDRS / N_RULES;
  for (let i = 0; i < N_RULES; i++) {
    const dests: Dest[] = [];
    for (let j = 0; j < perRuleDomains; j++) {
      const d = domain();
      if (rnd() < 0.2) {
        wildSuffixes.push(d);
        dests.push({ kind: "wildcard", suffix: d as Fqdn, origin, pos });
      } else {
        exactNames.push(d);
        dests.push({ kind: "domain", name: d as Fqdn, origin, pos });
      }
    }
    for (let j = 0; j < perRuleCidrs; j++) {
      const six = rnd() < 0.3;
      const prefix = six ? 32 + int(97) : 16 + int(17);
      const c = networkOf({ family: six ? 6 : 4, value: six ? v6() : v4() }, prefix);
      cidrList.push(c);
      dests.push({ kind: "cidr", cidr: c, origin, pos });
    }
    rules.push({
      name: `rule-${i}`,
      action: i % 2 === 0 ? "allow" : "deny",
      priority: 100,
      order: i,
      dests,
      ports: i % 3 === 0 ? [{ from: 443, to: 443 }, { from: 8000, to: 8100 }] : null,
      protocol: i % 5 === 0 ? "tcp" : "any",
      phases: null,
      mode: "enforce",
      modeOverride: false,
      pos,
    });
  }
  return {
    version: 1,
    name: "bench",
    mode: "enforce",
    default: "deny",
    vars: {},
    workload: {},
    dns: { upstreams: null, minTtl: 5 },
    internal: [],
    phases: [],
    groups: {},
    rules,
    sources: ["bench.yaml"],
    hash: "0".repeat(64),
  };
}

/** A flat copy of a string: names arrive off the wire flat, not as concatenation ropes. */
const flat = (s: string): string => Buffer.from(s, "utf8").toString("utf8");

function makeFlows(n: number): Flow[] {
  const flows: Flow[] = [];
  const ports = [443, 80, 8080, 53, 22];
  for (let i = 0; i < n; i++) {
    const k = int(10);
    const protocol = rnd() < 0.85 ? "tcp" : "udp";
    const port = ports[int(ports.length)] ?? 443;
    const ipFromCidr = (): { family: 4 | 6; value: bigint } => {
      const c = cidrList[int(cidrList.length)] ?? { family: 4 as const, addr: 0n, prefix: 0 };
      const hostBits = BigInt((c.family === 4 ? 32 : 128) - c.prefix);
      const host = hostBits === 0n ? 0n : BigInt(int(2 ** 31)) % (1n << hostBits);
      return { family: c.family, value: c.addr | host };
    };
    const publicV4 = (): { family: 4; value: bigint } => ({ family: 4, value: (BigInt(1 + int(99)) << 24n) | BigInt(int(2 ** 24)) });
    if (k < 3) flows.push({ protocol, port, names: [flat(exactNames[int(exactNames.length)] ?? "x")], ip: publicV4() });
    else if (k < 5) flows.push({ protocol, port, names: [flat(`${label()}.${wildSuffixes[int(wildSuffixes.length)] ?? "x"}`)] });
    else if (k < 6) flows.push({ protocol, port, names: [flat(domain())] });
    else if (k < 8) flows.push({ protocol, port, ip: ipFromCidr() });
    else if (k < 9) flows.push({ protocol, port, ip: rnd() < 0.5 ? publicV4() : { family: 6, value: v6() } });
    else flows.push({ protocol: "icmp", ip: ipFromCidr() });
  }
  return flows;
}

function heapUsed(): number {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
  return process.memoryUsage().heapUsed;
}

const policy = buildPolicy();
const flows = makeFlows(200_000);
const names = flows.flatMap((f) => f.names ?? []);
const heapBefore = heapUsed();
const t0 = performance.now();
const decider = compileDecider(policy);
const buildMs = performance.now() - t0;
const heapAfter = heapUsed();

// warm up, then measure for >= 1.5 s
let sink = 0;
for (let i = 0; i < 200_000; i++) if (decider.decide(flows[i % flows.length] as Flow).verdict === "allow") sink++;
// rates per CPU second (bench/lib cpuRate): "on one core", robust to other load on the machine
const rate = cpuRate(1500, () => {
  for (const f of flows) if (decider.decide(f).verdict === "allow") sink++;
  return flows.length;
});

const nameRate = cpuRate(700, () => {
  for (let i = 0; i < 20_000; i++) if (decider.decideName(names[i % names.length] ?? "x").grants.length > 0) sink++;
  return 20_000;
});

// linear baseline on a sample of the same flows, with agreement checked
const sample = flows.slice(0, 400);
const linRate = cpuRate(1500, () => {
  for (const f of sample) if (referenceDecide(policy, f).verdict === "allow") sink++;
  return sample.length;
});
let disagree = 0;
for (const f of sample) {
  const a = decider.decide(f);
  const b = referenceDecide(policy, f);
  if (a.verdict !== b.verdict || a.rule !== b.rule || a.reason !== b.reason || a.enforced !== b.enforced) disagree++;
}

// machine calibration: plain Map.get on 100k string keys, so a reader can tell a slow or
// busy machine from a slow decider (decide() costs about this many Map.get calls)
const calMap = new Map<string, number>();
for (let i = 0; i < 100_000; i++) calMap.set(`k${i}.example.com`, i);
const calKeys = [...calMap.keys()];
const mapRate = cpuRate(700, () => {
  for (const k of calKeys) sink += calMap.get(k) ?? 0;
  return calKeys.length;
});

const ratio = rate / linRate;
const emit = emitter("decide");
emit({
  metric: "decisions/s",
  value: Math.round(rate),
  unit: "1/s",
  baseline: Math.round(linRate),
  baseline_name: "linear scan (reference matcher)",
  ratio: Math.round(ratio * 10) / 10,
  target: ">= 1e6/s and >= 50x",
  pass: rate >= 1e6 && ratio >= 50 && disagree === 0,
  note: `100k domains + 100k CIDRs in ${N_RULES} rules; ${sample.length} sampled flows agree: ${disagree === 0 ? "yes" : `NO (${disagree})`}`,
});
emit({ metric: "decideName/s", value: Math.round(nameRate), unit: "1/s" });
emit({
  metric: "machine calibration: Map.get/s",
  value: Math.round(mapRate),
  unit: "1/s",
  note: `one decide() costs about ${Math.round((mapRate / rate) * 10) / 10} Map.get calls on this machine`,
});
emit({ metric: "build time", value: Math.round(buildMs), unit: "ms" });
emit({ metric: "heap used by the decider", value: Math.round(((heapAfter - heapBefore) / 1048576) * 10) / 10, unit: "MB", note: "heapUsed after build minus before (after gc when --expose-gc)" });
process.stdout.write(`(checksum ${sink})\n`);
if (disagree > 0) process.exitCode = 1;
