/**
 * The static runner and what it stands on: destination parsing, the policy twins (enforced,
 * monitored, with an added rule), skip semantics (live-only, not applicable, disabled: never
 * passed), monitor-mode policies, pinned rules and reasons, DNS-question probes, and the
 * fail-closed cross-check of decide() against explainFlow().
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { compileDecider, type Decider } from "../../../src/match/decide.ts";
import { formatIp } from "../../../src/match/ip.ts";
import type { Policy } from "../../../src/policy/ir.ts";
import { loadPolicyText } from "../../../src/policy/load.ts";
import { builtinScenarios } from "../../../src/verify/builtin.ts";
import { parseDestination } from "../../../src/verify/destination.ts";
import { createStaticRunner, runVerify } from "../../../src/verify/runner.ts";
import type { Probe, Scenario } from "../../../src/verify/scenario.ts";
import { enforcedTwin, monitoredTwin, withAddedAllow } from "../../../src/verify/twins.ts";

function policy(text: string): Policy {
  return loadPolicyText(text, "policy.yaml", () => assert.fail("no file reads"));
}

const BASE = `version: 1
name: demo
extends: [locked-down]
rules:
  - name: web
    allow: [api.example.com]
    ports: [443]
    protocol: tcp
`;

function userScenario(id: string, probe: Omit<Probe, "variant" | "destination"> & { destination?: string }): Scenario {
  return { id, family: id, group: "user", description: id, probes: [{ destination: probe.destination ?? id, variant: { kind: "policy" }, ...probe }], exempt: [] };
}

void describe("destinations", () => {
  const ok: ReadonlyArray<[string, Record<string, unknown>]> = [
    ["api.example.com", { name: "api.example.com" }],
    ["API.Example.COM.:8443/udp", { name: "api.example.com", port: 8443, protocol: "udp" }],
    ["8.8.8.8:53/udp", { ip: "8.8.8.8", port: 53, protocol: "udp" }],
    ["[2001:db8::1]:443", { ip: "2001:db8::1", port: 443 }],
    ["2001:db8::1", { ip: "2001:db8::1" }],
    ["127.1", { ip: "127.0.0.1" }],
    ["0x7f000001:80/tcp", { ip: "127.0.0.1", port: 80, protocol: "tcp" }],
    ["10.0.0.1/icmp", { ip: "10.0.0.1", protocol: "icmp" }],
    ["bücher.example", { name: "xn--bcher-kva.example" }],
    ["_sip._tcp.example.com", { name: "_sip._tcp.example.com" }],
  ];
  for (const [text, want] of ok) {
    void it(`'${text}' parses`, () => {
      const r = parseDestination(text);
      assert.ok(r.ok, r.ok ? "" : r.message);
      const got: Record<string, unknown> = { ...r.value, ...(r.value.ip ? { ip: formatIp(r.value.ip) } : {}) };
      assert.deepEqual(got, want);
    });
  }
  const bad = ["", "x:0", "x:65536", "10.0.0.0/8", "x/sctp", "[::1", "[10.0.0.1]:80", "1.2.3.256", "a..b", "x:80/icmp", "bad name"];
  for (const text of bad) {
    void it(`'${text}' is refused with a fix`, () => {
      const r = parseDestination(text);
      assert.equal(r.ok, false);
      if (!r.ok) assert.ok(r.fix.length > 0);
    });
  }
});

void describe("policy twins", () => {
  const p = policy(`version: 1
name: twins
mode: monitor
extends: [locked-down]
rules:
  - name: staged
    deny: [x.example.com]
  - name: pinned
    deny: [y.example.com]
    mode: monitor
  - name: late
    priority: 200
    allow: [z.example.com]
`);

  void it("the enforced twin enforces every rule that did not set its own mode", () => {
    const t = enforcedTwin(p);
    assert.equal(t.mode, "enforce");
    assert.equal(t.rules.find((r) => r.name === "staged")?.mode, "enforce");
    assert.equal(t.rules.find((r) => r.name === "pinned")?.mode, "monitor");
    assert.equal(enforcedTwin(t), t, "an enforce policy is its own twin");
  });

  void it("the monitored twin downgrades rules that did not set their own mode", () => {
    const t = monitoredTwin(enforcedTwin(p));
    assert.equal(t.mode, "monitor");
    assert.equal(t.rules.find((r) => r.name === "shadow-model-deny")?.mode, "monitor");
  });

  void it("an added allow rule lands after the own file's priority-100 rules and before the preset's, with orders renumbered", () => {
    const { policy: a, rule } = withAddedAllow(p, "new.example.com", 443, "tcp");
    const names = a.rules.map((r) => r.name);
    const at = names.indexOf(rule);
    assert.ok(at > names.indexOf("pinned"));
    assert.ok(at < names.indexOf("deny-file-drops"));
    assert.ok(at < names.indexOf("late"));
    a.rules.forEach((r, i) => assert.equal(r.order, i));
    const d = compileDecider(a).decide({ protocol: "tcp", port: 443, names: ["new.example.com"] });
    assert.deepEqual(d, { verdict: "allow", enforced: true, rule, reason: "rule-allow" });
  });
});

void describe("the static runner", () => {
  const p = policy(BASE);

  void it("reports live-only scenarios skipped with the reason, never passed", async () => {
    const live = builtinScenarios(p).filter((s) => s.liveOnly !== undefined);
    assert.ok(live.length >= 5);
    const results = await runVerify(live, createStaticRunner(p));
    for (const r of results) {
      assert.equal(r.status, "skip");
      assert.match(r.skipReason ?? "", /^live-only: .+/);
      assert.deepEqual(r.probes, []);
    }
  });

  void it("reports a scenario with nothing to probe as not applicable, listing the exemptions", async () => {
    const s: Scenario = { id: "x", family: "x", group: "escape", description: "x", probes: [], exempt: [{ destination: "10.0.0.1:22/tcp", reason: "listed by allow rule corp" }] };
    const [r] = await runVerify([s], createStaticRunner(p));
    assert.equal(r?.status, "skip");
    assert.match(r?.skipReason ?? "", /^not applicable: every probe is exempt \(10\.0\.0\.1:22\/tcp: listed by allow rule corp\)/);
  });

  void it("reports disabled scenarios skipped by id or by family, with where they were disabled", async () => {
    const all = builtinScenarios(p);
    const results = await runVerify(all, createStaticRunner(p), { disabled: new Map([["allowed-destinations", "disabled by --skip"], ["doh", "disabled in sc.yaml:3:13"]]) });
    const byId = new Map(results.map((r) => [r.scenario.id, r]));
    assert.equal(byId.get("allowed-destinations:web")?.skipReason, "disabled by --skip");
    assert.equal(byId.get("doh")?.skipReason, "disabled in sc.yaml:3:13");
    assert.equal(byId.get("direct-ip")?.status, "pass");
  });

  void it("calls onResult once per scenario, in order, as results arrive", async () => {
    const all = builtinScenarios(p);
    const seen: string[] = [];
    await runVerify(all, createStaticRunner(p), { onResult: (r) => seen.push(r.scenario.id) });
    assert.deepEqual(seen, all.map((s) => s.id));
  });

  void it("checks a pinned rule and a pinned reason, and names the deciding rule when they differ", async () => {
    const [ok, wrongRule, wrongReason] = await runVerify(
      [
        userScenario("ok", { check: { kind: "flow", flow: { protocol: "tcp", port: 443, names: ["api.example.com"] } }, expect: "allow", rule: "web", reasons: ["rule-allow"] }),
        userScenario("wrong-rule", { check: { kind: "flow", flow: { protocol: "tcp", port: 443, names: ["api.openai.com"] } }, expect: "deny", rule: "default" }),
        userScenario("wrong-reason", { check: { kind: "flow", flow: { protocol: "tcp", port: 80, names: ["api.example.com"] } }, expect: "deny", reasons: ["rule-deny"] }),
      ],
      createStaticRunner(p),
    );
    assert.equal(ok?.status, "pass");
    assert.equal(wrongRule?.status, "fail");
    assert.match(wrongRule?.probes[0]?.evidence ?? "", /^expected rule default, decided by shadow-model-deny\. decide\(\): deny by shadow-model-deny \(rule-deny\); rule shadow-model-deny at preset:locked-down:\d+:\d+/);
    assert.equal(wrongReason?.status, "fail");
    assert.match(wrongReason?.probes[0]?.evidence ?? "", /^expected reason rule-deny, got default-deny/);
  });

  void it("judges a DNS question as refused or answered, with the grants as evidence", async () => {
    const [refused, answered] = await runVerify(
      [userScenario("q1", { check: { kind: "dns-question", name: "data.tunnel.example" }, expect: "deny" }), userScenario("q2", { check: { kind: "dns-question", name: "api.example.com" }, expect: "deny" })],
      createStaticRunner(p),
    );
    assert.equal(refused?.status, "pass");
    assert.match(refused?.probes[0]?.evidence ?? "", /refused \(REFUSED, never sent upstream\): no allow rule matches the name/);
    assert.equal(answered?.status, "fail");
    assert.match(answered?.probes[0]?.evidence ?? "", /answered, and the guard would open tcp 443 by web/);
  });

  void it("judges built-ins of a monitor-mode policy as enforced, saying what happens today, and user scenarios as loaded", async () => {
    const m = policy(BASE.replace("extends:", "mode: monitor\nextends:"));
    const results = await runVerify(
      [...builtinScenarios(m), userScenario("today", { check: { kind: "flow", flow: { protocol: "tcp", port: 443, ip: { family: 4, value: 0x2d21209cn } } }, expect: "would-deny", rule: "default" })],
      createStaticRunner(m),
    );
    assert.deepEqual(results.filter((r) => r.status === "fail").map((r) => r.scenario.id), []);
    const direct = results.find((r) => r.scenario.id === "direct-ip");
    assert.match(direct?.probes[0]?.evidence ?? "", /judged as enforced: the policy is in monitor mode\]; today \(monitor\): would-deny by default \(default-deny\)/);
    assert.equal(results.find((r) => r.scenario.id === "today")?.status, "pass");
  });

  void it("fails a probe when decide() and explainFlow() disagree (a decider bug must not pass)", async () => {
    // mock: a deliberately broken decider, to show the runner refuses to judge on a disagreement
    const broken = (pol: Policy): Decider => {
      const real = compileDecider(pol);
      return { ...real, decide: (f) => ({ ...real.decide(f), verdict: "allow", reason: "rule-allow" }) };
    };
    const [r] = await runVerify([userScenario("x", { check: { kind: "flow", flow: { protocol: "tcp", port: 443, names: ["api.example.com"] } }, expect: "allow" })], createStaticRunner(p, { compile: broken }));
    assert.equal(r?.status, "pass", "agreeing allow is judged normally");
    const [r2] = await runVerify([userScenario("y", { check: { kind: "flow", flow: { protocol: "tcp", port: 443, names: ["evil.example"] } }, expect: "allow" })], createStaticRunner(p, { compile: broken }));
    assert.equal(r2?.status, "fail");
    assert.match(r2?.probes[0]?.evidence ?? "", /decide\(\) says allow by default \(rule-allow\) but explainFlow\(\) says deny by default \(default-deny\); refusing to judge/);
  });

  void it("on big policies explains only failing probes; passing ones carry the deciding rule and its position", async () => {
    const runner = createStaticRunner(p, { explainAllUpTo: 0 });
    const [ok, bad] = await runVerify(
      [
        userScenario("ok", { check: { kind: "flow", flow: { protocol: "tcp", port: 443, names: ["api.example.com"] } }, expect: "allow" }),
        userScenario("bad", { check: { kind: "flow", flow: { protocol: "tcp", port: 80, names: ["api.example.com"] } }, expect: "allow" }),
      ],
      runner,
    );
    assert.match(ok?.probes[0]?.evidence ?? "", /^decide\(\): allow by web \(rule-allow\); rule web at policy\.yaml:\d+:\d+$/);
    assert.match(bad?.probes[0]?.evidence ?? "", /no rule matched \(\d+ rules considered\)/);
  });

  void it("makes probe names fresh per policy and reproducible for the same policy", () => {
    const a = builtinScenarios(p).find((s) => s.id === "blocked-attacker-domain")?.probes[0]?.destination;
    const b = builtinScenarios(p).find((s) => s.id === "blocked-attacker-domain")?.probes[0]?.destination;
    const c = builtinScenarios(policy(BASE.replace("api.example.com", "api2.example.com"))).find((s) => s.id === "blocked-attacker-domain")?.probes[0]?.destination;
    assert.equal(a, b);
    assert.notEqual(a, c);
    assert.match(a ?? "", /^exfil-[0-9a-f]{8}\.attacker\.example:443\/tcp$/);
    const n = builtinScenarios(p, { nonce: "ABCDEF01" }).find((s) => s.id === "blocked-attacker-domain")?.probes[0]?.destination;
    assert.equal(n, "exfil-abcdef01.attacker.example:443/tcp");
  });

  void it("probes every declared phase, or only the one asked for", () => {
    const ph = policy(`version: 1
name: phased
extends: [attested-runtime]
rules:
  - name: app
    phase: workload
    allow: [app.example.com]
    ports: [443]
    protocol: tcp
`);
    const all = builtinScenarios(ph).find((s) => s.id === "direct-ip");
    assert.ok(all?.probes.some((x) => x.destination.endsWith("@bootstrap")) && all.probes.some((x) => x.destination.endsWith("@workload")));
    const one = builtinScenarios(ph, { phase: "workload" });
    assert.ok(one.find((s) => s.id === "direct-ip")?.probes.every((x) => x.destination.endsWith("@workload")));
    assert.ok(one.some((s) => s.id === "allowed-destinations:app"));
    assert.ok(!one.some((s) => s.id === "allowed-destinations:bootstrap-pcs"), "bootstrap-only rules are not probed in workload");
  });

  void it("exempts exactly listed destinations and shows why, but never broad entries", () => {
    const listed = policy(`${BASE}  - name: corp-ssh
    priority: 5
    allow: [10.0.0.0/24]
    ports: [22]
    protocol: tcp
`);
    const s = builtinScenarios(listed).find((x) => x.id === "internal-ranges");
    assert.deepEqual(s?.exempt.map((e) => e.destination), ["10.0.0.1:22/tcp"]);
    assert.match(s?.exempt[0]?.reason ?? "", /^listed by allow rule corp-ssh \(policy\.yaml:\d+:\d+\)/);
    assert.ok(!s?.probes.some((x) => x.destination.startsWith("10.0.0.1:")));
    const broad = policy(BASE.replace("[api.example.com]", "[api.example.com, 10.0.0.0/8]").replace("ports: [443]", "ports: [22, 443]"));
    assert.deepEqual(builtinScenarios(broad).find((x) => x.id === "internal-ranges")?.exempt, []);
  });
});
