/**
 * `clawfence explain POLICY DEST... [--json] [--phase P]` through cli/main, in-process with
 * injected streams, against a policy written to a temporary directory: verdicts, rule
 * positions, reasons, the DEST forms, and exit codes (0 explained, 2 usage, 1 policy errors).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { main, reportFailure } from "../../../src/cli/main.ts";
import { parseDest } from "../../../src/cli/commands/explain.ts";
import { CliError } from "../../../src/cli/errors.ts";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const POLICY = `version: 1
name: demo
internal: [10.0.0.0/8]
phases: [bootstrap, workload]
rules:
  - name: shadow-deny
    deny: ["*.shadow.example"]
  - name: web
    allow: [api.example.com, "*.github.com", 203.0.113.0/24]
    ports: [443]
    protocol: tcp
  - name: attest
    allow: [attest.example]
    phase: bootstrap
  - name: staged
    deny: [dns.google]
    mode: monitor
  - name: lan
    allow: [db.corp.example]
    ports: [5432]
default: deny
`;

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "cf-explain-"));
  writeFileSync(join(dir, "policy.yaml"), POLICY);
  writeFileSync(join(dir, "broken.yaml"), "version: 1\nname: Bad Name\nrules: []\n");
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new Sink();
  const err = new Sink();
  const io = { stdout: out, stderr: err, cwd: dir, env: {} };
  let code: number;
  try {
    code = await main(["explain", ...args], io);
  } catch (e) {
    code = reportFailure(e, io);
  }
  return { code, out: out.text, err: err.text };
}

interface Row {
  destination: string;
  verdict: string;
  enforced: boolean;
  rule: string;
  reason: string;
  protocol: string;
  port: number | null;
  name?: string;
  ip?: string;
  phase?: string;
  rule_pos?: string;
}
async function json(...args: string[]): Promise<Row[]> {
  const r = await cli(["policy.yaml", "--json", ...args]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as Row[];
}

void describe("explain --json", () => {
  const cases: Array<[string, string[], Partial<Row>]> = [
    ["an allowed name names its rule and position", ["api.example.com:443"], { verdict: "allow", enforced: true, rule: "web", reason: "rule-allow", rule_pos: "policy.yaml:8:5", name: "api.example.com", port: 443, protocol: "tcp" }],
    ["no port means 443/tcp", ["api.example.com"], { verdict: "allow", port: 443, protocol: "tcp" }],
    ["an unlisted port is a default deny", ["api.example.com:80"], { verdict: "deny", rule: "default", reason: "default-deny" }],
    ["udp to a tcp-only rule is denied", ["api.example.com:443/udp"], { verdict: "deny", protocol: "udp" }],
    ["a wildcard deny decides", ["x.shadow.example"], { verdict: "deny", rule: "shadow-deny", reason: "rule-deny", rule_pos: "policy.yaml:6:5" }],
    ["uppercase and a trailing dot are normalized", ["API.EXAMPLE.COM.:443"], { verdict: "allow", name: "api.example.com" }],
    ["an IDN is converted to punycode", ["bücher.example"], { name: "xn--bcher-kva.example", verdict: "deny" }],
    ["a monitor-mode deny would deny", ["dns.google:53/udp"], { verdict: "deny", enforced: false, rule: "staged", reason: "rule-deny" }],
    ["a literal CIDR allows an address", ["203.0.113.5:443"], { verdict: "allow", rule: "web", ip: "203.0.113.5" }],
    ["metadata is a special-range deny", ["169.254.169.254:80"], { verdict: "deny", rule: "default", reason: "special-range", ip: "169.254.169.254" }],
    ["a short IPv4 form is read as curl reads it", ["127.1:8080"], { reason: "special-range", ip: "127.0.0.1", port: 8080 }],
    ["bracketed IPv6 with a port", ["[2001:db8::1]:8443"], { ip: "2001:db8::1", port: 8443, reason: "special-range" }],
    ["bare IPv6 gets 443", ["2606:4700::1111"], { ip: "2606:4700::1111", port: 443, reason: "default-deny" }],
    ["ICMP has no port", ["api.example.com/icmp"], { protocol: "icmp", port: null, verdict: "deny" }],
    ["a bootstrap rule applies in the first phase", ["attest.example"], { verdict: "allow", rule: "attest", phase: "bootstrap" }],
    ["a bootstrap rule is inactive with --phase workload", ["attest.example", "--phase", "workload"], { verdict: "deny", reason: "phase-inactive", phase: "workload" }],
  ];
  for (const [name, args, want] of cases) {
    void it(name, async () => {
      const [row] = await json(...args);
      assert.ok(row);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(row[k as keyof Row], v, `${k} of ${JSON.stringify(row)}`);
      assert.equal(row.destination, args[0]);
    });
  }
  void it("several destinations give one object each, in order", async () => {
    const rows = await json("api.example.com", "x.shadow.example", "10.1.2.3:22");
    assert.deepEqual(
      rows.map((r) => [r.destination, r.verdict, r.rule]),
      [
        ["api.example.com", "allow", "web"],
        ["x.shadow.example", "deny", "shadow-deny"],
        ["10.1.2.3:22", "deny", "default"],
      ],
    );
  });
});

void describe("explain text output", () => {
  void it("shows destination, verdict, rule with position, reason, and the assumed port", async () => {
    const r = await cli(["policy.yaml", "api.example.com"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^api\.example\.com: allow$/m);
    assert.match(r.out, /destination: api\.example\.com port 443\/tcp \(no port given: assumed 443\)/);
    assert.match(r.out, /rule: +web \(policy\.yaml:8:5\)/);
    assert.match(r.out, /reason: +rule-allow/);
  });
  void it("says would deny for a monitor-mode deny", async () => {
    const r = await cli(["policy.yaml", "dns.google:443"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^dns\.google:443: would deny$/m);
  });
  void it("explains a special-range deny with the range", async () => {
    const r = await cli(["policy.yaml", "169.254.169.254"]);
    assert.match(r.out, /169\.254\.169\.254\/32 is special-purpose \(cloud metadata/);
  });
});

void describe("explain usage errors exit 2", () => {
  const cases: Array<[string, string[], RegExp]> = [
    ["no destination", ["policy.yaml"], /CF_USAGE_ARGS/],
    ["no arguments", [], /CF_USAGE_ARGS/],
    ["an unknown option", ["policy.yaml", "a.example", "--frobnicate"], /CF_USAGE_ARGS/],
    ["a port out of range", ["policy.yaml", "a.example:70000"], /CF_USAGE_DEST.*'70000' is not a port/],
    ["a non-numeric port", ["policy.yaml", "a.example:https"], /CF_USAGE_DEST/],
    ["an unknown protocol", ["policy.yaml", "a.example:443/sctp"], /CF_USAGE_DEST.*not a protocol/],
    ["a CIDR instead of an address", ["policy.yaml", "10.0.0.0/8"], /CF_USAGE_DEST[\s\S]*not networks/],
    ["a port with ICMP", ["policy.yaml", "a.example:80/icmp"], /CF_USAGE_DEST.*ICMP has no ports/],
    ["an invalid numeric host", ["policy.yaml", "1.2.3.256"], /CF_USAGE_DEST.*not a valid address/],
    ["an unclosed bracket", ["policy.yaml", "[::1:443"], /CF_USAGE_DEST.*unclosed/],
    ["brackets around a non-IPv6", ["policy.yaml", "[example.com]:443"], /CF_USAGE_DEST/],
    ["an empty label", ["policy.yaml", "a..example"], /CF_USAGE_DEST.*not a valid host name/],
    ["an unknown phase", ["policy.yaml", "a.example", "--phase", "later"], /CF_USAGE_PHASE[\s\S]*bootstrap, workload/],
    ["a missing policy file", ["nope.yaml", "a.example"], /CF_IO_READ/],
  ];
  for (const [name, args, rx] of cases) {
    void it(name, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2, `${r.out}${r.err}`);
      assert.match(r.err, rx);
      assert.match(r.err, /fix: /);
      assert.equal(r.out, "");
    });
  }
  void it("a policy with errors exits 1 with diagnostics", async () => {
    const r = await cli(["broken.yaml", "a.example"]);
    assert.equal(r.code, 1);
    assert.match(r.err, /broken\.yaml:\d+:\d+: error CF/);
  });
  void it("--help prints usage and exits 0", async () => {
    const r = await cli(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.out, /usage: clawfence explain/);
  });
});

void describe("parseDest", () => {
  const ok: Array<[string, string, string]> = [
    ["a name with port and protocol", "dns.google:53/udp", "udp 53 name=dns.google"],
    ["a hex address", "0x7f000001:80", "tcp 80 ip=127.0.0.1"],
    ["an IPv4-mapped IPv6 in brackets", "[::ffff:10.0.0.1]:22", "tcp 22 ip=::ffff:10.0.0.1"],
    ["a bare IPv6 with a protocol", "2001:db8::1/udp", "udp 443 ip=2001:db8::1"],
    ["an _srv._tcp name", "_ldap._tcp.example.com:389", "tcp 389 name=_ldap._tcp.example.com"],
  ];
  for (const [name, text, want] of ok) {
    void it(name, () => {
      const d = parseDest(text);
      assert.equal(`${d.protocol} ${d.port ?? "-"} ${d.name !== undefined ? `name=${d.name}` : `ip=${d.ip ?? ""}`}`, want);
    });
  }
  void it("a phase is carried into the flow", () => assert.equal(parseDest("a.example", "work").flow.phase, "work"));
  void it("an empty destination is a usage error", () => assert.throws(() => parseDest(" "), (e: unknown) => e instanceof CliError && e.code === "CF_USAGE_DEST"));
});
