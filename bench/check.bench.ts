/**
 * bench/check — `clawfence check` on a 100k-entry policy: load (parse, schema, normalize)
 * plus the guardrails lint, against load alone in the same run. Target (issue "Guardrails"):
 * a 100k-entry policy is checked in under 2 s.
 *
 * The policy is YAML text built from a seeded PRNG, so the run is reproducible: 200 rules
 * alternating allow/deny, most with ports (443; 80,443; 8000-8100; 53), some without, some
 * bootstrap-only (two phases), each with 500 entries: 60% names, 15% wildcards, 20% IPv4
 * (/16../32, public and private), 5% IPv6; and a few overlapping entries between allow and
 * deny rules so the conflict paths run. Timing: best of 3, in CPU time of this process
 * (process.cpuUsage: "on one core", less skewed by a busy machine than wall-clock time).
 *
 * The text is in the regular part of YAML that parse.ts reads on its fast path; a third line
 * shows parsing alone on that path against the `yaml` package's path (which a policy written
 * with flow mappings, anchors or block scalars takes), so the cost of falling back is known.
 */
import { loadPolicyText } from "../src/policy/load.ts";
import { parseWithLibrary, parseYaml } from "../src/policy/parse.ts";
import { lintPolicy } from "../src/lint/index.ts";
import { prng } from "./lib.ts";

const SEED = 0x5eed5;
const N_RULES = 200;
const PER_RULE = 500;
const TARGET_MS = 2000;

const rnd = prng(SEED);
const int = (n: number): number => Math.floor(rnd() * n);
const ALPHA = "abcdefghijklmnopqrstuvwxyz0123456789";
const label = (): string => `${ALPHA[int(26)]}${Array.from({ length: 2 + int(7) }, () => ALPHA[int(ALPHA.length)]).join("")}`;
const SUFFIXES = ["example.com", "example.net", "example.org", "corp.example", "svc.example.com"];
const name = (): string => `${label()}.${label()}.${SUFFIXES[int(SUFFIXES.length)] ?? "example.com"}`;
function v4(): string {
  const prefix = 16 + int(17);
  const a = int(2 ** 32) >>> 0;
  const masked = prefix === 32 ? a : (a & ~((1 << (32 - prefix)) - 1)) >>> 0;
  const ip = [24, 16, 8, 0].map((s) => (masked >>> s) & 255).join(".");
  return prefix === 32 ? ip : `${ip}/${prefix}`;
}
const hex = (): string => int(0x10000).toString(16);
const v6 = (): string => `2400:${hex()}:${hex()}::/48`;
const PORTS = ["[443]", "[80, 443]", '["8000-8100"]', "[53]", "[443]", "[443]", null];

function buildYaml(): { text: string; entries: number } {
  const lines = ["version: 1", "name: bench-100k", "phases: [bootstrap, workload]", "dns:", "  upstreams: [10.0.0.2]", "rules:"];
  const shared: string[] = [];
  let entries = 0;
  for (let i = 0; i < N_RULES; i++) {
    const action = i % 2 === 0 ? "allow" : "deny";
    const dests: string[] = [];
    for (let j = 0; j < PER_RULE; j++) {
      const r = rnd();
      let d: string;
      if (r < 0.005 && shared.length > 0) d = shared[int(shared.length)] ?? name();
      else if (r < 0.6) d = name();
      else if (r < 0.75) d = `"*.${label()}.${SUFFIXES[int(SUFFIXES.length)] ?? "example.com"}"`;
      else if (r < 0.95) d = v4();
      else d = v6();
      if (rnd() < 0.01) shared.push(d);
      dests.push(d);
    }
    entries += dests.length;
    lines.push(`  - name: rule-${i}`, `    ${action}: [${dests.join(", ")}]`);
    const ports = PORTS[i % PORTS.length];
    if (ports) lines.push(`    ports: ${ports}`, "    protocol: tcp");
    if (i % 10 === 3) lines.push("    phase: bootstrap");
  }
  lines.push("default: deny", "");
  return { text: lines.join("\n"), entries };
}

const { text, entries } = buildYaml();
const noFiles = (p: string): string => {
  throw new Error(`no file ${p}`);
};

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function best(runs: number, f: () => void): number {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = cpuMs();
    f();
    min = Math.min(min, cpuMs() - t0);
  }
  return min;
}

let findings = 0;
const loadMs = best(3, () => {
  loadPolicyText(text, "bench.yaml", noFiles);
});
const checkMs = best(3, () => {
  const p = loadPolicyText(text, "bench.yaml", noFiles);
  findings = lintPolicy(p).length;
});
const policy = loadPolicyText(text, "bench.yaml", noFiles);
const lintMs = best(3, () => {
  lintPolicy(policy);
});

let fastOk = false;
const parseFastMs = best(3, () => {
  fastOk = parseYaml(text, "bench.yaml").ok;
});
const parseLibMs = best(3, () => {
  parseWithLibrary(text, "bench.yaml");
});

const line = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
line({
  bench: "check",
  metric: `check (load + lint), ${entries} entries`,
  value: Math.round(checkMs),
  unit: "ms (cpu)",
  baseline: Math.round(loadMs),
  baseline_name: "load alone",
  ratio: Math.round((checkMs / loadMs) * 100) / 100,
  target: `< ${TARGET_MS} ms`,
  pass: checkMs < TARGET_MS,
  note: `${policy.rules.length} rules, ${findings} findings`,
});
line({
  bench: "check",
  metric: `lint alone, ${entries} entries`,
  value: Math.round(lintMs),
  unit: "ms (cpu)",
  baseline: Math.round(loadMs),
  baseline_name: "load alone",
  ratio: Math.round((lintMs / loadMs) * 100) / 100,
});
line({
  bench: "check",
  metric: `parse alone (parse.ts), ${entries} entries`,
  value: Math.round(parseFastMs),
  unit: "ms (cpu)",
  baseline: Math.round(parseLibMs),
  baseline_name: "yaml package path",
  ratio: Math.round((parseFastMs / parseLibMs) * 100) / 100,
  note: fastOk ? "parsed" : "parse failed",
});
