/**
 * `clawfence verify --live` end to end: the live world (two namespaces, a resolver, far-side
 * recorders), one real `clawfence run` sandbox per run, probes as `nobody`, verdicts from
 * what reached the far side. Nothing is mocked.
 *
 *  - a small closed policy passes live, every live-only class included, and the evidence
 *    names what the far side recorded (the allowed destination did arrive: not vacuous);
 *  - a policy with a hole (a /7 that covers the address direct-ip probes) fails direct-ip
 *    live, with the far side's record as evidence;
 *  - broken enforcement (`--sandbox-mode monitor`: the sandbox lets everything through while
 *    the policy says enforce) fails live where static mode passes;
 *  - without root, --live exits 2 with CF_VERIFY_LIVE_ROOT.
 * Each run cleans its world up; the test checks no namespace of ours is left.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dirname, "..", "..");
const MAIN = join(REPO, "src", "cli", "main.ts");
const isRoot = process.getuid?.() === 0;
const haveTools = ["ip", "nft", "setpriv"].every((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status === 0);
const skip = !isRoot ? "needs root" : !haveTools ? "needs ip, nft and setpriv" : false;

const CLOSED = `version: 1
name: live-closed
dns:
  min_ttl: 1
rules:
  - name: allow-api
    allow: [api.example.com]
    ports: [443, 8443]
    protocol: tcp
default: deny
`;

const HOLE = `version: 1
name: live-hole
dns:
  min_ttl: 1
rules:
  - name: allow-api
    allow: [api.example.com]
    ports: [443, 8443]
    protocol: tcp
  - name: too-wide
    description: a /7 that happens to cover an address the escape suite probes
    allow: [44.0.0.0/7]
    protocol: tcp
default: deny
`;

interface Json {
  ok: boolean;
  mode: string;
  results: Array<{ id: string; status: string; skip_reason?: string; probes: Array<{ destination: string; status: string; evidence: string; expected: { verdict: string } }> }>;
}

let dir = "";
const verify = (args: string[]): { code: number; out: string; err: string } => {
  const r = spawnSync(process.execPath, [MAIN, "verify", ...args], { cwd: dir, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
};
const ours = (): string[] =>
  spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => /^cfv[hi]-/.test(n));

void describe("verify --live", { skip }, () => {
  let before0: string[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "cf-verify-live-"));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "closed.yaml"), CLOSED, { mode: 0o644 });
    writeFileSync(join(dir, "hole.yaml"), HOLE, { mode: 0o644 });
    before0 = ours();
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  void it("a closed policy passes live, live-only classes included, judged by what reached the far side", () => {
    const r = verify(["--policy", "closed.yaml", "--live", "--format", "json"]);
    const doc = JSON.parse(r.out) as Json;
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(doc.mode, "live");
    const by = new Map(doc.results.map((x) => [x.id, x]));
    for (const id of ["connect-unlisted", "sni-mismatch", "host-services", "change-rules", "proxy-variables", "ttl-reuse", "direct-ip", "dns-tunnel"]) {
      assert.equal(by.get(id)?.status, "pass", `${id}: ${JSON.stringify(by.get(id))}`);
    }
    // the allowed destination really arrived (with its SNI), so the denials are not vacuous
    const allowed = by.get("allowed-destinations:allow-api")?.probes[0];
    assert.match(allowed?.evidence ?? "", /far side: recorded .*11\.0\.1\.\d+:443 .*TLS, SNI api\.example\.com/);
    const sni = by.get("sni-mismatch")?.probes ?? [];
    assert.match(sni.find((p) => p.expected.verdict === "deny")?.evidence ?? "", /far side: nothing reached .*:443\/tcp \(bytes\)/);
    assert.match(sni.find((p) => p.expected.verdict === "allow")?.evidence ?? "", /far side: recorded \d+ bytes .*SNI api\.example\.com/);
    const ttl = by.get("ttl-reuse")?.probes ?? [];
    assert.deepEqual(
      ttl.map((p) => p.expected.verdict),
      ["allow", "deny"],
    );
    assert.match(by.get("change-rules")?.probes[0]?.evidence ?? "", /ruleset is unchanged; tables cfp_\w+, cfh_\w+ in place; client saw: uid 65534, CapEff 0000000000000000; nft flush ruleset: failed/);
    // ICMP is not something the unprivileged probe can send: said, never passed
    assert.equal(by.get("icmp")?.status, "skip");
    assert.match(by.get("icmp")?.skip_reason ?? "", /^not probed live: ICMP/);
  });

  void it("a policy with a hole fails live for the scenario that finds it, with the far side's record", () => {
    const r = verify(["--policy", "hole.yaml", "--live", "--format", "json", "--skip", "ttl-reuse,doh,blocked-shadow-model"]);
    const doc = JSON.parse(r.out) as Json;
    assert.equal(r.code, 1, r.err);
    const direct = doc.results.find((x) => x.id === "direct-ip");
    assert.equal(direct?.status, "fail");
    const p22 = direct?.probes.find((p) => p.destination === "45.33.32.156:22/tcp");
    assert.equal(p22?.status, "fail");
    assert.match(p22?.evidence ?? "", /^expected deny, but it reached the far side; decide\(\) disagrees too\. far side: recorded TCP connection to 45\.33\.32\.156:22 .*decide\(\): allow by too-wide/);
    // the rest of the policy still holds live
    assert.equal(doc.results.find((x) => x.id === "other-port")?.status, "pass");
  });

  void it("broken enforcement (the sandbox forced to monitor) fails live where static mode passes", () => {
    const skipSlow = ["--skip", "ttl-reuse,doh,blocked-shadow-model"];
    const st = verify(["--policy", "closed.yaml", "--format", "json", ...skipSlow]);
    assert.equal(st.code, 0, st.out);
    const r = verify(["--policy", "closed.yaml", "--live", "--sandbox-mode", "monitor", "--format", "json", ...skipSlow]);
    const doc = JSON.parse(r.out) as Json;
    assert.equal(r.code, 1, r.err);
    const by = new Map(doc.results.map((x) => [x.id, x]));
    for (const id of ["direct-ip", "blocked-attacker-domain", "other-port", "dns-tunnel", "connect-unlisted", "sni-mismatch"]) {
      assert.equal(by.get(id)?.status, "fail", `${id} should fail live under a monitor sandbox`);
    }
    const tunnel = by.get("dns-tunnel")?.probes[0];
    assert.match(tunnel?.evidence ?? "", /reached the far side\. far side: recorded a A question for .*tunnel\.example/);
    // what monitor mode cannot loosen still holds: the user cannot change rules or reach the host
    assert.equal(by.get("change-rules")?.status, "pass");
    assert.equal(by.get("host-services")?.status, "pass");
  });

  void it("without root, --live exits 2 with CF_VERIFY_LIVE_ROOT and a fix", () => {
    const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", process.execPath, MAIN, "verify", "--policy", join(dir, "closed.yaml"), "--live"], { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /error CF_VERIFY_LIVE_ROOT: verify --live needs root.*\n {2}fix: run it with sudo/);
  });

  void it("leaves no namespace of its worlds behind", () => {
    assert.deepEqual(
      ours().filter((n) => !before0.includes(n)),
      [],
    );
  });
});
