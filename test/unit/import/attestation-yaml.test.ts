/**
 * `clawfence import` of seed 000's attestation allowlist (destination / purpose / protocol /
 * required): the seed's own list — in its flat layout and properly indented — becomes a
 * bootstrap-phase policy that loads and decides as the list meant.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { detectFormat, importAttestationYaml, importPolicy } from "../../../src/policy/import/index.ts";
import { PolicyError, type Diagnostic } from "../../../src/policy/errors.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { flow, load } from "../catalogs/helpers.ts";

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/import/${name}`, import.meta.url), "utf8");
const FLAT = fixture("seed-000-attestation.yaml");
const INDENTED = fixture("seed-000-attestation-indented.yaml");

function errorsOf(text: string): Diagnostic[] {
  try {
    importAttestationYaml(text, "list.yaml");
  } catch (e) {
    if (e instanceof PolicyError) return [...e.diagnostics];
    throw e;
  }
  assert.fail("expected the import to fail");
}

void test("seed 000's list imports into a policy with phases bootstrap and workload that loads", () => {
  const r = importAttestationYaml(FLAT, "attestation.yaml");
  const p = load(r.yaml);
  assert.deepEqual(p.phases, ["bootstrap", "workload"]);
  assert.equal(p.rules.length, 5);
  for (const rule of p.rules) assert.deepEqual(rule.phases, ["bootstrap"]);
  assert.equal(p.description, "Minimal Network Allowlist (Egress) (imported from attestation.yaml)");
});

void test("seed 000's flat layout and the properly indented one give the same policy", () => {
  const flat = importAttestationYaml(FLAT, "attestation.yaml");
  const indented = importAttestationYaml(INDENTED, "attestation.yaml");
  assert.equal(flat.yaml, indented.yaml);
  assert.deepEqual(flat.diagnostics.map((d) => [d.code, d.severity]), [["CF6019", "info"]]);
  assert.deepEqual(indented.diagnostics, []);
});

const TABLE: ReadonlyArray<readonly [string, string, string | undefined, "allow" | "deny", string]> = [
  ["the time server is reachable over UDP 123 in bootstrap", "time.example.internal:123/udp", "bootstrap", "allow", "rule-allow"],
  ["the time server is not reachable over TCP 123", "time.example.internal:123/tcp", "bootstrap", "deny", "default-deny"],
  ["the time server is closed once the workload phase starts", "time.example.internal:123/udp", "workload", "deny", "phase-inactive"],
  ["the attestation service is reachable on 443 in the first phase", "api.trusted-attestation.service.example.com:443/tcp", undefined, "allow", "rule-allow"],
  ["the Microsoft CRL is reachable over HTTP 80 in bootstrap", "crl.microsoft.com:80/tcp", "bootstrap", "allow", "rule-allow"],
  ["the Microsoft CRL is not reachable on 443: the list names port 80", "crl.microsoft.com:443/tcp", "bootstrap", "deny", "default-deny"],
  ["anything else is denied", "attacker.example.net:443/tcp", "bootstrap", "deny", "default-deny"],
];

for (const [sentence, dest, phase, verdict, reason] of TABLE) {
  void test(sentence, () => {
    const d = compileDecider(load(importAttestationYaml(FLAT, "attestation.yaml").yaml)).decide(flow(dest, phase));
    assert.equal(d.verdict, verdict);
    assert.equal(d.reason, reason);
  });
}

void test("purpose, required and protocol go into each rule's description", () => {
  const rules = (parse(importAttestationYaml(FLAT, "a.yaml").yaml) as { rules: Array<{ name: string; description: string; protocol: string }> }).rules;
  const ntp = rules.find((r) => r.name === "bootstrap-time-example-internal-123");
  assert.equal(ntp?.description, "Network Time Protocol synchronization (required: Always; protocol: UDP/NTP)");
  assert.equal(ntp?.protocol, "udp");
});

void test("a destination without a port takes the well-known port of its application protocol", () => {
  const r = importAttestationYaml("- destination: pcs.example.com\n  protocol: TCP/HTTPS\n", "a.yaml");
  const p = load(r.yaml);
  assert.deepEqual(p.rules[0]?.ports, [{ from: 443, to: 443 }]);
});

void test("an entry with an IPv6 address and a port", () => {
  const p = load(importAttestationYaml("- destination: \"[2001:db8::5]:8443\"\n  protocol: TCP\n", "a.yaml").yaml);
  assert.equal(compileDecider(p).decide(flow("[2001:db8::5]:8443/tcp")).verdict, "allow");
});

const BAD: ReadonlyArray<readonly [string, string, string, number]> = [
  ["an entry without destination", "- purpose: x\n  protocol: TCP/HTTPS\n", "CF6012", 1],
  ["an unknown protocol", "- destination: a.example.com:443\n  protocol: SCTP\n", "CF6013", 2],
  ["a TCP entry without a port", "- destination: a.example.com\n  protocol: TCP\n", "CF6014", 1],
  ["ICMP with a port", "- destination: a.example.com:7\n  protocol: ICMP\n", "CF6018", 1],
  ["an entry without protocol", "- destination: a.example.com:443\n", "CF6016", 1],
  ["a destination that is a URL", "- destination: https://a.example.com/x\n  protocol: TCP/HTTPS\n", "CF6001", 1],
  ["a bad port", "- destination: a.example.com:0\n  protocol: TCP\n", "CF6002", 1],
  ["a YAML syntax error (reported where the parser notices it)", "- destination: [a\n", "CF6010", 2],
  ["a document that is not a list", "destination: a.example.com:443\n", "CF6011", 1],
  ["a nested value", "- destination: {host: a}\n  protocol: TCP\n", "CF6017", 1],
];

for (const [sentence, text, code, line] of BAD) {
  void test(`refused with a line number: ${sentence}`, () => {
    const errors = errorsOf(text);
    const d = errors.find((x) => x.severity === "error");
    assert.equal(d?.code, code, JSON.stringify(errors));
    assert.equal(d?.pos?.line, line);
    assert.ok(d?.fix);
  });
}

void test("every bad entry is reported, not only the first", () => {
  const errors = errorsOf("- destination: a.example.com:443\n  protocol: SCTP\n- destination: b.example.com\n  protocol: UDP\n");
  assert.deepEqual(errors.map((d) => [d.code, d.pos?.line]), [["CF6013", 2], ["CF6014", 3]]);
});

void test("an unknown key is a warning and is not imported", () => {
  const r = importAttestationYaml("- destination: a.example.com:443\n  protocol: TCP/HTTPS\n  owner: team-x\n", "a.yaml");
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, d.pos?.line]), [["CF6015", "warning", 3]]);
});

void test("diagnostics on a flat line point at the column as written", () => {
  const errors = errorsOf("- destination: a.example.com:443\nprotocol: SCTP\n");
  const d = errors.find((x) => x.code === "CF6013");
  assert.deepEqual([d?.pos?.line, d?.pos?.column], [2, 11]);
});

void test("a .yaml file, or a list with destination keys, is detected as attestation-yaml", () => {
  assert.equal(detectFormat(FLAT, "anything.txt"), "attestation-yaml");
  assert.equal(detectFormat("api.example.com:443\n", "list.yml"), "attestation-yaml");
  assert.equal(importPolicy(FLAT, "attestation.yaml").format, "attestation-yaml");
});
