/**
 * No built-in scenario can pass vacuously: for every built-in family that static mode judges,
 * a policy with the hole (test/fixtures/verify/holes/<family>[.variant].yaml, each the closed
 * base policy plus one hole) makes that family fail and `clawfence verify` exit 1, and the
 * failure names the rule that let the flow through. The closed base and every built-in preset
 * pass every built-in; live-only families are reported skipped, never passed.
 *
 * Runs `clawfence verify` through cli/main in-process (injected streams) with --format json.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { main, reportFailure } from "../../../src/cli/main.ts";
import { loadPolicyText } from "../../../src/policy/load.ts";
import { PRESETS } from "../../../src/policy/presets/index.ts";
import { BUILTINS, builtinScenarios } from "../../../src/verify/builtin.ts";
import { createStaticRunner, runVerify } from "../../../src/verify/runner.ts";
import { succeeded } from "../../../src/verify/report.ts";

const FIXTURES = join(import.meta.dirname, "../../fixtures/verify");

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.text += chunk.toString();
    cb();
  }
}

interface JsonProbe {
  destination: string;
  status: string;
  actual: { verdict: string; enforced: boolean; rule: string; reason: string };
  evidence: string;
}
interface JsonResult {
  id: string;
  family: string;
  status: string;
  skip_reason?: string;
  probes: JsonProbe[];
}
interface JsonReport {
  ok: boolean;
  results: JsonResult[];
}

async function verify(args: readonly string[]): Promise<{ code: number; report: JsonReport; err: string }> {
  const out = new Sink();
  const err = new Sink();
  const io = { stdout: out, stderr: err, cwd: FIXTURES, env: {} };
  let code: number;
  try {
    code = await main(["verify", ...args, "--format", "json"], io);
  } catch (e) {
    code = reportFailure(e, io);
  }
  return { code, report: JSON.parse(out.text) as JsonReport, err: err.text };
}

const LIVE_ONLY = BUILTINS.filter((b) => b.liveOnly !== undefined).map((b) => b.id);
const STATIC = BUILTINS.filter((b) => b.liveOnly === undefined).map((b) => b.id);

/**
 * Each hole, the families it must fail (exactly), and the rule that lets the flow through.
 * Where a hole also opens a second class, the table says so and why.
 */
const HOLES: ReadonlyArray<{ file: string; fails: readonly string[]; rule: string; why?: string }> = [
  { file: "allowed-destinations.yaml", fails: ["allowed-destinations"], rule: "deny-example" },
  { file: "blocked-attacker-domain.yaml", fails: ["blocked-attacker-domain"], rule: "partners" },
  { file: "blocked-shadow-model.yaml", fails: ["blocked-shadow-model"], rule: "vendor-sites" },
  { file: "blocked-shadow-model.monitor-only.yaml", fails: ["blocked-shadow-model"], rule: "shadow-model-deny" },
  { file: "blocked-external-dns.yaml", fails: ["blocked-external-dns"], rule: "google-dns" },
  { file: "monitor-to-enforce.yaml", fails: ["monitor-to-enforce"], rule: "deny-example-tld" },
  {
    file: "monitor-to-enforce.default-allow.yaml",
    fails: STATIC.filter((f) => f !== "allowed-destinations"),
    rule: "default",
    why: "default: allow opens every escape class too; monitor-to-enforce fails because a new destination is never would-deny",
  },
  { file: "direct-ip.yaml", fails: ["direct-ip"], rule: "ssh-anywhere" },
  { file: "other-port.yaml", fails: ["other-port"], rule: "example-alt-port" },
  { file: "udp-quic.yaml", fails: ["udp-quic"], rule: "example-quic" },
  { file: "icmp.yaml", fails: ["icmp"], rule: "ping-anywhere" },
  { file: "ipv6.yaml", fails: ["ipv6", "metadata"], rule: "v6-web", why: "2000::/3 contains 6to4 (2002::/16), so the 6to4 form of 169.254.169.254 is open too" },
  { file: "other-resolvers.yaml", fails: ["other-resolvers"], rule: "yandex-dns" },
  { file: "doh.yaml", fails: ["doh"], rule: "cloudflare-web" },
  { file: "dns-tunnel.yaml", fails: ["dns-tunnel"], rule: "git-anywhere" },
  { file: "dns-rebinding.yaml", fails: ["dns-rebinding"], rule: "web" },
  { file: "metadata.yaml", fails: ["metadata", "special-notations"], rule: "imds", why: "0xa9.0xfe.0xa9.0xfe is 169.254.169.254 in another notation" },
  { file: "special-notations.yaml", fails: ["special-notations"], rule: "local-web" },
  { file: "internal-ranges.yaml", fails: ["internal-ranges"], rule: "corp-ssh" },
];

void describe("every built-in scenario fails on a policy with its hole", () => {
  void it("every statically judged built-in family has a hole fixture, and every fixture is in the table", () => {
    const targets = new Set(HOLES.map((h) => h.file.split(".")[0]));
    for (const id of STATIC) assert.ok(targets.has(id), `no hole policy for built-in scenario ${id}`);
    const files = readdirSync(join(FIXTURES, "holes")).sort();
    assert.deepEqual(files, HOLES.map((h) => h.file).sort());
  });

  void it("the closed base policy passes every statically judged built-in, and skips only the live-only ones", async () => {
    const { code, report } = await verify(["--policy", "base.yaml"]);
    assert.equal(code, 0);
    assert.equal(report.ok, true);
    const failed = report.results.filter((r) => r.status === "fail").map((r) => r.id);
    assert.deepEqual(failed, []);
    const skipped = report.results.filter((r) => r.status === "skip");
    assert.deepEqual(skipped.map((r) => r.family).sort(), [...LIVE_ONLY].sort());
    for (const s of skipped) assert.match(s.skip_reason ?? "", /^live-only: /);
    for (const id of STATIC) assert.ok(report.results.some((r) => r.family === id && r.status === "pass" && r.probes.length > 0), `${id} passed with probes`);
  });

  for (const h of HOLES) {
    const target = h.file.split(".")[0] ?? "";
    void it(`${h.file}: ${target} fails${h.why ? ` (also ${h.fails.filter((f) => f !== target).join(", ")}: ${h.why})` : ""}, exit 1, and the failure names rule ${h.rule}`, async () => {
      const { code, report } = await verify(["--policy", join("holes", h.file)]);
      assert.equal(code, 1);
      assert.equal(report.ok, false);
      const failedFamilies = [...new Set(report.results.filter((r) => r.status === "fail").map((r) => r.family))].sort();
      assert.deepEqual(failedFamilies, [...h.fails].sort());
      const bad = report.results.filter((r) => r.family === target && r.status === "fail").flatMap((r) => r.probes.filter((p) => p.status === "fail"));
      assert.ok(bad.length > 0);
      assert.ok(bad.some((p) => p.actual.rule === h.rule && p.evidence.includes(h.rule)), `a failing probe of ${target} names rule ${h.rule}: ${JSON.stringify(bad[0])}`);
      for (const p of bad) assert.match(p.evidence, /^expected /);
    });
  }
});

void describe("the built-in presets pass every built-in scenario", () => {
  const vars = { npm_registry: "npm.registry.test", debian_mirror: "deb.mirror.test", aws_region: "eu-west-1" };
  for (const name of Object.keys(PRESETS)) {
    void it(`extends: [${name}] passes every statically judged built-in`, async () => {
      const policy = loadPolicyText(`version: 1\nname: uses-${name}\nextends: [${name}]\n`, "policy.yaml", () => assert.fail("no file reads"), { vars });
      const results = await runVerify(builtinScenarios(policy), createStaticRunner(policy));
      const failed = results.filter((r) => r.status === "fail");
      assert.deepEqual(
        failed.map((r) => `${r.scenario.id}: ${r.probes.find((p) => p.status === "fail")?.evidence ?? ""}`),
        [],
      );
      assert.ok(succeeded(results));
      for (const r of results) {
        if (r.status === "skip") assert.ok(r.scenario.liveOnly !== undefined || r.scenario.family === "other-port", `${r.scenario.id} skipped: ${r.skipReason ?? ""}`);
      }
    });
  }
});
