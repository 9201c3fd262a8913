/**
 * verify/live/plan: the pure half of `verify --live` (what each probe does, which far-side
 * records decide it, the world's addresses, runs and waves). The live half (namespaces, a
 * real sandbox) is test/integration/verify-live.test.ts.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadPolicyText } from "../../../src/policy/load.ts";
import { builtinScenarios } from "../../../src/verify/builtin.ts";
import { buildPlan, farKey } from "../../../src/verify/live/plan.ts";

const policy = (extra: string, minTtl = 1): ReturnType<typeof loadPolicyText> =>
  loadPolicyText(
    `version: 1\nname: p\ndns:\n  min_ttl: ${minTtl}\nrules:\n  - name: allow-api\n    allow: [api.example.com]\n    ports: [443, 8443]\n    protocol: tcp\n${extra}default: deny\n`,
    "/p/policy.yaml",
    () => "",
  );

void describe("the live plan", () => {
  void it("gives names addresses in a public range the policy does not list, and no probe literal falls in it", () => {
    const p = policy("  - name: eleven\n    allow: [11.0.0.0/8]\n");
    const plan = buildPlan(p, builtinScenarios(p));
    assert.equal(plan.worldRange, "21.0.0.0/16");
    for (const z of plan.zone) assert.match(z.a[0] ?? "", /^21\.0\./);
  });

  void it("no two probes of one wave share a far-side target", () => {
    const p = policy("");
    const plan = buildPlan(p, builtinScenarios(p));
    for (const run of plan.runs) {
      for (const w of run.waves) {
        const keys = w.probes.flatMap((x) => x.far.map(farKey));
        assert.equal(new Set(keys).size, keys.length, `wave ${w.index}`);
      }
    }
  });

  void it("ICMP, loopback and added-rule probes are not probed live, each with the reason", () => {
    const p = policy("");
    const plan = buildPlan(p, builtinScenarios(p));
    const why = (id: string): string[] => [...new Set(plan.notLive.filter((n) => n.scenario === id).map((n) => n.why.split(":")[0] ?? ""))];
    assert.deepEqual(why("icmp"), ["ICMP"]);
    const notations = plan.notLive.filter((n) => n.scenario === "special-notations").map((n) => n.why);
    assert.ok(notations.length > 0 && notations.every((w) => /the sandbox/.test(w)), notations.join("\n"));
    assert.deepEqual(why("monitor-to-enforce"), ["it needs a changed policy (an added allow rule); live mode runs the policy as given"]);
  });

  void it("monitor-mode probes get a run of their own, and --sandbox-mode forces one mode for all", () => {
    const p = policy("");
    const plan = buildPlan(p, builtinScenarios(p));
    assert.deepEqual(
      plan.runs.map((r) => r.key.mode),
      ["as-written", "monitor"],
    );
    const forced = buildPlan(p, builtinScenarios(p), { sandboxMode: "monitor" });
    assert.deepEqual(
      forced.runs.map((r) => r.key.mode),
      ["monitor"],
    );
  });

  void it("ttl-reuse connects twice to the same target, the second time after max(TTL, min_ttl) plus a margin", () => {
    const p = policy("", 3);
    const plan = buildPlan(p, builtinScenarios(p));
    const ttl = plan.probes.filter((x) => x.scenario === "ttl-reuse");
    assert.deepEqual(
      ttl.map((x) => [x.probe.expect, x.stage, x.delayMs ?? 0]),
      [
        ["allow", 2, 0],
        ["deny", 3, 5000],
      ],
    );
    assert.equal(plan.zone.find((z) => z.name === "api.example.com")?.ttl, 1);
  });

  void it("ttl-reuse is skipped with the reason when min_ttl is long, and sni-mismatch when no exact name is allowed on 443", () => {
    const p = policy("", 300);
    assert.match(buildPlan(p, builtinScenarios(p)).skipped.get("ttl-reuse") ?? "", /min_ttl is 300 s/);
    const q = loadPolicyText("version: 1\nname: q\nrules:\n  - name: web\n    allow: [any]\n    ports: [80]\n    protocol: tcp\ndefault: deny\n", "/q.yaml", () => "");
    assert.match(buildPlan(q, builtinScenarios(q)).skipped.get("sni-mismatch") ?? "", /^not applicable: no allow rule lists an exact name on tcp 443/);
  });

  void it("a rebinding probe makes the world's zone answer the allowed name with the special address too", () => {
    const p = policy("");
    const plan = buildPlan(p, builtinScenarios(p));
    const z = plan.zone.find((x) => x.name === "api.example.com");
    assert.ok(z?.a.includes("169.254.169.254") && z.a.includes("10.0.0.1"), JSON.stringify(z));
    assert.ok(z !== undefined && !z.a.includes("127.0.0.1"));
  });
});
