/**
 * The DNS guard with real parts, in namespaces created here:
 *   client ns (dig, kdig)  --veth--  guard ns (serve.ts + the policy's nft table)  --veth--
 *   upstream ns (unbound on .3 forwarding to dnsmasq on .2; .4 answers nothing: failover)
 * Assertions read dnsmasq's query log (what reached an upstream), `nft -j list set` (what the
 * kernel holds, with timeouts) and the guard's JSON-lines event file.
 * Everything is removed in `after`, whatever happened.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { loadPolicy } from "../../src/policy/load.ts";
import { compileNftables } from "../../src/compile/nftables/index.ts";
import { parseSetElements } from "../../src/runtime/nft/programmer.ts";

const skip = ((): string | false => {
  if (process.getuid?.() !== 0) return "needs root";
  for (const b of ["ip", "nft", "dig", "kdig", "dnsmasq", "unbound"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${b}`], { stdio: "ignore" });
    } catch {
      return `needs ${b}`;
    }
  }
  return false;
})();
if (skip && process.env["CI"] === "true") throw new Error(`integration prerequisites missing: ${skip}`);

const id = randomBytes(3).toString("hex");
const NS = { client: `cfdgc${id}`, guard: `cfdgg${id}`, up: `cfdgu${id}` };
const TABLE = "cf_dnstest";
const dir = mkdtempSync(join(tmpdir(), "cf-dns-guard-"));
const files = { policy: join(dir, "policy.yaml"), events: join(dir, "events.jsonl"), dnsmasqLog: join(dir, "dnsmasq.log"), unbound: join(dir, "unbound.conf") };
const procs: ChildProcess[] = [];
let guard: ChildProcess | null = null;

function sh(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}
const inNs = (ns: string, cmd: string, ...args: string[]): string => sh("ip", ["netns", "exec", ns, cmd, ...args]);

const POLICY = `version: 1
name: dnstest
dns:
  upstreams: ["10.77.2.4", "10.77.2.3"]
  min_ttl: 5
rules:
  - name: block-evil
    deny: [evil.example.com]
  - name: models
    allow: [api.example.com, "*.cdn.example.net", "*.example.org"]
    ports: [443]
    protocol: tcp
default: deny
`;

const UNBOUND = `server:
  interface: 10.77.2.3
  port: 53
  access-control: 0.0.0.0/0 allow
  do-ip6: no
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  module-config: "iterator"
  qname-minimisation: no
  do-not-query-localhost: no
  local-zone: "example.org." static
  local-data: "long.example.org. 300 IN A 93.184.216.77"
  local-data: "short.example.org. 10 IN A 93.184.216.77"
  local-data: "www.example.org. 120 IN A 93.184.216.50"
remote-control:
  control-enable: no
forward-zone:
  name: "."
  forward-addr: 10.77.2.2
`;

async function waitFor(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function startGuard(): Promise<void> {
  const g = spawn(
    "ip",
    ["netns", "exec", NS.guard, process.execPath, "src/runtime/dns/serve.ts", "--policy", files.policy, "--listen", "10.77.1.1:53", "--table", TABLE, "--events", files.events, "--upstream-timeout", "300"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  g.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  g.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  guard = g;
  await waitFor(() => out.includes("ready") || g.exitCode !== null, "the guard to listen").catch((e: unknown) => {
    throw new Error(`${String(e)}: ${err}`);
  });
  if (!out.includes("ready")) throw new Error(`guard exited: ${err}`);
}

async function stopGuard(): Promise<void> {
  const g = guard;
  guard = null;
  if (!g || g.exitCode !== null) return;
  const done = new Promise((r) => g.once("exit", r));
  g.kill("SIGTERM");
  await done;
}

function dig(name: string, ...opts: string[]): { status: string; answers: string[] } {
  const out = inNs(NS.client, "dig", "@10.77.1.1", "+tries=1", "+time=3", ...opts, name);
  const status = /status: (\w+)/.exec(out)?.[1] ?? "none";
  const answers = out
    .split("\n")
    .filter((l) => l && !l.startsWith(";") && /\sIN\s/.test(l))
    .map((l) => l.split(/\s+/).at(-1) ?? "");
  return { status, answers };
}

function listSet(set: string): ReturnType<typeof parseSetElements> {
  return parseSetElements(inNs(NS.guard, "nft", "-j", "list", "set", "inet", TABLE, set));
}

function upstreamLog(): string {
  return existsSync(files.dnsmasqLog) ? readFileSync(files.dnsmasqLog, "utf8") : "";
}

function events(): Array<Record<string, unknown>> {
  if (!existsSync(files.events)) return [];
  return readFileSync(files.events, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

before(async () => {
  if (skip) return;
  for (const ns of Object.values(NS)) sh("ip", ["netns", "add", ns]);
  const vethA = `cfdga${id}`;
  const vethB = `cfdgb${id}`;
  sh("ip", ["-n", NS.client, "link", "add", "eth0", "type", "veth", "peer", "name", vethA, "netns", NS.guard]);
  sh("ip", ["-n", NS.guard, "link", "add", "up0", "type", "veth", "peer", "name", vethB, "netns", NS.up]);
  for (const [ns, dev, addrs] of [
    [NS.client, "eth0", ["10.77.1.2/24"]],
    [NS.guard, vethA, ["10.77.1.1/24"]],
    [NS.guard, "up0", ["10.77.2.1/24"]],
    [NS.up, vethB, ["10.77.2.2/24", "10.77.2.3/24"]],
  ] as const) {
    for (const a of addrs) sh("ip", ["-n", ns, "addr", "add", a, "dev", dev]);
    sh("ip", ["-n", ns, "link", "set", dev, "up"]);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
  }
  writeFileSync(files.policy, POLICY);
  writeFileSync(files.unbound, UNBOUND);
  const policy = loadPolicy(files.policy, (p) => readFileSync(p, "utf8"));
  sh("ip", ["netns", "exec", NS.guard, "nft", "-f", "-"], compileNftables(policy, { tableName: TABLE }).text);

  const dnsmasq = spawn(
    "ip",
    [
      "netns",
      "exec",
      NS.up,
      "dnsmasq",
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--no-resolv",
      "--no-hosts",
      "--bind-interfaces",
      "--listen-address=10.77.2.2",
      "--user=root",
      "--pid-file=",
      "--log-queries",
      `--log-facility=${files.dnsmasqLog}`,
      "--local-ttl=30",
      "--address=/api.example.com/93.184.216.34",
      "--address=/cdn.example.net/151.101.1.7",
      "--address=/rebind.cdn.example.net/127.0.0.1",
      "--address=/evil.example.com/151.101.1.66",
      "--address=/tunnel.example/151.101.1.67",
    ],
    { stdio: "ignore" },
  );
  procs.push(dnsmasq);
  const unbound = spawn("ip", ["netns", "exec", NS.up, "unbound", "-d", "-c", files.unbound], { stdio: "ignore" });
  procs.push(unbound);
  await waitFor(() => {
    try {
      return inNs(NS.up, "dig", "@10.77.2.3", "+short", "+tries=1", "+time=1", "api.example.com").includes("93.184.216.34");
    } catch {
      return false;
    }
  }, "unbound and dnsmasq");
  await startGuard();
});

after(async () => {
  await stopGuard().catch(() => {});
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  for (const ns of Object.values(NS)) {
    try {
      sh("ip", ["netns", "del", ns]);
    } catch {
      /* not created */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

void test("an allowed name is answered (after failing over a dead upstream) and its address is in the kernel set for port 443", { skip }, () => {
  const r = dig("api.example.com");
  assert.equal(r.status, "NOERROR");
  assert.deepEqual(r.answers, ["93.184.216.34"]);
  const els = listSet("d1_4").filter((e) => e.ip === "93.184.216.34");
  assert.equal(els.length, 1);
  assert.equal(els[0]?.protocol, "tcp");
  assert.deepEqual(els[0]?.portRange, { from: 443, to: 443 });
  // dnsmasq --local-ttl=30 > min_ttl 5: the element lives about 30 s
  assert.ok((els[0]?.expiresSec ?? 0) >= 25 && (els[0]?.expiresSec ?? 0) <= 30, `expires ${els[0]?.expiresSec}`);
  assert.match(upstreamLog(), /query\[A\] api\.example\.com/);
  const e = events().find((x) => x["name"] === "api.example.com");
  assert.equal(e?.["rule"], "models");
  assert.equal(e?.["verdict"], "allow");
  assert.deepEqual(e?.["answers"], ["93.184.216.34"]);
});

void test("kdig over TCP gets the same answer", { skip }, () => {
  const out = inNs(NS.client, "kdig", "@10.77.1.1", "+tcp", "+short", "www.example.org");
  assert.equal(out.trim(), "93.184.216.50");
  assert.ok(listSet("d1_4").some((e) => e.ip === "93.184.216.50"));
});

void test("denied and unlisted names are REFUSED and never reach the upstream", { skip }, () => {
  assert.equal(dig("evil.example.com").status, "REFUSED");
  assert.equal(dig("elsewhere.example.net").status, "REFUSED");
  const log = upstreamLog();
  assert.ok(!log.includes("evil.example.com"));
  assert.ok(!log.includes("elsewhere.example.net"));
  const e = events().find((x) => x["name"] === "evil.example.com");
  assert.equal(e?.["rule"], "block-evil");
  assert.equal(e?.["reason"], "rule-deny");
});

void test("a tunnel attempt (hundreds of encoded subdomains) never reaches the upstream's query log", { skip }, () => {
  const names: string[] = [];
  for (let i = 0; i < 200; i++) {
    // base32 of random data in 40-60 character labels, as dnscat2/iodine-style tools send
    const label = randomBytes(30).toString("base64url").toLowerCase().replace(/[^a-z0-9]/g, "a").slice(0, 41 + (i % 20));
    names.push(`${label}.cdn.example.net`, `${label.slice(0, 20)}.${i}.tunnel.example`);
  }
  writeFileSync(join(dir, "batch"), names.map((n) => `${n} A`).join("\n"));
  const out = inNs(NS.client, "dig", "@10.77.1.1", "+tries=1", "+time=2", "-f", join(dir, "batch"));
  const statuses = [...out.matchAll(/status: (\w+)/g)].map((m) => m[1]);
  assert.equal(statuses.length, names.length);
  assert.ok(statuses.every((s) => s === "REFUSED"));
  const log = upstreamLog();
  assert.ok(!log.includes("tunnel.example"), "names outside the policy never left the guard");
  for (const n of names) assert.ok(!log.includes(n), `${n} reached the upstream`);
  const exfil = events().filter((x) => x["reason"] === "dns-exfiltration");
  assert.equal(exfil.length, 200);
  assert.ok(exfil.every((x) => x["rule"] === "models"));
});

void test("rebinding: an allowed name resolving to loopback gets an empty answer and nothing is opened", { skip }, () => {
  const r = dig("rebind.cdn.example.net");
  assert.equal(r.status, "NOERROR");
  assert.deepEqual(r.answers, []);
  assert.ok(!listSet("d1_4").some((e) => e.ip === "127.0.0.1"));
  const e = events().find((x) => x["name"] === "rebind.cdn.example.net");
  assert.deepEqual(e?.["removed"], ["127.0.0.1"]);
});

void test("an element is never shortened by a later answer with a shorter TTL, and survives a guard restart", { skip }, async () => {
  assert.deepEqual(dig("long.example.org").answers, ["93.184.216.77"]);
  const first = listSet("d1_4").find((e) => e.ip === "93.184.216.77");
  assert.ok(first && first.expiresSec > 280, `expires ${first?.expiresSec}`);
  assert.deepEqual(dig("short.example.org").answers, ["93.184.216.77"]);
  const second = listSet("d1_4").find((e) => e.ip === "93.184.216.77");
  assert.ok(second && second.expiresSec > 280, `shortened to ${second?.expiresSec}`);

  await stopGuard();
  const kept = listSet("d1_4");
  assert.ok(kept.some((e) => e.ip === "93.184.216.77" && e.expiresSec > 270), "the kernel keeps elements while the guard is down");
  await startGuard();
  assert.deepEqual(dig("short.example.org").answers, ["93.184.216.77"]);
  const third = listSet("d1_4").find((e) => e.ip === "93.184.216.77");
  assert.ok(third && third.expiresSec > 270, `a restarted guard shortened it to ${third?.expiresSec}`);
});

void test("a flood of malformed packets neither crashes nor stalls the guard", { skip }, () => {
  const script = `
const d = require("node:dgram"); const c = require("node:crypto");
const s = d.createSocket("udp4"); let n = 0;
function next() { if (n++ >= 2000) { s.close(); return; }
  const len = c.randomInt(0, 600); const b = c.randomBytes(len);
  if (len > 4 && n % 2) { b[2] = 0x01; b[3] = 0; b[4] = 0; b[5] = 1; } // query-looking header
  if (len > 14 && n % 3 === 0) { b[12] = 0xc0; b[13] = 12; }         // compression loop in the question
  s.send(b, 53, "10.77.1.1", next); }
next();`;
  inNs(NS.client, process.execPath, "-e", script);
  assert.equal(guard?.exitCode, null, "the guard is still running");
  assert.deepEqual(dig("api.example.com").answers, ["93.184.216.34"]);
});
