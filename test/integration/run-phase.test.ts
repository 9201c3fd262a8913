/**
 * `clawfence phase` on a running `clawfence run` sandbox (seed 000: bootstrap -> workload).
 *
 * World: test/integration/world (H runs clawfence, U the resolver and the listeners that
 * testify). Policy phases [bootstrap, workload]: allowed.test:8080 only in bootstrap,
 * blocked.test:8080 only in workload, ttl.test:8080 in both. The contained command (a shell
 * script as nobody) probes, opens a connection to the bootstrap-only destination and keeps it
 * open, then stops at `@@WAIT switch`; the test runs `clawfence phase <name>` inside H there
 * (and the refusals around it), then the command probes again — by address, without asking
 * DNS again, so what passes after the switch passes on elements carried into the new table.
 * Asserts are on what reached U (recorder.py) and on the state record.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ADDR, createWorld, prerequisites, type World } from "./world/world.ts";

const skip = prerequisites();
if (skip && process.env["CI"] === "true") throw new Error(`integration prerequisites missing: ${skip}`);
const opts = { skip };

let w: World;

before(async () => {
  if (skip) return;
  w = await createWorld();
});

after(async () => {
  await w?.close();
});

const POLICY = `version: 1
name: phased
internal: [198.51.100.0/24]
dns: { upstreams: [198.51.100.2], min_ttl: 300 }
phases: [bootstrap, workload]
rules:
  - name: attest
    allow: [allowed.test]
    ports: [8080]
    protocol: tcp
    phase: bootstrap
  - name: work
    allow: [blocked.test]
    ports: [8080]
    protocol: tcp
    phase: workload
  - name: both
    allow: [ttl.test]
    ports: [8080]
    protocol: tcp
default: deny
`;

/** A connection opened now and used again after the go file appears (the switch). */
const HELD = `import os, socket, sys, time
addr, port, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((addr, port), timeout=5)
s.sendall(b"GET /held HTTP/1.1\\r\\nHost: held\\r\\n")
print("open", flush=True)
end = time.time() + 60
while not os.path.exists(go) and time.time() < end:
    s.sendall(b"X-Keep: 1\\r\\n")
    time.sleep(0.3)
time.sleep(0.3)
try:
    s.sendall(b"X-After: switch\\r\\n\\r\\n")
    data = s.recv(4096)
    print((data.split(b"\\r\\n", 1)[0].decode() or "closed"), flush=True)
except OSError as e:
    print("error", e.__class__.__name__, flush=True)
`;

const curl = (url: string): string => `curl -sS -m 6 --noproxy '*' -o /dev/null -w '%{http_code}' ${url}`;
const viaProxy = (url: string): string => `curl -sS -m 6 -o /dev/null -w '%{http_code}' ${url}`;
const status = (name: string): string => `dig +tries=1 +time=4 ${name} | grep -o 'status: [A-Z]*'`;

void test("a sandbox moves bootstrap -> workload: the kernel, the guard and the proxy follow, live names are re-decided, established connections stay, and it never moves back", opts, async (t) => {
  const held = w.writeScript("held.py", HELD);
  const go = join(w.dir, "go-switch");
  // the contained user (nobody) writes the held connection's output here
  const heldDir = join(w.dir, "held");
  mkdirSync(heldDir);
  chmodSync(heldDir, 0o777);
  const script = w.writeScript(
    "phase.sh",
    [
      "#!/bin/sh",
      `R() { out=$(timeout 15 sh -c "$2" 2>&1); rc=$?; printf '@@R %s %s %s\\n' "$1" "$rc" "$(printf %s "$out" | base64 -w0)"; }`,
      // bootstrap
      `R b-dig-boot 'dig +short +tries=1 +time=4 allowed.test'`,
      `R b-dig-both 'dig +short +tries=1 +time=4 ttl.test'`,
      `R b-dig-work ${q(status("blocked.test"))}`,
      `R b-boot-ip ${q(curl(`http://${ADDR.allowed}:8080/b-boot`))}`,
      `R b-work-ip ${q(curl(`http://${ADDR.blocked}:8080/b-work`))}`,
      `R b-both-ip ${q(curl(`http://${ADDR.ttl}:8080/b-both`))}`,
      `R b-boot-proxy ${q(viaProxy("http://allowed.test:8080/b-boot-proxy"))}`,
      `R b-work-proxy ${q(viaProxy("http://blocked.test:8080/b-work-proxy"))}`,
      `/usr/bin/python3 ${held} ${ADDR.allowed} 8080 ${go} > ${heldDir}/held.out 2>&1 &`,
      `i=0; while ! grep -q open ${heldDir}/held.out 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`,
      `echo "@@WAIT switch"; i=0; while [ ! -e ${go} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done`,
      // workload: addresses learned in bootstrap, no new DNS first
      `R w-boot-ip ${q(curl(`http://${ADDR.allowed}:8080/w-boot`))}`,
      `R w-both-ip ${q(curl(`http://${ADDR.ttl}:8080/w-both`))}`,
      `R w-work-ip-before-dns ${q(curl(`http://${ADDR.blocked}:8080/w-work-nodns`))}`,
      `R w-dig-boot ${q(status("allowed.test"))}`,
      `R w-dig-work 'dig +short +tries=1 +time=4 blocked.test'`,
      `R w-work-ip ${q(curl(`http://${ADDR.blocked}:8080/w-work`))}`,
      `R w-boot-proxy ${q(viaProxy("http://allowed.test:8080/w-boot-proxy"))}`,
      `R w-work-proxy ${q(viaProxy("http://blocked.test:8080/w-work-proxy"))}`,
      `wait`,
      `R held 'cat ${heldDir}/held.out'`,
      "echo @@DONE",
      "",
    ].join("\n"),
  );

  const flowsDb = join(w.dir, "flows.db");
  const mark = w.mark();
  const cli: Record<string, { status: number | null; stdout: string; stderr: string }> = {};
  let recordBefore: string | undefined;
  let recordAfter: string | undefined;
  let sandboxId = "";
  let switchMark = mark;
  const recordPhase = (): string | undefined => {
    const rec = JSON.parse(readFileSync(join(w.stateDir, "sandboxes", `${sandboxId}.json`), "utf8")) as { phase?: string };
    return rec.phase;
  };
  const h = w.run({
    policy: POLICY,
    flags: ["--name", "phased-test", "--flows", flowsDb],
    cmd: ["sh", script],
    onWait: () => {
      sandboxId = w.records()[0]?.id ?? "";
      recordBefore = recordPhase();
      cli["list"] = w.cli(["phase"]);
      cli["unknown"] = w.cli(["phase", sandboxId, "nope"]);
      cli["same"] = w.cli(["phase", sandboxId, "bootstrap"]);
      cli["nosuch"] = w.cli(["phase", "no-such-sandbox"]);
      switchMark = w.mark();
      cli["switch"] = w.cli(["phase", "phased-test"]);
      recordAfter = recordPhase();
      cli["back"] = w.cli(["phase", sandboxId, "bootstrap"]);
      cli["last"] = w.cli(["phase", sandboxId]);
      return Promise.resolve();
    },
  });
  const r = await h.done;
  const out = (id: string): string => r.probes.get(id)?.out ?? `(no probe ${id})`;
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /@@DONE/);

  // the phase command and its refusals
  assert.equal(cli["switch"]?.status, 0, cli["switch"]?.stderr);
  t.diagnostic((cli["switch"]?.stdout ?? "").trim());
  assert.match(cli["switch"]?.stdout ?? "", new RegExp(`sandbox ${sandboxId} \\(phased-test\\): phase bootstrap -> workload`));
  assert.equal(recordBefore, "bootstrap");
  assert.equal(recordAfter, "workload", "the record says the phase once the command returned");
  assert.match(cli["list"]?.stdout ?? "", new RegExp(`${sandboxId}\\s+phased-test\\s+policy phased\\s+phase bootstrap`));
  for (const [k, code] of [
    ["unknown", "CF_PHASE_UNKNOWN"],
    ["same", "CF_PHASE_BACKWARDS"],
    ["nosuch", "CF_PHASE_NO_SANDBOX"],
    ["back", "CF_PHASE_BACKWARDS"],
    ["last", "CF_PHASE_LAST"],
  ] as const) {
    assert.equal(cli[k]?.status, 2, `${k}: ${cli[k]?.stderr ?? ""}`);
    assert.match(cli[k]?.stderr ?? "", new RegExp(`error ${code}:`), k);
    assert.match(cli[k]?.stderr ?? "", /fix: /, k);
  }
  assert.match(cli["nosuch"]?.stderr ?? "", new RegExp(`running: ${sandboxId} \\(phased-test, phase bootstrap\\)`), "the refusal lists the running sandboxes");
  assert.match(cli["back"]?.stderr ?? "", /comes before the current phase 'workload'/);
  assert.match(r.stderr, /moved from phase 'bootstrap' to 'workload'/);

  // bootstrap: the guard, the kernel and the proxy enforce bootstrap
  assert.equal(out("b-dig-boot"), ADDR.allowed);
  assert.equal(out("b-dig-both"), ADDR.ttl);
  assert.equal(out("b-dig-work"), "status: REFUSED");
  assert.equal(out("b-boot-ip"), "200");
  assert.notEqual(out("b-work-ip"), "200");
  assert.equal(out("b-both-ip"), "200");
  assert.equal(out("b-boot-proxy"), "200");
  assert.equal(out("b-work-proxy"), "403");
  // workload
  assert.notEqual(out("w-boot-ip"), "200", "an address learned in bootstrap for a bootstrap-only rule is closed");
  assert.equal(out("w-both-ip"), "200", "an address learned in bootstrap for a rule of both phases stays open without a new lookup");
  assert.notEqual(out("w-work-ip-before-dns"), "200", "a workload name's address is closed until the guard answers it");
  assert.equal(out("w-dig-boot"), "status: REFUSED");
  assert.equal(out("w-dig-work"), ADDR.blocked);
  assert.equal(out("w-work-ip"), "200");
  assert.equal(out("w-boot-proxy"), "403");
  assert.equal(out("w-work-proxy"), "200");
  // the connection opened in bootstrap carried bytes sent after the switch (conntrack: established)
  assert.match(out("held"), /^open\nHTTP\/1\.1 200 OK$/);

  // what reached U says the same
  const paths = w.far(mark).flatMap((e) => (e.ev === "data" && e.first ? [e.first.split(" ")[1] ?? ""] : []));
  for (const p of ["/b-boot", "/b-both", "/b-boot-proxy", "/held", "/w-both", "/w-work", "/w-work-proxy"]) assert.ok(paths.includes(p), `${p} did not reach U: ${paths.join(" ")}`);
  for (const p of ["/b-work", "/b-work-proxy", "/w-boot", "/w-work-nodns", "/w-boot-proxy"]) assert.ok(!paths.includes(p), `${p} reached U`);
  const all = w.queries("main", mark);
  const before = all.slice(0, all.length - w.queries("main", switchMark).length);
  assert.ok(before.includes("allowed.test") && !before.includes("blocked.test"), `bootstrap asked upstream: ${before.join(" ")}`);
  assert.ok(all.slice(before.length).includes("blocked.test"), "workload asked for blocked.test");
  assert.deepEqual(w.records(), [], "nothing left after exit");

  // flow events say the phase they were decided in
  const f = w.cli(["flows", "--db", flowsDb, "--format", "jsonl"]);
  assert.equal(f.status, 0, f.stderr);
  const flows = f.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { kind: string; name: string | null; verdict: string; extra: { phase?: string } | null });
  const phaseOf = (kind: string, name: string, verdict: string): string[] =>
    flows.filter((e) => e.kind === kind && e.name === name && e.verdict === verdict).map((e) => e.extra?.phase ?? "(none)");
  assert.deepEqual([...new Set(phaseOf("dns", "allowed.test", "allow"))], ["bootstrap"]);
  assert.deepEqual([...new Set(phaseOf("dns", "allowed.test", "deny"))], ["workload"]);
  assert.deepEqual([...new Set(phaseOf("dns", "blocked.test", "deny"))], ["bootstrap"]);
  assert.deepEqual([...new Set(phaseOf("dns", "blocked.test", "allow"))], ["workload"]);
  assert.deepEqual([...new Set(phaseOf("proxy", "blocked.test", "deny"))], ["bootstrap"]);
  assert.deepEqual([...new Set(phaseOf("proxy", "allowed.test", "deny"))], ["workload"]);
});

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
