/**
 * runtime/sandbox/phase: which phase a request leads to, what a change carries into the new
 * table, the order a change keeps with the guard's programming, and the socket transport.
 *
 * Real: the decider, the set programmer (its rendering), the DNS guard with a real upstream,
 * unix sockets in a temp dir. Mock: the nft runner and the transaction only record the text
 * they would apply (nft needs a namespace of its own); test/integration/run-phase.test.ts
 * runs the same switch against the kernel.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, existsSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { encode } from "dns-packet";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadPolicyText } from "../../../src/policy/load.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { createSetProgrammer } from "../../../src/runtime/nft/programmer.ts";
import type { NftRunner } from "../../../src/runtime/nft/session.ts";
import { addressGrants, createDnsGuard, type LiveName } from "../../../src/runtime/dns/guard.ts";
import { createMemorySink } from "../../../src/runtime/events.ts";
import { startZoneServer } from "../../../src/runtime/demo/zone-server.ts";
import { RuntimeError } from "../../../src/runtime/errors.ts";
import { parseIp } from "../../../src/policy/addr.ts";
import { checkPhaseMove, createPhaseSwitch, liveEntries, requestPhase, servePhaseRequests } from "../../../src/runtime/sandbox/phase.ts";

const noRead = (p: string): string => {
  throw new Error(`no file ${p}`);
};

// rule orders: 0 attest (bootstrap), 1 work (workload), 2 both, 3 watch (monitor-mode deny)
const POLICY = loadPolicyText(
  `version: 1
name: phased
dns: { upstreams: [127.0.0.1], min_ttl: 5 }
phases: [bootstrap, workload]
rules:
  - name: attest
    allow: [attest.example.com]
    ports: [443]
    protocol: tcp
    phase: bootstrap
  - name: work
    allow: [api.example.com, moved.example.com]
    ports: [443]
    protocol: tcp
    phase: workload
  - name: both
    allow: [pkg.example.com, moved.example.com, "*.example.net"]
    ports: [443, 8443]
    protocol: tcp
  - name: watch
    deny: [watched.example.org]
    mode: monitor
default: deny
`,
  "phased.yaml",
  noRead,
);
const decider = compileDecider(POLICY);
const T0 = 1_700_000_000_000;

// ------------------------------------------------------------------ checkPhaseMove

void test("checkPhaseMove: where a request leads, and every refusal", () => {
  const three = ["bootstrap", "workload", "drain"];
  const cases: Array<[string, readonly string[], string | undefined, string | undefined, string]> = [
    ["no PHASE moves to the next phase", three, "bootstrap", undefined, "bootstrap->workload"],
    ["no current phase means the first", three, undefined, undefined, "bootstrap->workload"],
    ["a later phase may skip one", three, "bootstrap", "drain", "bootstrap->drain"],
    ["the next phase by name", three, "workload", "drain", "workload->drain"],
    ["an earlier phase is refused as backwards", three, "workload", "bootstrap", "CF_PHASE_BACKWARDS"],
    ["the current phase is refused as backwards", three, "workload", "workload", "CF_PHASE_BACKWARDS"],
    ["a phase the policy does not declare is unknown", three, "bootstrap", "Workload", "CF_PHASE_UNKNOWN"],
    ["the next phase after the last does not exist", three, "drain", undefined, "CF_PHASE_LAST"],
    ["a policy without phases has nothing to move to", [], undefined, undefined, "CF_PHASE_NONE"],
    ["a policy without phases refuses a named phase too", [], undefined, "workload", "CF_PHASE_NONE"],
  ];
  for (const [name, phases, current, requested, want] of cases) {
    const m = checkPhaseMove(phases, current, requested);
    const got = m.ok ? `${m.from}->${m.to}` : m.code;
    assert.equal(got, want, name);
    if (!m.ok) assert.ok(m.message.length > 0 && m.fix.length > 0, `${name}: message and fix`);
  }
});

// ------------------------------------------------------------------ liveEntries

// public addresses: documentation ranges are special-purpose, where names never reach
const live = (name: string, ip: string, secondsLeft: number): LiveName => ({ name, ip, family: ip.includes(":") ? 6 : 4, expiresAt: T0 + secondsLeft * 1000 });

void test("liveEntries: a pair whose rule is active in the new phase is carried for the time it had left, rounded up", () => {
  const e = liveEntries([live("pkg.example.com", "93.184.216.2", 30.2)], decider, "workload", T0);
  assert.deepEqual(e, [{ grants: [{ rule: "both", order: 2, protocol: "tcp", ports: [{ from: 443, to: 443 }, { from: 8443, to: 8443 }] }], address: { ip: "93.184.216.2", family: 4, ttl: 31 } }]);
});

void test("liveEntries: a pair the new phase grants nothing is left out, as is an expired one", () => {
  assert.deepEqual(liveEntries([live("attest.example.com", "93.184.216.1", 60)], decider, "workload", T0), []);
  assert.deepEqual(liveEntries([live("pkg.example.com", "93.184.216.2", 0)], decider, "workload", T0), []);
  assert.deepEqual(liveEntries([live("pkg.example.com", "93.184.216.2", -5)], decider, "workload", T0), []);
});

void test("liveEntries: a name whose first matching rule changes with the phase is re-decided into the new rule's grants", () => {
  const boot = liveEntries([live("moved.example.com", "93.184.216.7", 60)], decider, "bootstrap", T0);
  const work = liveEntries([live("moved.example.com", "93.184.216.7", 60)], decider, "workload", T0);
  assert.deepEqual(boot.flatMap((x) => x.grants.map((g) => g.rule)), ["both"]);
  // workload: `work` takes port 443; 8443 is still `both`'s (grants are per port slice)
  assert.deepEqual(
    work.flatMap((x) => x.grants.map((g) => `${g.rule}:${(g.ports ?? []).map((p) => p.from).join(",")}`)),
    ["work:443", "both:8443"],
  );
});

void test("liveEntries: a monitor-mode deny rule's slices are carried like the guard programs them, and IPv6 pairs too", () => {
  const ip = parseIp("2606:4700::5");
  assert.ok(ip);
  const e = liveEntries([live("watched.example.org", "2606:4700::5", 10)], decider, "workload", T0);
  assert.deepEqual(e.flatMap((x) => x.grants), addressGrants(decider, "watched.example.org", ip, "workload"));
  assert.equal(e[0]?.grants[0]?.rule, "watch");
  assert.equal(e[0]?.address.family, 6);
});

void test("liveEntries: longest first, so an element two names share is added once, with the longer time", () => {
  const e = liveEntries([live("a.example.net", "93.184.216.9", 10), live("b.example.net", "93.184.216.9", 50), live("pkg.example.com", "93.184.216.2", 20)], decider, "workload", T0);
  assert.deepEqual(
    e.map((x) => x.address.ttl),
    [50, 20, 10],
  );
});

// ------------------------------------------------------------------ the switch

interface Harness {
  sw: ReturnType<typeof createPhaseSwitch>;
  log: string[];
  book: LiveName[];
  guardPhases: string[];
  clock: { t: number; now(): number };
  holdApply: { next: Promise<void> | null };
  holdTx: { next: Promise<void> | null };
  failTx: { on: boolean };
}

function harness(): Harness {
  const log: string[] = [];
  const holdApply: Harness["holdApply"] = { next: null };
  const holdTx: Harness["holdTx"] = { next: null };
  const failTx = { on: false };
  const runner: NftRunner = {
    async apply(text) {
      const h = holdApply.next;
      holdApply.next = null;
      if (h) await h;
      log.push(`apply ${text.trim()}`);
    },
    close: () => Promise.resolve(),
  };
  const clock = { t: T0, now: () => clock.t };
  const book: LiveName[] = [];
  const guardPhases: string[] = [];
  const sw = createPhaseSwitch({
    phases: POLICY.phases,
    initial: undefined,
    decider,
    clock,
    runner,
    createProgrammer: (r) => createSetProgrammer({ policy: POLICY, table: "cfp_t", runner: r, clock }),
    tableText: (p) => `TABLE ${p}`,
    async transaction(text) {
      const h = holdTx.next;
      holdTx.next = null;
      if (h) await h;
      if (failTx.on) throw new Error("nft: Error: boom");
      log.push(`tx ${text.trim()}`);
    },
  });
  sw.attach({ setPhase: (p) => guardPhases.push(p), liveNames: (now) => book.filter((l) => l.expiresAt > now) });
  return { sw, log, book, guardPhases, clock, holdApply, holdTx, failTx };
}

/** What the guard does for one answer: book the pair, decide it in the current phase, program. */
function answer(h: Harness, name: string, ip: string, ttl: number): Promise<number> {
  const addr = parseIp(ip);
  assert.ok(addr);
  const grants = addressGrants(decider, name, addr, h.sw.current());
  h.book.push({ name, ip, family: addr.family, expiresAt: h.clock.now() + Math.max(ttl, 5) * 1000 });
  return h.sw.programmer.program([{ grants, address: { ip, family: addr.family, ttl } }], 5);
}

void test("a change is one transaction: the new phase's table and the carried elements; the guard and current() follow", async () => {
  const h = harness();
  assert.equal(h.sw.current(), "bootstrap");
  await answer(h, "attest.example.com", "93.184.216.1", 60);
  await answer(h, "pkg.example.com", "93.184.216.2", 30);
  h.log.length = 0;
  h.clock.t += 10_000;
  const c = await h.sw.change(undefined);
  assert.deepEqual({ from: c.from, to: c.to, names: c.names, elements: c.elements }, { from: "bootstrap", to: "workload", names: 1, elements: 2 });
  assert.deepEqual(h.log, ["tx TABLE workload\nadd element inet cfp_t d2_4 { 93.184.216.2 . tcp . 443 timeout 20s }\nadd element inet cfp_t d2_4 { 93.184.216.2 . tcp . 8443 timeout 20s }"]);
  assert.deepEqual(h.guardPhases, ["workload"]);
  assert.equal(h.sw.current(), "workload");
});

void test("after a change the programmer knows exactly the new table: carried elements are not shortened, and elements only the old table had are sent again", async () => {
  const h = harness();
  // bootstrap: moved.example.com is rule `both`'s (d2); workload gives it to `work` (d1)
  await answer(h, "moved.example.com", "93.184.216.7", 60);
  await answer(h, "pkg.example.com", "93.184.216.2", 60);
  await h.sw.change("workload");
  // workload: `work` takes 443 of moved.example.com (d1), 8443 stays `both`'s (d2)
  assert.match(h.log.at(-1) ?? "", /d1_4 \{ 93\.184\.216\.7 \. tcp \. 443 timeout 60s \}/);
  assert.match(h.log.at(-1) ?? "", /d2_4 \{ 93\.184\.216\.7 \. tcp \. 8443 timeout 60s \}/);
  assert.doesNotMatch(h.log.at(-1) ?? "", /d2_4 \{ 93\.184\.216\.7 \. tcp \. 443 /);
  h.log.length = 0;
  // a carried element, answered again with a shorter TTL: nothing to send
  assert.equal(await answer(h, "pkg.example.com", "93.184.216.2", 10), 0);
  // another name of rule `both` at the same address: the old programmer had d2|93.184.216.7 and
  // would have skipped it; the new table does not have it, so it is sent (8443 is carried, 60 s)
  assert.equal(await answer(h, "cdn.example.net", "93.184.216.7", 30), 1);
  assert.deepEqual(h.log, ["apply add element inet cfp_t d2_4 { 93.184.216.7 . tcp . 443 timeout 30s }"]);
});

void test("programming asked for during a change waits for the transaction and goes into the new table", async () => {
  const h = harness();
  let release!: () => void;
  h.holdTx.next = new Promise((r) => (release = r));
  const change = h.sw.change(undefined);
  await new Promise((r) => setImmediate(r));
  // the change has begun: the guard decides in workload, and a workload-only name's programming waits
  assert.equal(h.sw.current(), "workload");
  const programmed = answer(h, "api.example.com", "93.184.216.5", 30);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(h.log, [], "nothing reaches the kernel before the new table");
  release();
  await change;
  assert.equal(await programmed, 1);
  assert.deepEqual(h.log, ["tx TABLE workload", "apply add element inet cfp_t d1_4 { 93.184.216.5 . tcp . 443 timeout 30s }"]);
});

void test("programming already under way when a change starts finishes first, into the old table, and its name is carried", async () => {
  const h = harness();
  let release!: () => void;
  h.holdApply.next = new Promise((r) => (release = r));
  const programmed = answer(h, "pkg.example.com", "93.184.216.2", 30);
  const change = h.sw.change(undefined);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(h.log, [], "the transaction waits for programming under way");
  release();
  await Promise.all([programmed, change]);
  assert.equal(h.log.length, 2);
  assert.match(h.log[0] ?? "", /^apply add element inet cfp_t d2_4 \{ 93\.184\.216\.2 \. tcp \. 443 timeout 30s \}/);
  assert.match(h.log[1] ?? "", /^tx TABLE workload\nadd element inet cfp_t d2_4 \{ 93\.184\.216\.2 \. tcp \. 443 timeout 30s \}/);
});

void test("a failed transaction leaves the phase where it was: the guard goes back, programming that waited is refused, the old programmer goes on", async () => {
  const h = harness();
  await answer(h, "pkg.example.com", "93.184.216.2", 60);
  h.log.length = 0;
  h.failTx.on = true;
  let release!: () => void;
  h.holdTx.next = new Promise((r) => (release = r));
  const change = h.sw.change("workload");
  await new Promise((r) => setImmediate(r));
  const waited = answer(h, "api.example.com", "93.184.216.5", 30);
  release();
  await assert.rejects(change, (e: unknown) => e instanceof RuntimeError && e.code === "CF_RUNTIME_PHASE_APPLY" && /boom/.test(e.message) && e.exit === 3);
  await assert.rejects(waited, (e: unknown) => e instanceof RuntimeError && e.code === "CF_RUNTIME_PHASE_RACE");
  assert.equal(h.sw.current(), "bootstrap");
  assert.deepEqual(h.guardPhases, ["workload", "bootstrap"]);
  h.failTx.on = false;
  // the old programmer still knows what the old table holds
  assert.equal(await answer(h, "pkg.example.com", "93.184.216.2", 30), 0);
  assert.deepEqual(h.log, [], "nothing was applied");
  // and the change can be asked for again
  assert.equal((await h.sw.change(undefined)).to, "workload");
});

void test("a refused move applies nothing and leaves the guard alone; two moves asked at once run one after the other", async () => {
  const h = harness();
  await assert.rejects(h.sw.change("bootstrap"), (e: unknown) => e instanceof RuntimeError && e.code === "CF_PHASE_BACKWARDS" && e.exit === 2);
  await assert.rejects(h.sw.change("nope"), (e: unknown) => e instanceof RuntimeError && e.code === "CF_PHASE_UNKNOWN");
  assert.equal(h.log.length, 0, "nothing applied");
  assert.equal(h.guardPhases.length, 0, "the guard was not moved");
  const [a, b] = await Promise.allSettled([h.sw.change(undefined), h.sw.change(undefined)]);
  assert.equal(a.status === "fulfilled" ? a.value.to : a.reason, "workload");
  assert.ok(b.status === "rejected" && b.reason instanceof RuntimeError && b.reason.code === "CF_PHASE_LAST");
  assert.equal(h.log.filter((l) => l.startsWith("tx")).length, 1);
});

// ------------------------------------------------------------------ the guard's book

void test("the DNS guard books each programmed (name, address) with the expiry it was given, and forgets it when programming fails", async () => {
  const upstream = await startZoneServer({
    "pkg.example.com|A": { answers: [{ type: "A", name: "pkg.example.com", ttl: 2, data: "93.184.216.2" }] },
    "api.example.com|A": { answers: [{ type: "A", name: "api.example.com", ttl: 60, data: "93.184.216.5" }] },
  });
  const clock = { t: T0, now: () => clock.t };
  let fail = false;
  const runner: NftRunner = { apply: () => (fail ? Promise.reject(new Error("nft refused")) : Promise.resolve()), close: () => Promise.resolve() };
  const guard = createDnsGuard({
    listen: { address: "127.0.0.1", port: 0 },
    policy: POLICY,
    decider,
    upstreams: [{ address: "127.0.0.1", family: 4, port: upstream.port }],
    programmer: createSetProgrammer({ policy: POLICY, table: "cfp_t", runner, clock }),
    sink: createMemorySink(),
    clock,
    phase: "bootstrap",
    limits: { upstreamTimeoutMs: 500 },
  });
  await guard.start();
  try {
    const ask = (name: string, id: number): Promise<Buffer | null> => guard.handle(encode({ type: "query", id, flags: 256, questions: [{ name, type: "A", class: "IN" }] }), "127.0.0.1:5353", "udp");
    assert.ok(await ask("pkg.example.com", 1));
    // min_ttl 5 > the answer's TTL 2: the element lives 5 s
    assert.deepEqual(guard.liveNames(clock.now()), [{ name: "pkg.example.com", ip: "93.184.216.2", family: 4, expiresAt: T0 + 5000 }]);
    // refused in bootstrap: not answered, not booked
    assert.ok(await ask("api.example.com", 2));
    assert.equal(guard.liveNames(clock.now()).length, 1);
    guard.setPhase("workload");
    fail = true;
    assert.ok(await ask("api.example.com", 3));
    assert.deepEqual(guard.liveNames(clock.now()).map((l) => l.name), ["pkg.example.com"], "failed programming is not booked");
    fail = false;
    assert.ok(await ask("api.example.com", 4));
    assert.deepEqual(guard.liveNames(clock.now()).map((l) => l.name), ["pkg.example.com", "api.example.com"]);
    clock.t += 5000;
    assert.deepEqual(guard.liveNames(clock.now()).map((l) => l.name), ["api.example.com"], "an expired pair is not live");
  } finally {
    await guard.close();
    await upstream.close();
  }
});

// ------------------------------------------------------------------ the socket

void test("the phase socket: a request gets the handler's reply; refusals keep code, fix and exit; the socket is 0600 and gone after close", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-phase-"));
  const path = join(dir, "x.sock");
  const asked: Array<string | undefined> = [];
  try {
    const server = await servePhaseRequests(path, (requested) => {
      asked.push(requested);
      if (requested === "bootstrap") return Promise.reject(new RuntimeError("CF_PHASE_BACKWARDS", "back", "forward", 2));
      if (requested === "crash") return Promise.reject(new Error("oops"));
      return Promise.resolve({ ok: true, from: "bootstrap", to: requested ?? "workload", names: 3, elements: 6, ms: 1.5 });
    });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(await requestPhase(path, undefined), { ok: true, from: "bootstrap", to: "workload", names: 3, elements: 6, ms: 1.5 });
    assert.deepEqual(await requestPhase(path, "workload"), { ok: true, from: "bootstrap", to: "workload", names: 3, elements: 6, ms: 1.5 });
    assert.deepEqual(await requestPhase(path, "bootstrap"), { ok: false, code: "CF_PHASE_BACKWARDS", message: "back", fix: "forward", exit: 2 });
    const crash = await requestPhase(path, "crash");
    assert.ok(!crash.ok && crash.code === "CF_INTERNAL" && crash.exit === 3);
    assert.deepEqual(asked, [undefined, "workload", "bootstrap", "crash"]);
    await server.close();
    assert.equal(existsSync(path), false);
    await assert.rejects(requestPhase(path, undefined), (e: unknown) => e instanceof RuntimeError && e.code === "CF_PHASE_UNREACHABLE");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test("the phase socket: a malformed request is refused, and a clawfence that never answers times out", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cf-phase-"));
  try {
    const path = join(dir, "x.sock");
    const server = await servePhaseRequests(path, () => Promise.reject(new Error("not reached")));
    const reply = await new Promise<string>((resolve) => {
      const s = createConnection(path, () => s.write("[1,2]\n"));
      let b = "";
      s.setEncoding("utf8");
      s.on("data", (d: string) => (b += d));
      s.on("end", () => resolve(b));
    });
    assert.equal((JSON.parse(reply) as { code: string }).code, "CF_PHASE_REQUEST");
    await server.close();

    const silent = join(dir, "silent.sock");
    const mute = createServer(() => undefined);
    await new Promise<void>((r) => mute.listen(silent, r));
    const t0 = Date.now();
    await assert.rejects(requestPhase(silent, undefined, 200), (e: unknown) => e instanceof RuntimeError && e.code === "CF_PHASE_TIMEOUT");
    assert.ok(Date.now() - t0 < 5000);
    mute.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
