/**
 * `clawfence run --mode monitor`: the escape probes of run-escape.test.ts get through, and
 * each is logged as a would-deny. Same world and policy as the enforce suite; assertions on
 * what reached the far side (it must have arrived) and on the `clawfence: would-deny` lines.
 * Classes the policy cannot loosen stay closed in monitor mode too: the host-side frame
 * (only guard and proxy reachable) and the unprivileged, capability-free command.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { ESCAPE_POLICY } from "./world/policies.ts";
import { ADDR, createWorld, prerequisites, probeScript, py, type FarMark, type RunResult, type World } from "./world/world.ts";

const skip = prerequisites();
if (skip && process.env["CI"] === "true") throw new Error(`integration prerequisites missing: ${skip}`);

let w: World;
let start: FarMark;
let result: RunResult;
let counters: Record<string, number> = {};

before(async () => {
  if (skip) return;
  w = await createWorld();
  const p = (...args: string[]): string => py(w, ...args);
  const script = w.writeScript(
    "monitor.sh",
    probeScript(w, {
      parallel: [
        { id: "direct-ip", cmd: p("tcp", ADDR.blocked, "8080", "/p-m-direct") },
        { id: "dns-unlisted", cmd: "dig +short +tries=1 +time=3 blocked.test" },
        { id: "proxy-unlisted", cmd: "curl -sS -m 8 http://blocked.test/p-m-proxy" },
        { id: "noproxy-unlisted", cmd: "curl -sS -m 8 --noproxy '*' http://blocked.test/p-m-noproxy" },
        { id: "connect-unlisted", cmd: p("connect", "blocked.test:443", "blocked.test") },
        { id: "other-resolver", cmd: `dig @${ADDR.altResolver} +short +tries=1 +time=3 m-exfil.test` },
        { id: "quic", cmd: p("udp", ADDR.blocked, "443") },
        { id: "sni-mismatch", cmd: p("connect", "allowed.test:443", "other.test") },
        { id: "special-notation", cmd: p("http", "http://2130706433/p-m-notation", "2130706433") },
        { id: "rebind-proxy", cmd: "curl -sS -m 8 http://md.rebind.test/p-m-rebind" },
        { id: "host-side", cmd: p("tcp", "HOSTADDR", "9911") },
        { id: "uid", cmd: "id -u; grep CapEff /proc/self/status" },
      ],
      after: ["check"],
    }),
  );
  start = w.mark();
  const h = w.run({
    policy: ESCAPE_POLICY,
    flags: ["--mode", "monitor"],
    cmd: ["sh", script],
    onWait: async () => {
      const table = w.records()[0]?.tables[0];
      if (table) counters = w.hCounters(table);
      await Promise.resolve();
    },
  });
  result = await h.done;
});

after(async () => {
  const dump = process.env["CF_TEST_DUMP"];
  if (dump && w) writeFileSync(dump, JSON.stringify({ probes: Object.fromEntries(result?.probes ?? []), stderr: result?.stderr, far: w.far(start), counters }, null, 1));
  await w?.close();
});

const opts = { skip };
const probe = (id: string): string => {
  const r = result.probes.get(id);
  assert.ok(r, `probe ${id} printed no result; stderr: ${result.stderr.slice(0, 2000)}`);
  return r.out;
};
const reached = (path: string): boolean => w.far(start).some((e) => e.ev === "data" && (e.first ?? "").includes(` ${path} `));
const wouldDeny = (): string[] => result.stderr.split("\n").filter((l) => l.startsWith("clawfence: would-deny "));

void test("in monitor mode the command runs to the end and exits 0", opts, () => {
  assert.equal(result.status, 0, result.stderr.slice(0, 2000));
  assert.match(result.stdout, /@@DONE/);
});

void test("monitor mode: unlisted names resolve and reach their server through the proxy, transparently and over CONNECT", opts, () => {
  assert.equal(probe("dns-unlisted"), ADDR.blocked);
  assert.ok(w.queries("main", start).includes("blocked.test"));
  assert.ok(reached("/p-m-proxy"), probe("proxy-unlisted"));
  assert.ok(reached("/p-m-noproxy"), probe("noproxy-unlisted"));
  assert.match(probe("connect-unlisted"), /200 .*\| tls ok HTTP\/1\.1 200/);
  assert.ok(w.far(start).some((e) => e.ev === "hello" && e.sni === "blocked.test"));
});

void test("monitor mode: the kernel lets direct IP, UDP/QUIC and other resolvers through and counts them", opts, () => {
  assert.match(probe("direct-ip"), /connected HTTP\/1\.1 200/);
  assert.ok(reached("/p-m-direct"));
  assert.equal(probe("quic"), "reply");
  assert.ok(w.far(start).some((e) => e.ev === "udp" && e.local === `${ADDR.blocked}:443`));
  assert.equal(probe("other-resolver"), ADDR.blocked);
  assert.ok(w.queries("alt", start).includes("m-exfil.test"));
  assert.ok((counters["default"] ?? 0) > 0 && (counters["dns"] ?? 0) > 0, JSON.stringify(counters));
});

void test("monitor mode: SNI mismatch, special-purpose notations and rebinding go through the proxy as would-deny", opts, () => {
  assert.match(probe("sni-mismatch"), /tls ok/);
  assert.ok(w.far(start).some((e) => e.ev === "hello" && e.sni === "other.test"));
  assert.match(probe("special-notation"), /200/);
  assert.ok(w.far(start).some((e) => e.local === "127.0.0.1:80"), "H's loopback server was reached");
  assert.match(probe("rebind-proxy"), /^ok 169\.254\.169\.254:80/);
});

void test("monitor mode: every proxy and DNS probe is logged as would-deny with rule and reason, and nothing but the host-side frame as deny", opts, () => {
  const lines = wouldDeny();
  for (const re of [/ dns\/udp blocked\.test rule=default reason=default-deny/, / proxy\/tcp blocked\.test/, /reason=sni-mismatch/, /reason=special-range/]) {
    assert.ok(lines.some((l) => re.test(l)), `no would-deny line matches ${String(re)}:\n${lines.join("\n")}`);
  }
  // the frame (only guard and proxy reachable on the host side) is not the policy: monitor mode does not loosen it
  assert.deepEqual(
    result.stderr.split("\n").filter((l) => l.startsWith("clawfence: deny ") && !/ rule=host-side /.test(l)),
    [],
  );
});

void test("monitor mode: flows the kernel let through (direct IP, UDP, other resolvers) are logged as would-deny from NFLOG", opts, () => {
  const lines = wouldDeny();
  assert.ok(lines.some((l) => l.includes(`${ADDR.blocked}:8080`)), lines.join("\n"));
  assert.ok(lines.some((l) => l.includes(`${ADDR.blocked}:443`) && l.includes("udp")), lines.join("\n"));
  assert.ok(lines.some((l) => l.includes(`${ADDR.altResolver}:53`)), lines.join("\n"));
});

void test("monitor mode does not loosen the frame: the host side stays unreachable and the command stays unprivileged", opts, () => {
  assert.match(probe("host-side"), /^error/);
  assert.deepEqual(
    w.far(start).filter((e) => e.local.endsWith(":9911")),
    [],
  );
  assert.match(probe("uid"), /^65534\nCapEff:\s+0{16}$/);
});
