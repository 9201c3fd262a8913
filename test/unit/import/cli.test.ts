/**
 * `clawfence import FILE [--format F] [-o FILE]` through cli/main, in-process with injected
 * streams: exit 0 with the policy on stdout or in -o, 1 on input errors (file:line on stderr),
 * 2 on usage and I/O errors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { main, reportFailure } from "../../../src/cli/main.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { flow, load } from "../catalogs/helpers.ts";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const FIXTURES = fileURLToPath(new URL("../../fixtures/import/", import.meta.url));

async function cli(args: readonly string[], cwd = FIXTURES): Promise<{ code: number; out: string; err: string }> {
  const out = new Sink();
  const err = new Sink();
  const io = { stdout: out, stderr: err, cwd, env: {} };
  let code: number;
  try {
    code = await main(["import", ...args], io);
  } catch (e) {
    code = reportFailure(e, io);
  }
  return { code, out: out.text, err: err.text };
}

void test("importing seed 002's allowlist prints a policy that loads, and exits 0", async () => {
  const r = await cli(["seed-002-allowlist.conf"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, "");
  const p = load(r.out);
  assert.equal(compileDecider(p).decide(flow("github.com:22/tcp")).verdict, "allow");
});

void test("the format is detected: seed 000's YAML list becomes a bootstrap policy", async () => {
  const r = await cli(["seed-000-attestation.yaml"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^phases: \[bootstrap, workload\]$/m);
  assert.match(r.err, /info CF6019/);
});

void test("--format forces the format", async () => {
  const r = await cli(["--format", "allowlist-conf", "seed-000-attestation.yaml"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /seed-000-attestation\.yaml:2:1: error CF6003/);
});

void test("-o writes the policy to a file and prints nothing on stdout", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-import-"));
  try {
    writeFileSync(join(dir, "allowlist.conf"), "api.example.com:443\n");
    const r = await cli(["allowlist.conf", "-o", "out.yaml", "--name", "build-agent"], dir);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "");
    const p = load(readFileSync(join(dir, "out.yaml"), "utf8"));
    assert.equal(p.name, "build-agent");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test("input errors exit 1 with file:line and a fix for every bad line", async () => {
  const r = await cli(["invalid-lines.conf"]);
  assert.equal(r.code, 1);
  assert.equal(r.out, "");
  assert.match(r.err, /^invalid-lines\.conf:3:1: error CF6003: /m);
  assert.match(r.err, /^invalid-lines\.conf:12:1: error CF6001: /m);
  assert.equal((r.err.match(/ error CF6/g) ?? []).length, 10);
  assert.equal((r.err.match(/^ {2}fix: /gm) ?? []).length, 10);
});

const USAGE: ReadonlyArray<readonly [string, readonly string[], RegExp]> = [
  ["no file is a usage error", [], /CF_USAGE_ARGS/],
  ["two files are a usage error", ["a.conf", "b.conf"], /CF_USAGE_ARGS/],
  ["an unknown format is a usage error listing the formats", ["--format", "csv", "seed-002-allowlist.conf"], /CF_USAGE_FORMAT.*\n.*allowlist-conf or --format attestation-yaml/],
  ["an unknown option is a usage error", ["--frmat", "x", "seed-002-allowlist.conf"], /CF_USAGE_ARGS/],
  ["a file that cannot be read is an I/O error", ["no-such-file.conf"], /CF_IO_READ.*ENOENT/],
  ["a bad policy name is a usage error", ["seed-002-allowlist.conf", "--name", "Bad_Name"], /CF_USAGE_ARGS/],
];

for (const [sentence, args, message] of USAGE) {
  void test(`${sentence} (exit 2)`, async () => {
    const r = await cli(args);
    assert.equal(r.code, 2);
    assert.match(r.err, message);
  });
}

void test("--help prints the formats and exits 0", async () => {
  const r = await cli(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /allowlist-conf/);
  assert.match(r.out, /attestation-yaml/);
});
