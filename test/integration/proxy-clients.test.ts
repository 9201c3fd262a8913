/**
 * The egress proxy with real clients, in namespaces created here:
 *   client ns (curl, node fetch, git, openssl s_client)  --veth--  proxy ns (the proxy, listening
 *   on its veth address; nft redirects :443/:80 to the transparent listeners)  --veth--
 *   server ns (dnsmasq as the proxy's resolver; HTTPS with a self-signed cert, plain HTTP, git
 *   smart HTTP via `git http-backend`)
 * The client has no route past the proxy ns (forwarding is off there), so everything it reaches
 * went through the proxy. Assertions read what the clients print and the proxy's JSON-lines
 * flow events. Everything is removed in `after`, whatever happened.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import type { FlowEvent } from "../../src/runtime/events.ts";

const skip = ((): string | false => {
  if (process.getuid?.() !== 0) return "needs root";
  for (const b of ["ip", "nft", "curl", "openssl", "git", "dnsmasq"]) {
    if (spawnSync("sh", ["-c", `command -v ${b}`]).status !== 0) return `needs ${b}`;
  }
  return false;
})();
if (skip && process.env["CI"] === "true") throw new Error(`integration prerequisites missing: ${skip}`);

const id = randomBytes(3).toString("hex");
const NS = { client: `cfpxc${id}`, proxy: `cfpxp${id}`, server: `cfpxs${id}` };
const IF = { pc: `cfpc${id}`, cp: `cfcp${id}`, ps: `cfps${id}`, sp: `cfsp${id}` };
const PROXY = "10.88.1.1";
const SERVER = "10.88.2.2";
const DECOY = "10.88.2.3";
const dir = mkdtempSync(join(tmpdir(), "cf-proxy-it-"));
const F = {
  policy: join(dir, "policy.yaml"),
  events: join(dir, "events.jsonl"),
  cert: join(dir, "cert.pem"),
  key: join(dir, "key.pem"),
  proxyCfg: join(dir, "proxy.json"),
  originCfg: join(dir, "origin.json"),
  git: join(dir, "git"),
};
const HERE = resolve(import.meta.dirname, "..", "unit", "proxy");
const procs: ChildProcess[] = [];

const POLICY = `version: 1
name: proxytest
internal: [10.88.2.0/24]
dns:
  upstreams: ["${SERVER}"]
rules:
  - name: no-evil
    deny: [evil.test]
  - name: web
    allow: [allowed.test, git.test, other.test, rebind.test]
    ports: [80, 443]
    protocol: tcp
default: deny
`;

function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
const inNs = (ns: string, cmd: string, ...args: string[]): string => sh("ip", ["netns", "exec", ns, cmd, ...args]);

/** Run in the client ns; never throws: status, stdout, stderr. */
function client(cmd: string, args: readonly string[], env: Record<string, string> = {}, input = ""): { status: number | null; out: string; err: string } {
  const r = spawnSync("ip", ["netns", "exec", NS.client, "env", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), cmd, ...args], { encoding: "utf8", input, timeout: 30_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

function startChild(ns: string, args: readonly string[], ready: RegExp): Promise<ChildProcess> {
  const p = spawn("ip", ["netns", "exec", ns, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(p);
  return new Promise((res, rej) => {
    let out = "";
    let err = "";
    const t = setTimeout(() => rej(new Error(`${args.join(" ")} did not start: ${out} ${err}`)), 20_000);
    p.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(t);
        res(p);
      }
    });
    p.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    p.on("exit", (code) => {
      clearTimeout(t);
      rej(new Error(`${args.join(" ")} exited ${code}: ${err}`));
    });
  });
}

function events(): FlowEvent[] {
  if (!existsSync(F.events)) return [];
  return readFileSync(F.events, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as FlowEvent);
}

async function eventFor(pred: (e: FlowEvent) => boolean): Promise<FlowEvent> {
  const t0 = Date.now();
  for (;;) {
    const e = events().find(pred);
    if (e) return e;
    if (Date.now() - t0 > 5000) throw new Error(`no matching flow event; have:\n${events().map((x) => JSON.stringify(x)).join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  if (skip) return;
  for (const ns of Object.values(NS)) {
    sh("ip", ["netns", "add", ns]);
    inNs(ns, "ip", "link", "set", "lo", "up");
  }
  sh("ip", ["link", "add", IF.pc, "type", "veth", "peer", "name", IF.cp]);
  sh("ip", ["link", "set", IF.pc, "netns", NS.proxy]);
  sh("ip", ["link", "set", IF.cp, "netns", NS.client]);
  sh("ip", ["link", "add", IF.ps, "type", "veth", "peer", "name", IF.sp]);
  sh("ip", ["link", "set", IF.ps, "netns", NS.proxy]);
  sh("ip", ["link", "set", IF.sp, "netns", NS.server]);
  inNs(NS.proxy, "ip", "addr", "add", `${PROXY}/24`, "dev", IF.pc);
  inNs(NS.proxy, "ip", "addr", "add", "10.88.2.1/24", "dev", IF.ps);
  inNs(NS.client, "ip", "addr", "add", "10.88.1.2/24", "dev", IF.cp);
  inNs(NS.server, "ip", "addr", "add", `${SERVER}/24`, "dev", IF.sp);
  inNs(NS.server, "ip", "addr", "add", `${DECOY}/24`, "dev", IF.sp);
  for (const [ns, i] of [[NS.proxy, IF.pc], [NS.proxy, IF.ps], [NS.client, IF.cp], [NS.server, IF.sp]] as const) inNs(ns, "ip", "link", "set", i, "up");
  // the client's only way out is the proxy ns, which does not forward (ip_forward is 0 in a new ns)
  inNs(NS.client, "ip", "route", "add", "default", "via", PROXY);
  inNs(NS.server, "ip", "route", "add", "default", "via", "10.88.2.1");
  // transparent interception: TCP 443/80 arriving from the client goes to the proxy's listeners
  execFileSync("ip", ["netns", "exec", NS.proxy, "nft", "-f", "-"], {
    input: `table ip cfpx {\n chain pre {\n  type nat hook prerouting priority dstnat;\n  iifname "${IF.pc}" tcp dport 443 redirect to :8443\n  iifname "${IF.pc}" tcp dport 80 redirect to :8080\n }\n}\n`,
  });

  sh("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", F.key, "-out", F.cert, "-days", "2", "-subj", "/CN=allowed.test", "-addext", "subjectAltName=DNS:allowed.test,DNS:git.test,DNS:other.test,DNS:evil.test"]);
  // a bare repository with one commit, served by git http-backend
  mkdirSync(F.git);
  sh("git", ["init", "-q", "--bare", "-b", "main", join(F.git, "repo.git")]);
  const work = join(dir, "work");
  sh("git", ["init", "-q", "-b", "main", work]);
  writeFileSync(join(work, "README"), "proxied\n");
  sh("git", ["-C", work, "add", "README"]);
  sh("git", ["-C", work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one"]);
  sh("git", ["-C", work, "push", "-q", join(F.git, "repo.git"), "main"]);

  writeFileSync(F.policy, POLICY);
  writeFileSync(F.originCfg, JSON.stringify({ cert: F.cert, key: F.key, http: [`${SERVER}:80`, `${DECOY}:80`], https: [`${SERVER}:443`, `${DECOY}:443`], gitRoot: F.git }));
  writeFileSync(
    F.proxyCfg,
    JSON.stringify({
      policy: F.policy,
      dns: [SERVER],
      events: F.events,
      listeners: [
        { kind: "http", address: PROXY, port: 3128 },
        { kind: "socks5", address: PROXY, port: 1080 },
        { kind: "transparent-tls", address: PROXY, port: 8443, targetPort: 443 },
        { kind: "transparent-http", address: PROXY, port: 8080, targetPort: 80 },
      ],
    }),
  );
  // DECOY answers too, with the same cert: a transparent client aimed at it must still land on SERVER
  const dnsmasqArgs = ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces", `--listen-address=${SERVER}`, "--port=53", "--pid-file=", "--user=root"];
  for (const n of ["allowed.test", "git.test", "evil.test"]) dnsmasqArgs.push(`--address=/${n}/${SERVER}`);
  dnsmasqArgs.push(`--address=/other.test/${DECOY}`, "--address=/rebind.test/169.254.169.254");
  spawnChild(NS.server, dnsmasqArgs);
  await startChild(NS.server, [process.execPath, join(HERE, "origin-child.ts"), F.originCfg], /READY/);
  await startChild(NS.proxy, [process.execPath, join(HERE, "proxy-child.ts"), F.proxyCfg], /READY/);
  // dnsmasq is up once it answers
  for (let i = 0; i < 50; i++) {
    if (spawnSync("ip", ["netns", "exec", NS.server, "bash", "-c", `exec 3<>/dev/tcp/${SERVER}/53`], { stdio: "ignore" }).status === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});

function spawnChild(ns: string, args: readonly string[]): void {
  const p = spawn("ip", ["netns", "exec", ns, ...args], { stdio: "ignore" });
  procs.push(p);
}

after(() => {
  for (const p of procs) p.kill("SIGTERM");
  for (const ns of Object.values(NS)) spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
  rmSync(dir, { recursive: true, force: true });
});

const opt = { skip };
const PX = `http://${PROXY}:3128`;

void test("curl: a plain HTTP request through the forward proxy reaches the allowed name", opt, async () => {
  const r = client("curl", ["-sS", "-x", PX, "http://allowed.test/"]);
  assert.equal(r.out, "hello http allowed.test\n", r.err);
  const e = await eventFor((x) => x.name === "allowed.test" && x.detail === "http GET");
  assert.deepEqual([e.verdict, e.rule, e.dst_ip, e.dst_port], ["allow", "web", SERVER, 80]);
  assert.match(e.client ?? "", /^10\.88\.1\.2:\d+$/);
  assert.ok((e.bytes_down ?? 0) > 0 && (e.duration_ms ?? -1) >= 0);
});

void test("curl: https through CONNECT reaches the allowed name with a verified certificate", opt, async () => {
  const r = client("curl", ["-sS", "--cacert", F.cert, "-x", PX, "https://allowed.test/"]);
  assert.equal(r.out, "hello https allowed.test\n", r.err);
  const e = await eventFor((x) => x.name === "allowed.test" && x.detail === "http CONNECT");
  assert.equal(e.verdict, "allow");
  assert.ok((e.bytes_up ?? 0) > 200 && (e.bytes_down ?? 0) > 500, "TLS both ways was counted");
});

void test("curl: socks5h with the name sent to the proxy reaches the allowed name", opt, () => {
  const r = client("curl", ["-sS", "--cacert", F.cert, "-x", `socks5h://${PROXY}:1080`, "https://allowed.test/"]);
  assert.equal(r.out, "hello https allowed.test\n", r.err);
});

void test("curl: a denied name gets 403 with the rule and reason headers", opt, () => {
  const r = client("curl", ["-sS", "-D", "-", "-o", "/dev/null", "-x", PX, "http://evil.test/"]);
  assert.match(r.out, /^HTTP\/1\.1 403 /);
  assert.match(r.out, /X-Clawfence-Rule: no-evil/i);
  assert.match(r.out, /X-Clawfence-Reason: rule-deny/i);
  const t = client("curl", ["-sS", "--cacert", F.cert, "-x", PX, "https://evil.test/"]);
  assert.notEqual(t.status, 0);
  assert.match(t.err, /403/);
  const s = client("curl", ["-sS", "--cacert", F.cert, "-x", `socks5h://${PROXY}:1080`, "https://evil.test/"]);
  assert.notEqual(s.status, 0, "socks refuses too");
});

void test("curl: an allowed name that resolves to a metadata address is refused as special-range", opt, async () => {
  const r = client("curl", ["-sS", "-D", "-", "-o", "/dev/null", "-x", PX, "http://rebind.test/"]);
  assert.match(r.out, /^HTTP\/1\.1 403 /);
  assert.match(r.out, /X-Clawfence-Reason: special-range/i);
  const e = await eventFor((x) => x.name === "rebind.test");
  assert.equal(e.dst_ip, "169.254.169.254");
});

void test("curl: a literal address in hex is decided as that address, not as a name", opt, async () => {
  const r = client("curl", ["-sS", "-D", "-", "-o", "/dev/null", "-x", PX, "http://0x0a580202/"]);
  assert.match(r.out, /^HTTP\/1\.1 403 /);
  assert.match(r.out, /X-Clawfence-Reason: default-deny/i);
  await eventFor((x) => x.dst_ip === SERVER && x.rule === "default" && x.name === null);
});

void test("curl: CONNECT to an allowed name on a port no rule allows gets 403", opt, () => {
  const r = client("curl", ["-sS", "--cacert", F.cert, "-x", PX, "https://allowed.test:8443/"]);
  assert.notEqual(r.status, 0);
  assert.match(r.err, /403/);
});

void test("node fetch with NODE_USE_ENV_PROXY goes through the proxy", opt, () => {
  const env = { NODE_USE_ENV_PROXY: "1", HTTPS_PROXY: PX, HTTP_PROXY: PX, NODE_EXTRA_CA_CERTS: F.cert };
  const ok = client(process.execPath, ["-e", "fetch('https://allowed.test/').then(r => r.text()).then(t => process.stdout.write(t), e => { console.error(e.cause ?? e); process.exit(3); })"], env);
  assert.equal(ok.out, "hello https allowed.test\n", ok.err);
  const no = client(process.execPath, ["-e", "fetch('https://evil.test/').then(() => process.exit(0), e => { console.error(String(e.cause ?? e)); process.exit(3); })"], env);
  assert.equal(no.status, 3, "fetch to a denied name fails");
});

void test("git over https through the proxy lists and clones the repository", opt, async () => {
  const cfg = ["-c", `http.proxy=${PX}`];
  const ls = client("git", [...cfg, "ls-remote", "https://git.test/repo.git"], { GIT_SSL_CAINFO: F.cert });
  assert.equal(ls.status, 0, ls.err);
  assert.match(ls.out, /^[0-9a-f]{40}\trefs\/heads\/main$/m);
  const dest = join(dir, "clone");
  const cl = client("git", [...cfg, "clone", "-q", "https://git.test/repo.git", dest], { GIT_SSL_CAINFO: F.cert });
  assert.equal(cl.status, 0, cl.err);
  assert.equal(readFileSync(join(dest, "README"), "utf8"), "proxied\n");
  await eventFor((x) => x.name === "git.test" && x.verdict === "allow");
});

void test("openssl s_client: a ClientHello naming another host than the CONNECT is refused as sni-mismatch", opt, async () => {
  const bad = client("openssl", ["s_client", "-proxy", `${PROXY}:3128`, "-connect", "allowed.test:443", "-servername", "other.test", "-CAfile", F.cert], {}, "");
  assert.match(bad.out, /no peer certificate available/);
  const e = await eventFor((x) => x.reason === "sni-mismatch" && x.name === "allowed.test");
  assert.deepEqual([e.verdict, e.enforced, e.rule], ["deny", true, "web"]);
  assert.match(e.detail ?? "", /other\.test/);
  const good = client("openssl", ["s_client", "-proxy", `${PROXY}:3128`, "-connect", "allowed.test:443", "-servername", "allowed.test", "-CAfile", F.cert], {}, "");
  assert.match(good.out, /Server certificate/, good.err);
  assert.match(good.out, /Verify return code: 0 \(ok\)/, good.err);
});

void test("transparent TLS: a redirected connection goes to the SNI name's checked address, not where the client aimed", opt, async () => {
  const r = client("curl", ["-sS", "--cacert", F.cert, "--resolve", `allowed.test:443:${DECOY}`, "https://allowed.test/"]);
  assert.equal(r.out, "hello https allowed.test\n", r.err);
  const e = await eventFor((x) => x.detail === "transparent-tls" && x.name === "allowed.test");
  assert.equal(e.dst_ip, SERVER, "dialed the address the proxy resolved for the name");
  const no = client("curl", ["-sS", "--cacert", F.cert, "--resolve", `evil.test:443:${SERVER}`, "https://evil.test/"]);
  assert.notEqual(no.status, 0);
  await eventFor((x) => x.detail?.startsWith("transparent-tls") === true && x.name === "evil.test" && x.verdict === "deny");
});

void test("transparent HTTP: the Host header decides a redirected plain request", opt, () => {
  const r = client("curl", ["-sS", "--resolve", `allowed.test:80:${DECOY}`, "http://allowed.test/"]);
  assert.equal(r.out, "hello http allowed.test\n", r.err);
  const no = client("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--resolve", `evil.test:80:${SERVER}`, "http://evil.test/"]);
  assert.equal(no.out, "403");
});

void test("without the proxy the client reaches nothing (the proxy ns does not forward)", opt, () => {
  const r = client("curl", ["-sS", "--max-time", "2", `http://${SERVER}:9/`]);
  assert.notEqual(r.status, 0);
});
