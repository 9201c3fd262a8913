/**
 * bench/run — runs every bench/*.bench.ts (or the ones named on the command line) in its own
 * process, collects the JSON result lines they print, and rewrites the results section of
 * BENCHMARKS.md.
 *
 * A result line is one JSON object per line on stdout:
 *   {"bench":"decide","metric":"decisions/s","value":1.2e6,"unit":"1/s",
 *    "baseline":2.1e4,"baseline_name":"linear scan","ratio":57,"target":">= 50x","pass":true}
 * Baselines are measured in the same run, so the ratios are what to compare across machines.
 * Lines that are not JSON are passed through to the terminal as progress.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { cpus, totalmem } from "node:os";

interface Result {
  bench: string;
  metric: string;
  value: number;
  unit?: string;
  baseline?: number;
  baseline_name?: string;
  ratio?: number;
  target?: string;
  pass?: boolean;
  note?: string;
}

const only = process.argv.slice(2);
const files = readdirSync("bench")
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();

const results: Result[] = [];
const failures: string[] = [];
for (const f of files) {
  process.stdout.write(`\n== bench/${f}\n`);
  const r = spawnSync(process.execPath, ["--expose-gc", `bench/${f}`], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "inherit"] });
  for (const line of (r.stdout ?? "").split("\n")) {
    const t = line.trim();
    if (t.startsWith("{")) {
      try {
        const obj = JSON.parse(t) as Result;
        if (typeof obj.bench === "string" && typeof obj.metric === "string" && typeof obj.value === "number") {
          results.push(obj);
          process.stdout.write(`  ${obj.metric}: ${fmt(obj.value)} ${obj.unit ?? ""}${obj.ratio !== undefined ? `  (x${fmt(obj.ratio)} vs ${obj.baseline_name ?? "baseline"})` : ""}${obj.target ? `  target ${obj.target}` : ""}${obj.pass === false ? "  MISSED" : ""}\n`);
          continue;
        }
      } catch {
        // not a result line
      }
    }
    if (t) process.stdout.write(`  ${t}\n`);
  }
  if (r.status !== 0) failures.push(`${f} exited ${r.status ?? r.signal}`);
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  return Number(n.toPrecision(3)).toString();
}

const rows = results.map(
  (r) =>
    `| ${r.bench} | ${r.metric} | ${fmt(r.value)} ${r.unit ?? ""} | ${r.baseline !== undefined ? `${fmt(r.baseline)} (${r.baseline_name ?? "baseline"})` : ""} | ${r.ratio !== undefined ? `x${fmt(r.ratio)}` : ""} | ${r.target ?? ""} | ${r.pass === undefined ? "" : r.pass ? "yes" : "**no**"} | ${r.note ?? ""} |`,
);
const section = [
  "<!-- results:start (written by `npm run bench`; edit outside these markers) -->",
  `Last run: ${new Date().toISOString().slice(0, 10)}, Node ${process.versions.node}, ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB.`,
  "",
  "| bench | metric | value | baseline (same run) | ratio | target | met | note |",
  "|---|---|---|---|---|---|---|---|",
  ...rows,
  ...(failures.length ? ["", `Benchmarks that failed to run: ${failures.join("; ")}`] : []),
  "<!-- results:end -->",
].join("\n");

if (only.length === 0) {
  const path = "BENCHMARKS.md";
  const old = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n\n<!-- results:start --><!-- results:end -->\n";
  const re = /<!-- results:start[\s\S]*?<!-- results:end -->/;
  writeFileSync(path, re.test(old) ? old.replace(re, section) : `${old}\n${section}\n`);
  process.stdout.write(`\nwrote ${path}\n`);
} else {
  process.stdout.write(`\n(partial run: BENCHMARKS.md not rewritten)\n${section}\n`);
}
process.exit(failures.length ? 1 : 0);
