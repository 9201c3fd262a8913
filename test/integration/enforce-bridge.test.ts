/**
 * `clawfence enforce --on bridge:NAME` (seed 002): containers on a bridge, filtered on the
 * forward path, with the DNS guard on the bridge's address.
 *
 * World (world/world.ts): H stands for the host (clawfence enforce runs in it and creates the
 * bridge: a plain Linux bridge, since no Docker engine runs here), U for the network
 * (resolvers at .2/.3, recording servers, packet counters on its input path). A "container" is
 * a namespace with a veth into the bridge; its resolv.conf names the *other* resolver (.3) and
 * it has an IPv6 address and route, as an unprepared container would: containers need no change.
 * Every escape class is judged by what reached U (recorder log, query logs, counters), not only
 * by the client's error. Then: 20 SIGHUP reloads while a prober hammers a denied destination
 * (U's counter for it must stay 0), a refused reload, `allow`, `status`, a restart with an
 * established connection, and `remove`.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADDR, createWorld, prerequisites, type World } from "./world/world.ts";
import { createContainer, echoServer, hCounters, record, reload, sh, startEnforce, waitFor, type Container, type Daemon } from "./enforce-harness.ts";

const skip = prerequisites();
if (skip && process.env["CI"] === "true") throw new Error(`integration prerequisites missing: ${skip}`);

const POLICY = `version: 1
name: bridge-agents
# containers on the bridge reach only what is listed here
internal: [198.51.100.0/24]
dns: { upstreams: [198.51.100.2], min_ttl: 60 }
rules:
  - name: web
    allow: [allowed.test, "*.tunnel.test", "*.rebind.test"]   # the agent's web
    ports: [80, 443]
    protocol: tcp
  - name: echo
    allow: [ttl.test]
    ports: [9000]
    protocol: tcp
default: deny
`;

const FAR = {
  icmp_echo: "icmp type echo-request",
  udp_443: "udp dport 443",
  v6_far: `ip6 daddr ${ADDR.v6}`,
  alt_resolver: `ip daddr ${ADDR.altResolver}`,
  metadata: `ip daddr ${ADDR.metadata}`,
  internal10: `ip daddr ${ADDR.internal10}`,
  denied_tcp: `ip daddr ${ADDR.blocked} tcp dport 8443`,
  denied_udp: `ip daddr ${ADDR.blocked} udp dport 8443`,
};

const hex = randomBytes(3).toString("hex");
const BR = `cfbr${hex}`;
const ID = `bridge-${BR}`;
const octet = 10 + Math.floor(Math.random() * 200);
const GW = `100.126.${octet}.1`;
let w: World;
let policyFile: string;
let d: Daemon;
let c: Container;

const probe = (...args: string[]): string => c.run(`/usr/bin/python3 ${w.dir}/probe.py ${args.map((a) => `'${a}'`).join(" ")}`).stdout.trim();
const dig = (args: string): string => c.run(`dig +tries=1 +time=3 ${args}`).stdout;

before(async () => {
  if (skip) return;
  w = await createWorld();
  w.addFarCounters(FAR);
  policyFile = join(w.dir, "bridge-policy.yaml");
  writeFileSync(policyFile, POLICY);
  d = startEnforce(w, ["--policy", policyFile, "--on", `bridge:${BR}`, "--bridge-driver", "linux", "--bridge-cidr", `${GW}/24`, "--flows", join(w.dir, "flows.db")]);
  await d.ready;
  c = createContainer(w, BR, `100.126.${octet}.10`, GW, ADDR.altResolver);
});

after(async () => {
  if (skip) return;
  await d?.stop("SIGKILL");
  c?.close();
  await w?.close();
});

void test("the enforcer creates the bridge with IPv6 off and loads its table", { skip }, () => {
  assert.equal(sh("ip", ["-n", w.H, "link", "show", "dev", BR]).status, 0);
  assert.equal(w.inH("cat", `/proc/sys/net/ipv6/conf/${BR}/disable_ipv6`).trim(), "1");
  assert.match(w.inH("nft", "list", "table", "inet", `cfe_br_${BR}`), new RegExp(`iifname "${BR}" jump egress`));
  assert.equal(record(w, ID)?.pid, d.proc.pid);
});

void test("a container resolves through the guard whatever resolver it names, and reaches allowed names", { skip }, () => {
  const mark = w.mark();
  assert.equal(dig("+short allowed.test").trim(), ADDR.allowed);
  assert.deepEqual(w.queries("alt", mark), [], "the resolver the container named never saw the query");
  assert.ok(w.queries("main", mark).includes("allowed.test"), "the guard asked the policy's upstream");
  assert.match(probe("tcp", ADDR.allowed, "80", "/"), /^connected HTTP\/1\.1 200/);
});

void test("every escape class of PRODUCT.md section 7 that applies to a bridge fails", { skip }, () => {
  const mark = w.mark();
  const before0 = w.farCounters();
  const results: Record<string, string> = {
    "direct IP to an unlisted destination": probe("tcp", ADDR.blocked, "80"),
    "an allowed IP on another port": probe("tcp", ADDR.allowed, "8080"),
    "UDP / QUIC to an allowed IP": probe("udp", ADDR.allowed, "443"),
    ICMP: probe("icmp", ADDR.allowed),
    IPv6: probe("tcp", ADDR.v6, "80"),
    "DoT to another resolver": probe("tcp", ADDR.altResolver, "853"),
    "internal ranges": probe("tcp", ADDR.internal10, "80"),
    "metadata by address": probe("tcp", ADDR.metadata, "80"),
    "services on the host side (its uplink address)": probe("tcp", ADDR.host, "9911"),
    "services on the host side (the bridge address)": probe("tcp", GW, "9911"),
  };
  for (const [what, out] of Object.entries(results)) assert.doesNotMatch(out, /^(connected|reply)/, `${what}: ${out}`);
  // DNS: a denied name is refused by the guard and never reaches any resolver
  assert.match(dig("@198.51.100.3 +tcp blocked.test"), /status: REFUSED/);
  // iodine-like: a 48-character data label under the allowed wildcard (label length > 40)
  const tunnel = `${randomBytes(24).toString("hex")}.${randomBytes(12).toString("hex")}.x.tunnel.test`;
  assert.match(dig(tunnel), /status: REFUSED/);
  // rebinding of an allowed name to metadata: the address is removed, and unreachable anyway
  assert.equal(dig("+short md.rebind.test").trim(), "");
  const after0 = w.farCounters();
  for (const k of ["icmp_echo", "udp_443", "v6_far", "alt_resolver", "metadata", "internal10"]) assert.equal(after0[k], before0[k], `far counter ${k}`);
  for (const local of [`${ADDR.blocked}:80`, `${ADDR.allowed}:8080`, `${ADDR.altResolver}:853`, `${ADDR.internal10}:80`, `${ADDR.metadata}:80`, "0.0.0.0:9911"]) {
    assert.ok(!w.far(mark).some((e) => e.ev === "accept" && (e.local === local || (local === "0.0.0.0:9911" && e.local.endsWith(":9911")))), `nothing reached ${local}`);
  }
  const queried = [...w.queries("main", mark), ...w.queries("alt", mark)];
  for (const n of ["blocked.test", tunnel]) assert.ok(!queried.includes(n), `${n} reached a resolver`);
  const hc = hCounters(w, `cfe_br_${BR}`);
  assert.ok((hc["host_side"] ?? 0) > 0, "the host-side frame counted the attempts on the host");
  assert.ok((hc["dns_redirect"] ?? 0) > 0, "DNS to another resolver was redirected to the guard");
});

void test("changing the rules from inside a container changes nothing on the host", { skip }, () => {
  c.run("nft flush ruleset; iptables -F; iptables -P OUTPUT ACCEPT");
  assert.doesNotMatch(probe("tcp", ADDR.blocked, "80"), /^connected/);
  assert.match(w.inH("nft", "list", "table", "inet", `cfe_br_${BR}`), /jump egress/);
});

void test("20 SIGHUP reloads under traffic: a denied destination is never reached, allowed names stay open", { skip }, async () => {
  assert.equal(dig("+short allowed.test").trim(), ADDR.allowed);
  const stopFile = join(w.dir, `stop-${hex}`);
  const prober = c.spawn(
    `/usr/bin/python3 -c '
import socket, os, time
n = 0
end = time.time() + 120
while not os.path.exists("${stopFile}") and time.time() < end:
    s = socket.socket(); s.setblocking(False)
    try: s.connect(("${ADDR.blocked}", 8443))
    except OSError: pass
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try: u.sendto(b"x", ("${ADDR.blocked}", 8443))
    except OSError: pass
    time.sleep(0.002); s.close(); u.close(); n += 1
print(n)
'`,
  );
  let probes = "";
  prober.stdout?.on("data", (x: string) => (probes += x));
  const extra = `  - name: extra
    allow: [doh.test]
    ports: [443]
    protocol: tcp
default: deny
`;
  const before0 = w.farCounters();
  const hashes = new Set<string>();
  for (let i = 0; i < 20; i++) {
    writeFileSync(policyFile, i % 2 === 0 ? POLICY.replace("default: deny\n", extra) : POLICY);
    const r = await reload(w, d, ID);
    assert.ok(r.ok, `reload ${i}: ${r.error ?? ""}`);
    hashes.add(record(w, ID)?.hash ?? "");
  }
  writeFileSync(stopFile, "");
  await new Promise((r) => prober.once("exit", r));
  const after0 = w.farCounters();
  assert.ok(Number(probes.trim()) > 100, `the prober hammered (${probes.trim()} attempts)`);
  assert.equal(after0["denied_tcp"], before0["denied_tcp"], "no denied TCP packet reached the far side during reloads");
  assert.equal(after0["denied_udp"], before0["denied_udp"], "no denied UDP packet reached the far side during reloads");
  assert.equal(hashes.size, 2, "the reloads alternated between two policies");
  assert.ok((record(w, ID)?.lastReload?.carried ?? 0) > 0, "live elements were carried into the new table");
  // allowed.test was resolved before the reloads and not since: its element was carried over
  assert.match(probe("tcp", ADDR.allowed, "80", "/"), /^connected HTTP\/1\.1 200/);
});

void test("a policy with errors is refused on reload and the running one stays", { skip }, async () => {
  const hash = record(w, ID)?.hash;
  writeFileSync(policyFile, POLICY.replace("protocol: tcp", "protocol: sctp"));
  const r = await reload(w, d, ID);
  assert.equal(r.ok, false);
  assert.equal(record(w, ID)?.hash, hash);
  assert.doesNotMatch(probe("tcp", ADDR.blocked, "80"), /^connected/);
  assert.match(d.err(), /reload refused/);
  writeFileSync(policyFile, POLICY);
  assert.ok((await reload(w, d, ID)).ok);
});

void test("allow adds a host to the policy file, keeps its comments, and reloads the enforcer", { skip }, () => {
  const r = w.cli(["allow", "other.test:8080", "--policy", policyFile, "--comment", "partner API"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /reloaded the enforcer on bridge:/);
  const text = readFileSync(policyFile, "utf8");
  assert.ok(text.startsWith("version: 1\nname: bridge-agents\n# containers on the bridge reach only what is listed here\n"), text);
  assert.match(text, /# the agent's web/);
  assert.match(text, /- name: allowed-by-cli\n\s+allow:\n\s+- other\.test # partner API\n\s+ports: \[ 8080 \]\n\s+protocol: tcp/);
  assert.equal(dig("+short other.test").trim(), ADDR.blocked);
  assert.match(probe("tcp", ADDR.blocked, "8080"), /^connected/);
  assert.doesNotMatch(probe("tcp", ADDR.blocked, "80"), /^connected/, "only the port asked for");
});

void test("status reports the policy, counters, set sizes and a healthy resolver", { skip }, () => {
  const r = w.cli(["status", "--json", "--on", `bridge:${BR}`]);
  assert.equal(r.status, 0, r.stderr);
  const [s] = JSON.parse(r.stdout) as Array<{ running: boolean; policy: { hash: string }; counters: Record<string, { packets: number }>; sets: Record<string, number>; resolver: { ok: boolean } }>;
  assert.ok(s);
  assert.equal(s.running, true);
  assert.equal(s.resolver.ok, true);
  assert.equal(s.policy.hash, record(w, ID)?.hash);
  // counters count since the last reload (the table is replaced); allow's reload was the last
  assert.ok((s.counters["allowed-by-cli"]?.packets ?? 0) > 0, JSON.stringify(s.counters));
  assert.ok((s.sets["d0_4"] ?? 0) >= 1, JSON.stringify(s.sets));
});

void test("every decision goes to the flow store: the guard's answers and refusals, the kernel's denies", { skip }, async () => {
  const rows = (): Array<{ kind: string; name: string | null; verdict: string; rule: string; reason: string }> =>
    w
      .cli(["flows", "--db", join(w.dir, "flows.db"), "--format", "jsonl"])
      .stdout.split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { kind: string; name: string | null; verdict: string; rule: string; reason: string });
  await waitFor(() => rows().some((r) => r.kind === "packet"), "packet events in the store", 15_000).catch(() => undefined);
  const all = rows();
  assert.ok(all.some((r) => r.kind === "dns" && r.name === "allowed.test" && r.verdict === "allow" && r.rule === "web"), "an allowed answer");
  assert.ok(all.some((r) => r.kind === "dns" && r.name === "blocked.test" && r.verdict === "deny" && r.rule === "default"), "a refused name");
  const packetLog = !/no packet log/.test(d.err());
  if (packetLog) assert.ok(all.some((r) => r.kind === "packet" && r.verdict === "deny"), "a kernel deny (NFLOG via tcpdump)");
});

void test("a restart keeps established connections and the addresses the guard handed out", { skip }, async () => {
  const echo = echoServer(w, ADDR.ttl, 9000);
  await waitFor(() => String(echo.stdout?.read() ?? "").includes("ready") || sh("ip", ["netns", "exec", w.U, "ss", "-ltn"]).stdout.includes(`${ADDR.ttl}:9000`), "the echo server");
  try {
    assert.equal(dig("+short ttl.test").trim(), ADDR.ttl);
    const go = join(w.dir, `go-${hex}`);
    const client = c.spawn(
      `/usr/bin/python3 -c '
import socket, os, time
s = socket.create_connection(("${ADDR.ttl}", 9000), timeout=5)
s.sendall(b"one\\n"); print("1", s.recv(100).decode().strip(), flush=True)
while not os.path.exists("${go}"): time.sleep(0.05)
s.sendall(b"two\\n"); print("2", s.recv(100).decode().strip(), flush=True)
'`,
    );
    let out = "";
    client.stdout?.on("data", (x: string) => (out += x));
    await waitFor(() => out.includes("1 echo one"), "the first echo");
    assert.equal(await d.stop("SIGTERM"), 0);
    // stopped: the rules stay (fail closed)
    assert.match(w.inH("nft", "list", "table", "inet", `cfe_br_${BR}`), /jump egress/);
    assert.doesNotMatch(probe("tcp", ADDR.blocked, "80"), /^connected/);
    assert.equal(w.cli(["status", "--on", `bridge:${BR}`]).status, 1);
    d = startEnforce(w, ["--policy", policyFile, "--on", `bridge:${BR}`, "--bridge-driver", "linux", "--bridge-cidr", `${GW}/24`]);
    await d.ready;
    writeFileSync(go, "");
    await waitFor(() => out.includes("2 echo two"), "the second echo, after the restart");
    // a new connection to the address handed out before the restart, without asking again
    assert.match(probe("tcp", ADDR.ttl, "9000"), /^connected/);
  } finally {
    echo.kill("SIGKILL");
  }
});

void test("remove stops the enforcer and deletes its rules and state", { skip }, async () => {
  const r = w.cli(["remove", "--on", `bridge:${BR}`]);
  assert.equal(r.status, 0, r.stderr);
  await waitFor(() => d.proc.exitCode !== null || d.proc.signalCode !== null, "the enforcer to exit");
  assert.notEqual(sh("ip", ["netns", "exec", w.H, "nft", "list", "table", "inet", `cfe_br_${BR}`]).status, 0);
  assert.equal(existsSync(join(w.stateDir, "enforcers", `${ID}.json`)), false);
});
