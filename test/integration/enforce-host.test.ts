/**
 * `clawfence enforce --on host` (seed 001): the host's own egress on the output hook.
 *
 * World (world/world.ts): H stands for the agent host (clawfence enforce runs in it), U for
 * the network. First the policy selects the agent by user (`workload.host.users: [nobody]`,
 * matched with `meta skuid`): the agent's escape attempts fail and are judged by what reached
 * U, its DNS to any resolver is answered by the guard, and root's traffic is not the policy's
 * business. Then the same host in whole-host mode (no users): root is filtered too, DNS to the
 * upstreams is the guard's alone, and inbound traffic is dropped except `--allow-inbound`.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADDR, createWorld, prerequisites, type World } from "./world/world.ts";
import { asAgent, hCounters, record, sh, startEnforce, type Daemon } from "./enforce-harness.ts";

const skip = prerequisites();
if (skip && process.env["CI"] === "true") throw new Error(`integration prerequisites missing: ${skip}`);

const RULES = `internal: [198.51.100.0/24]
dns: { upstreams: [198.51.100.2], min_ttl: 60 }
rules:
  - name: web
    allow: [allowed.test, "*.tunnel.test", "*.rebind.test"]
    ports: [80, 443]
    protocol: tcp
default: deny
`;
const BY_USER = `version: 1\nname: agent-host\nworkload:\n  host: { users: [nobody] }\n${RULES}`;
const WHOLE = `version: 1\nname: agent-host\n${RULES}`;

const FAR = {
  icmp_echo: "icmp type echo-request",
  udp_443: "udp dport 443",
  v6_far: `ip6 daddr ${ADDR.v6}`,
  alt_resolver: `ip daddr ${ADDR.altResolver}`,
  metadata: `ip daddr ${ADDR.metadata}`,
  internal10: `ip daddr ${ADDR.internal10}`,
};

let w: World;
let d: Daemon;
let policyFile: string;
const asAgentOut = (cmd: string): string => asAgent(w, cmd).stdout.trim();
const agentProbe = (...args: string[]): string => asAgentOut(`/usr/bin/python3 ${w.dir}/probe.py ${args.map((a) => `'${a}'`).join(" ")}`);
const rootProbe = (...args: string[]): string => sh("ip", ["netns", "exec", w.H, "/usr/bin/python3", `${w.dir}/probe.py`, ...args]).stdout.trim();

before(async () => {
  if (skip) return;
  w = await createWorld();
  w.addFarCounters(FAR);
  w.inH("sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647"); // the agent may ping (so the ICMP probe is real)
  policyFile = join(w.dir, "host-policy.yaml");
  writeFileSync(policyFile, BY_USER);
  d = startEnforce(w, ["--policy", policyFile, "--on", "host"]);
  await d.ready;
});

after(async () => {
  if (skip) return;
  await d?.stop("SIGKILL");
  await w?.close();
});

void test("by user: the agent's DNS to any resolver is answered by the guard, and allowed names work", { skip }, () => {
  assert.deepEqual(record(w, "host")?.table, "cfe_host");
  const mark = w.mark();
  assert.equal(asAgentOut(`dig +short +tries=1 +time=3 @${ADDR.altResolver} allowed.test`), ADDR.allowed);
  assert.deepEqual(w.queries("alt", mark), [], "the resolver the agent named never saw it");
  assert.match(agentProbe("tcp", ADDR.allowed, "80", "/"), /^connected HTTP\/1\.1 200/);
});

void test("by user: the agent's escape attempts fail at the far side", { skip }, () => {
  const mark = w.mark();
  const before0 = w.farCounters();
  const results: Record<string, string> = {
    "direct IP to an unlisted destination": agentProbe("tcp", ADDR.blocked, "80"),
    "an allowed IP on another port": agentProbe("tcp", ADDR.allowed, "8080"),
    "UDP / QUIC": agentProbe("udp", ADDR.allowed, "443"),
    ICMP: agentProbe("icmp", ADDR.allowed),
    IPv6: agentProbe("tcp", ADDR.v6, "80"),
    "DoT to another resolver": agentProbe("tcp", ADDR.altResolver, "853"),
    "internal ranges": agentProbe("tcp", ADDR.internal10, "80"),
    metadata: agentProbe("tcp", ADDR.metadata, "80"),
  };
  for (const [what, out] of Object.entries(results)) assert.doesNotMatch(out, /^(connected|reply)/, `${what}: ${out}`);
  // DNS straight to the policy's upstream is the guard's too: a denied name never gets there
  assert.match(asAgentOut(`dig +tries=1 +time=3 @${ADDR.resolver} blocked.test`), /status: REFUSED/);
  const tunnel = `${randomBytes(24).toString("hex")}.${randomBytes(12).toString("hex")}.x.tunnel.test`;
  assert.match(asAgentOut(`dig +tries=1 +time=3 +tcp ${tunnel} @${ADDR.resolver}`), /status: REFUSED/);
  assert.equal(asAgentOut(`dig +short +tries=1 +time=3 @${ADDR.resolver} md.rebind.test`), "");
  const after0 = w.farCounters();
  for (const k of Object.keys(FAR)) assert.equal(after0[k], before0[k], `far counter ${k}`);
  const queried = w.queries("main", mark);
  for (const n of ["blocked.test", tunnel]) assert.ok(!queried.includes(n), `${n} reached the resolver`);
  for (const local of [`${ADDR.blocked}:80`, `${ADDR.allowed}:8080`, `${ADDR.altResolver}:853`]) assert.ok(!w.far(mark).some((e) => e.ev === "accept" && e.local === local), `nothing reached ${local}`);
  // and the agent cannot change the rules
  assert.notEqual(asAgent(w, "nft flush ruleset").status, 0);
  assert.ok((hCounters(w, "cfe_host")["default"] ?? 0) > 0);
});

void test("by user: other users' traffic is not the policy's business", { skip }, () => {
  assert.match(rootProbe("tcp", ADDR.blocked, "80"), /^connected/);
});

void test("whole host: root is filtered too, DNS to the upstreams is the guard's alone, inbound only where allowed", { skip }, async () => {
  assert.equal(await d.stop("SIGTERM"), 0);
  writeFileSync(policyFile, WHOLE);
  d = startEnforce(w, ["--policy", policyFile, "--on", "host", "--allow-inbound", "tcp/9911"]);
  await d.ready;
  assert.equal(record(w, "host")?.pid, d.proc.pid);
  assert.doesNotMatch(rootProbe("tcp", ADDR.blocked, "80"), /^connected/);
  // root (the enforcer's uid) is not redirected: its DNS to another resolver is rejected
  assert.notEqual(sh("ip", ["netns", "exec", w.H, "dig", "+tries=1", "+time=2", `@${ADDR.altResolver}`, "allowed.test"]).status, 0);
  // any other user's DNS goes to the guard
  assert.equal(asAgentOut(`dig +short +tries=1 +time=3 @${ADDR.altResolver} allowed.test`), ADDR.allowed);
  assert.match(agentProbe("tcp", ADDR.allowed, "80", "/"), /^connected HTTP\/1\.1 200/);
  // inbound: tcp/9911 allowed, udp/9911 not
  const mark = w.mark();
  assert.match(sh("ip", ["netns", "exec", w.U, "/usr/bin/python3", `${w.dir}/probe.py`, "tcp", ADDR.host, "9911"]).stdout, /^connected/);
  assert.match(sh("ip", ["netns", "exec", w.U, "/usr/bin/python3", `${w.dir}/probe.py`, "udp", ADDR.host, "9911"]).stdout, /noreply/);
  assert.ok(!w.far(mark).some((e) => e.ev === "udp" && e.local.endsWith(":9911")), "the udp datagram was dropped before the listener");
  assert.ok((hCounters(w, "cfe_host")["inbound"] ?? 0) > 0);
});

void test("remove deletes the host's rules", { skip }, () => {
  const r = w.cli(["remove", "--on", "host"]);
  assert.equal(r.status, 0, r.stderr);
  assert.notEqual(sh("ip", ["netns", "exec", w.H, "nft", "list", "table", "inet", "cfe_host"]).status, 0);
  assert.match(rootProbe("tcp", ADDR.blocked, "80"), /^connected/);
});
