/**
 * cli/load-policy: file errors, the size limit before reading, and the machine-default
 * variables read from this machine's npm and apt configuration (expected values are read from
 * the same configuration, never written here).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { CliError, type CliIo } from "../../../src/cli/errors.ts";
import { aptEntries, debianMirrorFromSources, hostOfUrl, loadPolicyFromCli, machineVarFromSystem, registryFromNpmrc } from "../../../src/cli/load-policy.ts";
import { PolicyError } from "../../../src/policy/errors.ts";

const io = (cwd: string, env: Record<string, string | undefined> = process.env): CliIo => ({ stdout: new PassThrough(), stderr: new PassThrough(), cwd, env });

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "cf-load-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void test("registryFromNpmrc takes the unscoped registry line (last wins) and ignores comments and scopes", () => {
  const text = "# registry=https://commented.example.test/\n@corp:registry=https://scoped.example.test/\nregistry = https://first.example.test/\nfund=false\nregistry=\"https://mirror.example.test/npm/\"\n";
  assert.equal(registryFromNpmrc(text), "https://mirror.example.test/npm/");
  assert.equal(registryFromNpmrc("fund=false\n"), undefined);
  assert.equal(hostOfUrl("https://mirror.example.test:8443/npm/"), "mirror.example.test");
  assert.equal(hostOfUrl("not a url"), undefined);
});

void test("debianMirrorFromSources prefers a Debian archive, reads both formats, skips disabled stanzas", () => {
  const deb822 =
    "Types: deb\nURIs: https://other.example.test/node\nSuites: nodistro\n\nTypes: deb\nURIs: http://deb.example.test/debian\nSuites: bookworm\nComponents: main\n\nEnabled: no\nTypes: deb\nURIs: http://off.example.test/debian\n";
  assert.deepEqual(
    aptEntries("x.sources", deb822).map((e) => [hostOfUrl(e.uri), e.debian]),
    [
      ["other.example.test", false],
      ["deb.example.test", true],
    ],
  );
  assert.equal(debianMirrorFromSources([{ name: "x.sources", text: deb822 }]), "deb.example.test");
  const list = "# deb http://commented.example.test/debian x main\ndeb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example.test/pub bookworm main\n";
  assert.equal(debianMirrorFromSources([{ name: "sources.list", text: list }]), "mirror.example.test");
  assert.equal(debianMirrorFromSources([{ name: "a.list", text: "deb cdrom:[x]/ bookworm main\n" }]), undefined);
  assert.equal(debianMirrorFromSources([]), undefined);
});

void test("npm_registry comes from npm_config_registry when it is set", () => {
  const v = machineVarFromSystem(io("/", { npm_config_registry: "https://registry.example.test/", HOME: "/nonexistent" }));
  assert.equal(v("npm_registry"), "registry.example.test");
  assert.equal(v("no_such_fact"), undefined);
});

void test("npm_registry without the env var is what this machine's npm configuration says", () => {
  const env = { ...process.env, npm_config_registry: undefined, NPM_CONFIG_REGISTRY: undefined };
  const got = machineVarFromSystem(io(tmpdir(), env))("npm_registry");
  const npm = spawnSync("npm", ["config", "get", "registry"], { encoding: "utf8", env: { ...env }, cwd: tmpdir() });
  const want = npm.status === 0 ? hostOfUrl(npm.stdout.trim()) : undefined;
  assert.equal(got, want);
});

void test("debian_mirror is the host of an archive listed in this machine's apt sources", () => {
  const got = machineVarFromSystem(io("/"))("debian_mirror");
  const texts: string[] = [];
  try {
    texts.push(readFileSync("/etc/apt/sources.list", "utf8"));
  } catch {
    // absent on deb822-only systems
  }
  try {
    for (const n of readdirSync("/etc/apt/sources.list.d")) if (/\.(list|sources)$/.test(n)) texts.push(readFileSync(join("/etc/apt/sources.list.d", n), "utf8"));
  } catch {
    // no sources.list.d
  }
  const hosts = texts.flatMap((t) => [...t.matchAll(/https?:\/\/([^/\s:\]]+)/g)].map((m) => m[1]));
  if (hosts.length === 0) assert.equal(got, undefined);
  else assert.ok(got !== undefined && hosts.includes(got), `${String(got)} is one of the configured archive hosts`);
});

void test("loadPolicyFromCli fills machine variables only when a policy uses them", () => {
  withDir((dir) => {
    writeFileSync(join(dir, "p.yaml"), "version: 1\nname: p\nrules:\n  - name: npm\n    allow: [\"${npm_registry}\"]\n    ports: [443]\n    protocol: tcp\n");
    writeFileSync(join(dir, "q.yaml"), "version: 1\nname: q\nrules: []\n");
    const asked: string[] = [];
    const machineVar = (n: string) => {
      asked.push(n);
      return n === "npm_registry" ? "registry.example.test" : undefined;
    };
    const p = loadPolicyFromCli("p.yaml", io(dir), { machineVar });
    const d = p.rules[0]?.dests[0];
    assert.ok(d?.kind === "domain" && d.name === "registry.example.test");
    assert.deepEqual(d.pos, { file: "p.yaml", line: 5, column: 13 });
    loadPolicyFromCli("q.yaml", io(dir), { machineVar });
    assert.deepEqual(asked, ["npm_registry"]);
    const over = loadPolicyFromCli("p.yaml", io(dir), { machineVar, overrides: { npm_registry: "mirror.example.test" } });
    assert.ok(over.rules[0]?.dests[0]?.kind === "domain" && over.rules[0].dests[0].name === "mirror.example.test");
  });
});

void test("relative extends resolve against the extending file, positions keep the relative names", () => {
  withDir((dir) => {
    mkdirSync(join(dir, "team"));
    writeFileSync(join(dir, "team", "base.yaml"), "version: 1\nname: base\nrules:\n  - name: b\n    allow: [b.example.com]\n");
    writeFileSync(join(dir, "team", "p.yaml"), "version: 1\nname: p\nextends: [./base.yaml]\n");
    const p = loadPolicyFromCli("team/p.yaml", io(dir), { machineVar: () => undefined });
    assert.deepEqual(p.sources, ["team/p.yaml", join("team", "base.yaml")]);
    assert.equal(p.rules[0]?.pos.file, join("team", "base.yaml"));
  });
});

void test("file problems are CliError CF_IO_READ (exit 2); an oversized file is CF1006 without being read", () => {
  withDir((dir) => {
    mkdirSync(join(dir, "adir"));
    for (const [path, re] of [
      ["missing.yaml", /no such file/],
      ["adir", /is a directory/],
    ] as const) {
      assert.throws(
        () => loadPolicyFromCli(path, io(dir)),
        (e: unknown) => e instanceof CliError && e.code === "CF_IO_READ" && e.exit === 2 && re.test(e.message) && e.fix.length > 0,
      );
    }
    const big = join(dir, "big.yaml");
    writeFileSync(big, "");
    truncateSync(big, 10 * 1024 * 1024);
    assert.throws(
      () => loadPolicyFromCli("big.yaml", io(dir)),
      (e: unknown) => e instanceof PolicyError && e.diagnostics[0]?.code === "CF1006",
    );
  });
});
