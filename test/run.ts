/**
 * test/run — runs every test file with Node's test runner: unit tests, then the
 * integration tests that build their own network namespaces.
 *
 * Integration tests need root, iproute2 and nftables. Where they are missing, they are
 * skipped with the reason said, except under CI=true, where a missing prerequisite fails.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function files(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out = out.concat(files(p));
    else if (n.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

function has(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

const only = process.argv.slice(2);
const integration = files("test/integration");
const missing = [process.getuid?.() === 0 ? "" : "root", ...["ip", "nft"].filter((c) => !has(c))].filter(Boolean);
let all = [...files("test/unit"), ...files("src"), ...integration];
if (missing.length > 0) {
  const why = `integration tests need ${missing.join(", ")} (see .ci/run for the Debian packages)`;
  if (process.env["CI"] === "true") {
    process.stderr.write(`test/run: ${why}; CI=true, so this is a failure\n`);
    process.exit(1);
  }
  process.stderr.write(`test/run: skipping ${integration.length} integration test files: ${why}\n`);
  all = all.filter((f) => !integration.includes(f));
}
const chosen = only.length ? all.filter((f) => only.some((o) => f.includes(o))) : all;
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=2", "--test-reporter=spec", ...chosen], {
  stdio: "inherit",
  env: process.env,
});
process.exit(r.status ?? 1);
