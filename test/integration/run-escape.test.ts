/**
 * `clawfence run` in enforce mode against every escape class of PRODUCT.md section 7.
 *
 * One world (test/integration/world: host namespace H where clawfence runs, upstream
 * namespace U with resolvers and recording servers), ONE sandbox: the contained command is a
 * probe script (run as `nobody`) that tries every class and prints a line per attempt; while
 * it is still alive (`@@WAIT check`) the test reads the kernel's state in H (named counters of
 * the policy table, the DNS guard's sets) and sends what only root could send (raw ICMP) from
 * the sandbox's namespace. Each class is then asserted on what reached the far side: the
 * recorders' logs, the resolvers' query logs, nft counters in U — not only on the client's
 * error. Which class is tested how: docs/escape-tests.md.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ESCAPE_POLICY } from "./world/policies.ts";
import { ADDR, containedPid, createWorld, prerequisites, probeScript, py, type FarEvent, type FarMark, type Probe, type RunHandle, type RunResult, type World } from "./world/world.ts";

const skip = prerequisites();
if (skip && process.env["CI"] === "true") throw new Error(`integration prerequisites missing: ${skip}`);


/** Far-side counters in U: packets that arrived there, whatever any server made of them. */
const FAR_COUNTERS = {
  icmp_echo: "icmp type echo-request",
  udp_443: "udp dport 443",
  udp_80: "udp dport 80",
  v6_far: `ip6 daddr ${ADDR.v6}`,
  alt_resolver: `ip daddr ${ADDR.altResolver}`,
  main_direct_53: `ip daddr ${ADDR.resolver} ip saddr != ${ADDR.host} udp dport 53`,
  metadata: `ip daddr ${ADDR.metadata}`,
  internal10: `ip daddr ${ADDR.internal10}`,
  internal192: `ip daddr ${ADDR.internal192}`,
};

const HP = "${HTTP_PROXY#http://}"; // host:port of the proxy, expanded by the probe's shell
// iodine/dnscat-like: base32 payload in two labels of 28 characters under the allowed wildcard
const B32 = "abcdefghijklmnopqrstuvwxyz234567";
const b32 = (n: number): string => [...randomBytes(n)].map((b) => B32[b % 32]).join("");
const tunnelHigh: string[] = [];
const tunnelLow: string[] = [];
for (let i = 0; i < 150; i++) {
  tunnelHigh.push(`${b32(28)}.${b32(28)}.x.tunnel.test`);
  tunnelLow.push(`w${i}.tunnel.test`);
}

let w: World;
let start: FarMark;
let result: RunResult;
let rebindSets = "";
let check: {
  counters: Record<string, number>;
  table: string;
  rootIcmp: string;
  sandboxV6: string;
} | null = null;

function probes(world: World): { serial: Probe[]; parallel: Probe[] } {
  const p = (...args: string[]): string => py(world, ...args);
  const serial: Probe[] = [
    // changing the rules from inside, first: everything after must still be blocked
    { id: "inside-uid", cmd: "id -u" },
    { id: "inside-caps", cmd: "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status" },
    { id: "inside-nft-flush", cmd: "nft flush ruleset" },
    { id: "inside-userns-nft-flush", cmd: "unshare -rn true && unshare -r nft flush ruleset" },
    { id: "inside-link-down", cmd: "ip link set eth0 down" },
    { id: "inside-route-del", cmd: "ip route del default" },
    { id: "inside-v6-on", cmd: "echo 0 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6" },
    { id: "inside-setuid", cmd: "su -c id root </dev/null" },
    // DNS tunnelling through the allowed resolver: hundreds of names under an allowed wildcard
    { id: "tunnel-high", cmd: `dig -f ${world.dir}/tunnel-high.txt +tries=1 +time=2 +noall +comments | grep -c 'status: REFUSED'` },
    { id: "tunnel-low", cmd: `dig -f ${world.dir}/tunnel-low.txt +tries=1 +time=2 +noall +comments | grep -o 'status: [A-Z]*' | sort | uniq -c | tr '\\n' ' '` },
    { id: "tunnel-null", cmd: "dig +tries=1 +time=2 NULL data.x.tunnel.test | grep -o 'status: [A-Z]*'" },
    { id: "tunnel-long", cmd: `dig +tries=1 +time=2 ${"a".repeat(38)}.${"b".repeat(38)}.${"c".repeat(20)}.tunnel.test | grep -o 'status: [A-Z]*'` },
    // DNS rebinding: resolve, then the test reads the guard's sets while the answers are fresh
    { id: "rebind-lo-dns", cmd: "dig +short +tries=1 +time=3 allowed.test >/dev/null; dig +short +tries=1 +time=3 lo.rebind.test; echo end" },
    { id: "rebind-md-dns", cmd: "dig +short +tries=1 +time=3 md.rebind.test; echo end" },
    { id: "rebind-priv-dns", cmd: "dig +short +tries=1 +time=3 priv.rebind.test; echo end" },
    { id: "rebind-mapped-dns", cmd: "dig +short +tries=1 +time=3 AAAA mapped.rebind.test; echo end", waitAfter: "rebind" },
  ];
  const parallel: Probe[] = [
    // positive controls: the world works, so a failure below is the firewall's doing
    { id: "ctl-proxy", cmd: "curl -sS -m 8 http://allowed.test/p-ctl-proxy" },
    { id: "ctl-noproxy", cmd: "curl -sS -m 8 --noproxy '*' http://allowed.test/p-ctl-noproxy" },
    { id: "ctl-tls-transparent", cmd: "curl -sSk -m 8 --noproxy '*' https://allowed.test/p-ctl-tls" },
    { id: "ctl-connect", cmd: "curl -sSk -m 8 https://allowed.test/p-ctl-connect" },
    { id: "ctl-node", cmd: `${process.execPath} -e 'console.log(process.version)'` },
    // direct IP to unlisted destinations
    { id: "direct-ip-8080", cmd: p("tcp", ADDR.blocked, "8080", "/p-direct-ip") },
    { id: "direct-ip-80", cmd: "curl -sS -m 8 --noproxy '*' http://198.51.100.11/p-direct-80" },
    { id: "direct-ip-443", cmd: "curl -sSk -m 8 --noproxy '*' https://198.51.100.11/p-direct-443" },
    // an allowed IP on another port or protocol
    { id: "allowed-ip-8080", cmd: `dig +short allowed.test >/dev/null; ${p("tcp", ADDR.allowed, "8080", "/p-other-port")}` },
    { id: "allowed-ip-udp80", cmd: `dig +short allowed.test >/dev/null; ${p("udp", ADDR.allowed, "80")}` },
    { id: "allowed-ip-icmp", cmd: `dig +short allowed.test >/dev/null; ${p("icmp", ADDR.allowed)}` },
    // UDP / QUIC
    { id: "quic-allowed", cmd: p("udp", ADDR.allowed, "443") },
    { id: "quic-blocked", cmd: p("udp", ADDR.blocked, "443") },
    // ICMP (as the contained user; root's raw socket is sent from outside at @@WAIT)
    { id: "icmp-blocked", cmd: p("icmp", ADDR.blocked) },
    // IPv6
    { id: "v6-tcp", cmd: p("tcp", ADDR.v6, "80") },
    { id: "v6-curl", cmd: `curl -sS -m 8 -6 --noproxy '*' http://[${ADDR.v6}]/p-v6` },
    { id: "v6-name", cmd: "curl -sS -m 8 --noproxy '*' http://v6.test/p-v6-name" },
    { id: "v6-state", cmd: "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; ip -6 addr show scope global | grep -c inet6" },
    // other resolvers: UDP/TCP 53, DoT 853, DoH; and the allowed resolver directly (past the guard)
    { id: "resolver-udp", cmd: `dig @${ADDR.altResolver} +tries=1 +time=3 exfil-udp.test` },
    { id: "resolver-tcp", cmd: `dig @${ADDR.altResolver} +tcp +tries=1 +time=3 exfil-tcp.test` },
    { id: "resolver-dot", cmd: `kdig @${ADDR.altResolver} +tls +timeout=3 +retry=0 exfil-dot.test` },
    { id: "dns-unlisted", cmd: "dig +tries=1 +time=3 exfil-unlisted.test | grep -o 'status: [A-Z]*'" },
    { id: "resolver-main-direct", cmd: `dig @${ADDR.resolver} +tries=1 +time=3 exfil-main.test` },
    { id: "doh-name", cmd: "curl -sS -m 8 --noproxy '*' --doh-url https://doh.test/dns-query http://exfil-doh1.test/" },
    { id: "doh-name-noproxy", cmd: "env -u HTTPS_PROXY -u https_proxy -u ALL_PROXY -u all_proxy curl -sS -m 8 --noproxy '*' --doh-url https://doh.test/dns-query http://exfil-doh3.test/" },
    { id: "doh-ip-transparent", cmd: `curl -sSk -m 8 --noproxy '*' --doh-url https://${ADDR.doh}/dns-query http://exfil-doh2.test/` },
    { id: "doh-ip-connect", cmd: p("connect", `${ADDR.doh}:443`, "doh.test") },
    // DNS rebinding of allowed names to loopback, metadata, private ranges
    { id: "rebind-lo-noproxy", cmd: "curl -sS -m 8 --noproxy '*' http://lo.rebind.test/p-rb-lo" },
    { id: "rebind-md-noproxy", cmd: "curl -sS -m 8 --noproxy '*' http://md.rebind.test/p-rb-md" },
    { id: "rebind-md-proxy", cmd: "curl -sS -m 8 -o /dev/null -w '%{http_code}' http://md.rebind.test/p-rb-md-proxy" },
    { id: "rebind-priv-proxy", cmd: "curl -sS -m 8 -o /dev/null -w '%{http_code}' http://priv.rebind.test/p-rb-priv-proxy" },
    { id: "rebind-lo-proxy", cmd: "curl -sS -m 8 -o /dev/null -w '%{http_code}' http://lo.rebind.test/p-rb-lo-proxy" },
    { id: "rebind-lo-socks", cmd: p("socks", "lo.rebind.test", "80", "/p-rb-lo-socks") },
    // proxy requests to special-purpose addresses in any notation
    ...[
      ["decimal", "http://2130706433/p-n-decimal", "2130706433"],
      ["hex-short", "http://0x7f.1/p-n-hex-short", "0x7f.1"],
      ["short", "http://127.1/p-n-short", "127.1"],
      ["mapped", "http://[::ffff:127.0.0.1]/p-n-mapped", "[::ffff:127.0.0.1]"],
      ["metadata", "http://169.254.169.254/p-n-metadata", "169.254.169.254"],
      ["metadata-octal", "http://0251.0376.0251.0376/p-n-md-octal", "0251.0376.0251.0376"],
      ["metadata-hex", "http://0xa9fea9fe/p-n-md-hex", "0xa9fea9fe"],
      ["metadata-mapped", "http://[::ffff:a9fe:a9fe]/p-n-md-mapped", "[::ffff:a9fe:a9fe]"],
      ["internal", "http://10.9.0.5/p-n-internal", "10.9.0.5"],
      ["host-side", "http://198.51.100.1:9911/p-n-host", "198.51.100.1:9911"],
    ].map(([id, target, host]) => ({ id: `notation-http-${id ?? ""}`, cmd: p("http", target ?? "", host ?? "") })),
    { id: "notation-curl-decimal", cmd: "curl -sS -m 8 -o /dev/null -w '%{http_code}' http://2130706433/p-n-curl" },
    { id: "notation-connect-decimal", cmd: p("connect", "2130706433:80") },
    { id: "notation-connect-mapped", cmd: p("connect", "[::ffff:127.0.0.1]:80") },
    { id: "notation-connect-metadata", cmd: p("connect", "169.254.169.254:80") },
    { id: "notation-socks-lo", cmd: p("socks", "127.0.0.1", "80", "/p-n-socks-lo") },
    { id: "notation-socks-metadata", cmd: p("socks", "169.254.169.254", "80", "/p-n-socks-md") },
    { id: "notation-socks-hexname", cmd: p("socks", "0x7f.1", "80", "/p-n-socks-hex") },
    { id: "notation-socks-decimalname", cmd: p("socks", "2852039166", "80", "/p-n-socks-dec") },
    { id: "notation-socks-curl", cmd: "curl -sS -m 8 -o /dev/null -w '%{http_code}' --socks5 \"${ALL_PROXY#socks5h://}\" http://169.254.169.254/p-n-socks-curl" },
    // CONNECT to unlisted hosts or ports
    { id: "connect-name", cmd: p("connect", "blocked.test:443", "blocked.test") },
    { id: "connect-port", cmd: p("connect", "allowed.test:8080") },
    { id: "connect-ip", cmd: p("connect", `${ADDR.blocked}:443`, "blocked.test") },
    { id: "connect-curl", cmd: "curl -sSk -m 8 -p https://blocked.test/p-connect-curl" },
    // a TLS SNI that differs from the CONNECT host
    { id: "sni-openssl", cmd: `echo | openssl s_client -proxy ${HP} -connect allowed.test:443 -servername other.test 2>&1 | grep -E 'CONNECTED|alert|errno|Cipher is' | head -3` },
    { id: "sni-python", cmd: p("connect", "allowed.test:443", "other.test") },
    { id: "sni-none", cmd: `echo | openssl s_client -proxy ${HP} -connect allowed.test:443 -noservername 2>&1 | grep -E 'alert|errno|Cipher is' | head -2` },
    { id: "sni-transparent", cmd: `curl -sSk -m 8 --noproxy '*' --resolve other.test:443:${ADDR.allowed} https://other.test/p-sni-transparent` },
    // services on the host side of the sandbox
    { id: "host-hostaddr-tcp", cmd: p("tcp", "HOSTADDR", "9911") },
    { id: "host-hostaddr-udp", cmd: p("udp", "HOSTADDR", "9911") },
    { id: "host-other-tcp", cmd: p("tcp", ADDR.host, "9911") },
    { id: "host-other-udp", cmd: p("udp", ADDR.host, "9911") },
    { id: "host-transparent-port", cmd: p("tcp", "HOSTADDR", "15080") },
    // internal ranges not in `internal` (even the `any` rule's port)
    { id: "internal-10", cmd: p("tcp", ADDR.internal10, "80", "/p-int-10") },
    { id: "internal-10-8443", cmd: p("tcp", ADDR.internal10, "8443") },
    { id: "internal-192", cmd: p("tcp", ADDR.internal192, "80", "/p-int-192") },
    { id: "internal-metadata-8443", cmd: p("tcp", ADDR.metadata, "8443") },
    { id: "internal-10-noproxy", cmd: "curl -sS -m 8 --noproxy '*' http://10.9.0.5/p-int-noproxy" },
    // ignoring the proxy variables
    { id: "noproxy-ip", cmd: "curl -sS -m 8 --noproxy '*' http://198.51.100.11:8080/p-noproxy-ip" },
    { id: "noproxy-node", cmd: `${process.execPath} -e 'fetch("http://198.51.100.11:8080/p-noproxy-node").then(r => console.log(r.status), e => { console.log("error", e.cause?.code ?? e.message); })'` },
    { id: "noproxy-unset", cmd: "env -u HTTP_PROXY -u http_proxy curl -sS -m 8 http://blocked.test/p-noproxy-unset" },
  ];
  return { serial, parallel };
}

before(async () => {
  if (skip) return;
  w = await createWorld();
  w.addFarCounters(FAR_COUNTERS);
  writeFileSync(join(w.dir, "tunnel-high.txt"), `${tunnelHigh.join("\n")}\n`, { mode: 0o644 });
  writeFileSync(join(w.dir, "tunnel-low.txt"), `${tunnelLow.join("\n")}\n`, { mode: 0o644 });
  const script = w.writeScript("escape.sh", probeScript(w, { ...probes(w), after: ["check"] }));
  start = w.mark();
  let h: RunHandle | null = null;
  h = w.run({
    policy: ESCAPE_POLICY,
    cmd: ["sh", script],
    onWait: async (name) => {
      const rec = w.records()[0];
      if (!rec) throw new Error("no sandbox record");
      const [policyTable] = rec.tables;
      if (name === "rebind") {
        rebindSets = w.inH("nft", "list", "table", "inet", policyTable ?? "");
        return;
      }
      const pid = containedPid(h?.proc.pid ?? 0);
      if (pid === null) throw new Error("contained command not found");
      // root in the sandbox's network namespace (what the contained user cannot do): raw ICMP
      const inSandbox = (...args: string[]): string => spawnSync("nsenter", ["-t", String(pid), "-n", ...args], { encoding: "utf8" }).stdout.trim();
      const rootIcmp = inSandbox("/usr/bin/python3", join(w.dir, "probe.py"), "icmp", ADDR.blocked);
      const rootIcmpAllowed = inSandbox("/usr/bin/python3", join(w.dir, "probe.py"), "icmp", ADDR.allowed);
      check = {
        counters: w.hCounters(policyTable ?? ""),
        table: w.inH("nft", "list", "ruleset"),
        rootIcmp: `${rootIcmp} / ${rootIcmpAllowed}`,
        sandboxV6: inSandbox("cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"),
      };
      await Promise.resolve();
    },
    timeoutMs: 120_000,
  });
  result = await h.done;
});

after(async () => {
  // CF_TEST_DUMP=FILE keeps what the run saw, for reading a failure
  const dump = process.env["CF_TEST_DUMP"];
  if (dump && w) writeFileSync(dump, JSON.stringify({ probes: Object.fromEntries(result?.probes ?? []), stderr: result?.stderr, far: w.far(start), main: w.queries("main", start), alt: w.queries("alt", start), check }, null, 1));
  await w?.close();
});

const probe = (id: string): string => {
  const r = result.probes.get(id);
  assert.ok(r, `probe ${id} printed no result; stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return r.out;
};
/** far-side events at `local` (address:port) */
const at = (local: string): FarEvent[] => w.far(start).filter((e) => e.local === local);
const paths = (): string[] => w.far(start).flatMap((e) => (e.ev === "data" && e.first ? [e.first] : []));
const reached = (path: string): boolean => paths().some((l) => l.includes(` ${path} `) || l.includes(`${path} HTTP`));

const opts = { skip };

void test("the sandbox ran the probe script to the end and exited 0", opts, () => {
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /@@DONE/);
  assert.ok(check, `the @@WAIT check did not run: ${result.stderr}`);
});

void test("positive controls reach the far side: allowed.test through the proxy, transparently, over CONNECT and TLS", opts, () => {
  for (const path of ["/p-ctl-proxy", "/p-ctl-noproxy", "/p-ctl-tls", "/p-ctl-connect"]) assert.ok(reached(path), `${path} did not reach allowed.test: ${JSON.stringify(paths())}`);
  assert.equal(probe("ctl-node"), process.version, "the contained user can run the project's node");
});

void test("changing the rules from inside fails: no root, no capabilities, no_new_privs, and the tables in H are intact", opts, () => {
  assert.equal(probe("inside-uid"), "65534");
  const caps = probe("inside-caps");
  for (const f of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) assert.match(caps, new RegExp(`${f}:\\s+0{16}`), caps);
  assert.match(caps, /NoNewPrivs:\s+1/);
  for (const id of ["inside-nft-flush", "inside-userns-nft-flush", "inside-link-down", "inside-route-del", "inside-v6-on", "inside-setuid"]) {
    assert.notEqual(result.probes.get(id)?.rc, 0, `${id} succeeded: ${probe(id)}`);
  }
  assert.ok(check);
  assert.match(check.table, /table inet cfp_[0-9a-f]+ \{/);
  assert.match(check.table, /table inet cfh_[0-9a-f]+ \{/);
  assert.match(check.table, /counter name "default" log .* jump deny/);
  assert.equal(check.sandboxV6, "1", "IPv6 still off inside");
});

void test("direct IP to unlisted destinations reaches nothing (kernel for other ports, transparent proxy for 80/443)", opts, () => {
  assert.match(probe("direct-ip-8080"), /^error/);
  assert.ok(!reached("/p-direct-80") && !reached("/p-direct-443"));
  assert.deepEqual(at(`${ADDR.blocked}:8080`).filter((e) => e.ev === "accept" && !pathOf(e)), [], "nothing accepted at blocked:8080");
  assert.deepEqual(at(`${ADDR.blocked}:8080`), []);
  assert.deepEqual(at(`${ADDR.blocked}:80`), []);
  assert.ok(!at(`${ADDR.blocked}:443`).some((e) => e.ev === "hello" || e.ev === "data"));
  assert.ok(check && (check.counters["default"] ?? 0) > 0, "the policy table's default counter saw the drops");
});

void test("an allowed IP on another port or protocol reaches nothing", opts, () => {
  assert.match(probe("allowed-ip-8080"), /^error/);
  assert.deepEqual(at(`${ADDR.allowed}:8080`), []);
  assert.match(probe("allowed-ip-udp80"), /noreply|error/);
  assert.deepEqual(at(`${ADDR.allowed}:80`).filter((e) => e.ev === "udp"), []);
  assert.equal(w.farCounters()["udp_80"], 0);
});

void test("UDP and QUIC (udp 443) reach nothing, to an allowed or an unlisted address", opts, () => {
  assert.match(probe("quic-allowed"), /noreply|error/);
  assert.match(probe("quic-blocked"), /noreply|error/);
  assert.equal(w.far(start).filter((e) => e.ev === "udp").length, 0);
  assert.equal(w.farCounters()["udp_443"], 0);
});

void test("ICMP: the contained user cannot open an ICMP socket, and root's raw echo from the sandbox namespace is dropped before U", opts, () => {
  for (const id of ["icmp-blocked", "allowed-ip-icmp"]) assert.match(probe(id), /EACCES|EPERM/, probe(id));
  assert.ok(check);
  assert.doesNotMatch(check.rootIcmp, /reply \(/, check.rootIcmp);
  assert.equal(w.farCounters()["icmp_echo"], 0);
});

void test("IPv6 is off in the sandbox and nothing arrives at the IPv6 server", opts, () => {
  assert.match(probe("v6-tcp"), /^error/);
  assert.notEqual(result.probes.get("v6-curl")?.rc, 0);
  assert.notEqual(result.probes.get("v6-name")?.rc, 0);
  assert.match(probe("v6-state"), /^1\s+0$/);
  assert.deepEqual(at(`[${ADDR.v6}]:80`), []);
  assert.equal(w.farCounters()["v6_far"], 0);
});

void test("other resolvers over UDP/TCP 53, DoT 853 and DoH, and the allowed resolver past the guard, hear nothing", opts, () => {
  for (const id of ["resolver-udp", "resolver-tcp", "resolver-main-direct"]) assert.doesNotMatch(probe(id), /status: NOERROR/, `${id}: ${probe(id)}`);
  assert.notEqual(result.probes.get("resolver-dot")?.rc, 0, probe("resolver-dot"));
  assert.deepEqual(w.queries("alt", start), [], "the second resolver's query log");
  assert.equal(w.farCounters()["alt_resolver"], 0);
  assert.equal(probe("dns-unlisted"), "status: REFUSED", "the guard answers only names an allow rule can reach");
  assert.ok(!w.queries("main", start).some((n) => n.startsWith("exfil-")), `exfil names reached the main resolver: ${w.queries("main", start).join(" ")}`);
  assert.equal(w.farCounters()["main_direct_53"], 0);
  assert.deepEqual(at(`${ADDR.altResolver}:853`), []);
  for (const id of ["doh-name", "doh-name-noproxy", "doh-ip-transparent"]) assert.notEqual(result.probes.get(id)?.rc, 0, `${id}: ${probe(id)}`);
  assert.match(probe("doh-ip-connect"), /403/);
  assert.deepEqual(at(`${ADDR.doh}:443`), []);
  assert.ok(check && (check.counters["dns"] ?? 0) > 0, "the policy table's dns counter saw the attempts");
});

void test("DNS tunnelling through the allowed resolver: high-entropy names never reach U, distinct short names stop at the per-domain budget", opts, () => {
  const main = w.queries("main", start);
  const high = new Set(tunnelHigh);
  assert.equal(main.filter((n) => high.has(n)).length, 0, "high-entropy names reached U");
  assert.equal(probe("tunnel-high"), String(tunnelHigh.length), "every high-entropy name was REFUSED");
  const low = new Set(tunnelLow);
  const lowReached = new Set(main.filter((n) => low.has(n)));
  assert.ok(lowReached.size <= 100, `${lowReached.size} distinct names reached U (budget 100)`);
  assert.match(probe("tunnel-low"), /REFUSED/, probe("tunnel-low"));
  assert.match(probe("tunnel-null"), /REFUSED/);
  assert.match(probe("tunnel-long"), /REFUSED/);
  assert.ok(!main.some((n) => n === "data.x.tunnel.test" || n.startsWith("aaaaaaaa")));
});

void test("DNS rebinding of allowed names to loopback, metadata and private ranges: addresses stripped, never programmed, nothing connects", opts, () => {
  for (const id of ["rebind-lo-dns", "rebind-md-dns", "rebind-priv-dns", "rebind-mapped-dns"]) assert.equal(probe(id), "end", `${id} answered addresses: ${probe(id)}`);
  for (const id of ["rebind-lo-noproxy", "rebind-md-noproxy"]) assert.notEqual(result.probes.get(id)?.rc, 0, `${id}: ${probe(id)}`);
  for (const id of ["rebind-md-proxy", "rebind-priv-proxy", "rebind-lo-proxy"]) assert.doesNotMatch(probe(id), /^2/, `${id}: ${probe(id)}`);
  assert.doesNotMatch(probe("rebind-lo-socks"), /rep 0/);
  // the sets the DNS guard fills (d<rule>_4/_6); the static special-range sets of the any rule are not its doing
  const guardSets = [...rebindSets.matchAll(/set d\d+_[46] \{[^}]*\}/g)].map((m) => m[0]).join("\n");
  assert.match(guardSets, /198\.51\.100\.10 \. tcp \. 80/, "the guard's set holds allowed.test");
  assert.doesNotMatch(guardSets, /127\.0\.0\.1|169\.254\.169\.254|10\.9\.0\.5|::ffff/, "the guard programmed a rebound address");
  assert.deepEqual(at("127.0.0.1:80"), []);
  assert.deepEqual(at(`${ADDR.metadata}:80`), []);
  assert.deepEqual(at(`${ADDR.internal10}:80`), []);
});

void test("proxy requests to special-purpose addresses in any notation are refused and reach nothing (HTTP, CONNECT, SOCKS5)", opts, () => {
  const ids = [...result.probes.keys()].filter((k) => k.startsWith("notation-"));
  assert.ok(ids.length >= 18);
  for (const id of ids) {
    const out = probe(id);
    if (id.startsWith("notation-socks")) assert.doesNotMatch(out, /rep 0|^200/, `${id}: ${out}`);
    else assert.doesNotMatch(out, /^(HTTP\/1\.1 )?2\d\d/, `${id}: ${out}`);
  }
  assert.deepEqual(at("127.0.0.1:80"), [], "H's loopback server");
  assert.deepEqual(at(`${ADDR.metadata}:80`), [], "the metadata server");
  assert.deepEqual(at(`${ADDR.internal10}:80`), []);
  assert.deepEqual(at("198.51.100.1:9911"), []);
  assert.equal(w.farCounters()["metadata"], 0);
});

void test("CONNECT to unlisted hosts or ports is refused and nothing is dialled", opts, () => {
  for (const id of ["connect-name", "connect-port", "connect-ip"]) assert.match(probe(id), /403/, `${id}: ${probe(id)}`);
  assert.notEqual(result.probes.get("connect-curl")?.rc, 0);
  assert.deepEqual(at(`${ADDR.blocked}:443`), []);
  assert.deepEqual(at(`${ADDR.allowed}:8080`), []);
});

void test("a TLS SNI that differs from the CONNECT host never reaches the server's handshake", opts, () => {
  assert.doesNotMatch(probe("sni-openssl"), /Cipher is (?!\(NONE\))/, probe("sni-openssl"));
  assert.match(probe("sni-openssl"), /alert access denied/);
  assert.doesNotMatch(probe("sni-python"), /tls ok/, probe("sni-python"));
  assert.doesNotMatch(probe("sni-none"), /Cipher is (?!\(NONE\))/, probe("sni-none"));
  assert.notEqual(result.probes.get("sni-transparent")?.rc, 0);
  const hellos = w.far(start).filter((e) => e.ev === "hello");
  assert.deepEqual(hellos.filter((e) => e.sni !== "allowed.test"), [], "a ClientHello naming another host reached a server");
  assert.ok(!reached("/p-sni") && !reached("/p-sni-transparent"));
  assert.ok(!at(`${ADDR.allowed}:443`).some((e) => e.ev === "data" && e.first?.includes("p-sni")));
});

void test("services on the host side (host-side address, H's other address, the transparent ports) are unreachable", opts, () => {
  for (const id of ["host-hostaddr-tcp", "host-other-tcp", "host-transparent-port"]) assert.match(probe(id), /^error/, `${id}: ${probe(id)}`);
  for (const id of ["host-hostaddr-udp", "host-other-udp"]) assert.match(probe(id), /noreply|error/);
  assert.deepEqual(
    w.far(start).filter((e) => e.local.endsWith(":9911")),
    [],
    "H's server on 0.0.0.0:9911 saw a connection or datagram",
  );
});

void test("internal ranges not listed under internal are unreachable (with an any rule: run-lifecycle.test.ts)", opts, () => {
  // port 80 is redirected to the transparent proxy: the TCP connect succeeds (to the proxy), the request gets 403
  for (const id of ["internal-10", "internal-192"]) assert.match(probe(id), /^connected HTTP\/1\.1 403|^error/, `${id}: ${probe(id)}`);
  for (const id of ["internal-10-8443", "internal-metadata-8443"]) assert.match(probe(id), /^error/, `${id}: ${probe(id)}`);
  assert.match(probe("internal-10-noproxy"), /denied by rule 'default' \(special-range\)/);
  assert.deepEqual(
    w.far(start).filter((e) => [ADDR.internal10, ADDR.internal192, ADDR.metadata].some((a) => e.local.startsWith(`${a}:`))),
    [],
  );
  assert.equal(w.farCounters()["internal10"], 0);
  assert.equal(w.farCounters()["internal192"], 0);
});

void test("ignoring the proxy variables: unlisted destinations stay unreachable, allowed names still work", opts, () => {
  assert.notEqual(result.probes.get("noproxy-ip")?.rc, 0);
  assert.match(probe("noproxy-node"), /^error/);
  assert.notEqual(result.probes.get("noproxy-unset")?.rc, 0);
  assert.ok(!reached("/p-noproxy-ip") && !reached("/p-noproxy-node") && !reached("/p-noproxy-unset"));
  assert.ok(reached("/p-ctl-noproxy"));
});

void test("denials are reported on stderr with rule and reason", opts, () => {
  const lines = result.stderr.split("\n").filter((l) => l.startsWith("clawfence: deny "));
  assert.ok(lines.length > 10, result.stderr.slice(0, 2000));
  for (const l of lines) assert.match(l, / rule=\S+ reason=[a-z-]+/);
  // kernel drops come from NFLOG (packet/...), the rest from the guard (dns/...) and the proxy (proxy/...)
  for (const re of [/clawfence: deny packet\/tcp 198\.51\.100\.11:8080 /, /clawfence: deny packet\/udp 198\.51\.100\.11:443 /, /rule=host-side/, /clawfence: deny dns\/udp doh\.test /, /clawfence: deny proxy\/tcp doh\.test port 443 /, /reason=dns-exfiltration/, /reason=special-range/, /reason=sni-mismatch/]) {
    assert.ok(lines.some((l) => re.test(l)), `no deny line matches ${String(re)}`);
  }
});

function pathOf(e: FarEvent): string | null {
  return e.first?.split(" ")[1] ?? null;
}
