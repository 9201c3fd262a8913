/**
 * runtime/enforce/policy-edit: `clawfence allow` as a YAML document edit. The result must keep
 * every comment and the order of what was there, and load as a policy.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { addAllow, parseHostArg } from "../../../src/runtime/enforce/policy-edit.ts";
import { loadPolicyText } from "../../../src/policy/load.ts";
import { RuntimeError } from "../../../src/runtime/errors.ts";

const POLICY = `# agents on the egress bridge
version: 1
name: egress # seed 002
rules:
  # the registries
  - name: registries
    allow: [registry.example.com] # npm mirror
    ports: [443]
    protocol: tcp
  - name: ssh
    allow:
      - github.com
    ports: ["22"]
    protocol: tcp
default: deny
`;

const load = (text: string) => loadPolicyText(text, "p.yaml", () => {
  throw new Error("no extends here");
});

const hostArgs: Array<[string, string, number | null]> = [
  ["api.example.com:443", "api.example.com", 443],
  ["api.example.com", "api.example.com", null],
  ["*.example.com:8443", "*.example.com", 8443],
  ["192.0.2.7:22", "192.0.2.7", 22],
  ["[2001:db8::1]:443", "2001:db8::1", 443],
  ["2001:db8::1", "2001:db8::1", null],
  ["10.0.0.0/8", "10.0.0.0/8", null],
];
for (const [arg, host, port] of hostArgs) {
  void test(`'${arg}' is host ${host}, port ${String(port)}`, () => assert.deepEqual(parseHostArg(arg), { host, port }));
}
for (const bad of ["", "a.com:0", "a.com:70000", "a.com:x", "a b:1"]) {
  void test(`'${bad}' is not HOST[:PORT]`, () => assert.throws(() => parseHostArg(bad), (e: unknown) => e instanceof RuntimeError && e.code === "CF_RUNTIME_ALLOW_HOST"));
}

void test("a new host:port creates rule allowed-by-cli at the end, keeping comments and order", () => {
  const r = addAllow(POLICY, { host: "api.example.com", port: 443, comment: "Example API" });
  assert.equal(r.rule, "allowed-by-cli");
  assert.equal(r.created, true);
  assert.ok(r.text.startsWith("# agents on the egress bridge\nversion: 1\nname: egress # seed 002\nrules:\n  # the registries\n"), r.text);
  assert.match(r.text, /allow: \[ registry\.example\.com \] # npm mirror/);
  assert.match(r.text, /- name: allowed-by-cli\n\s+allow:\n\s+- api\.example\.com # Example API\n\s+ports: \[ 443 \]\n\s+protocol: tcp\n/);
  assert.ok(r.text.indexOf("name: ssh") < r.text.indexOf("allowed-by-cli"));
  assert.ok(r.text.trimEnd().endsWith("default: deny"));
  const p = load(r.text);
  const rule = p.rules.find((x) => x.name === "allowed-by-cli");
  assert.deepEqual(rule?.ports, [{ from: 443, to: 443 }]);
  assert.equal(rule?.protocol, "tcp");
});

void test("a second host on the same port joins allowed-by-cli; another port gets allowed-by-cli-PORT", () => {
  const one = addAllow(POLICY, { host: "a.example.com", port: 443 }).text;
  const two = addAllow(one, { host: "b.example.com", port: 443 });
  assert.equal(two.rule, "allowed-by-cli");
  assert.equal(two.created, false);
  const three = addAllow(two.text, { host: "c.example.com", port: 8080 });
  assert.equal(three.rule, "allowed-by-cli-8080");
  const p = load(three.text);
  assert.deepEqual(p.rules.map((r) => r.name), ["registries", "ssh", "allowed-by-cli", "allowed-by-cli-8080"]);
  assert.equal(p.rules[2]?.dests.length, 2);
});

void test("a host without a port goes to allowed-by-cli-all-ports when allowed-by-cli has ports", () => {
  const one = addAllow(POLICY, { host: "a.example.com", port: 443 }).text;
  const r = addAllow(one, { host: "internal-api.example.com", port: null });
  assert.equal(r.rule, "allowed-by-cli-all-ports");
  const rule = load(r.text).rules.find((x) => x.name === "allowed-by-cli-all-ports");
  assert.equal(rule?.ports, null);
  assert.equal(rule?.protocol, "any");
});

void test("--rule adds to an existing allow rule whose ports cover the port; a flow list stays flow unless a comment needs a line", () => {
  const r = addAllow(POLICY, { host: "registry2.example.com", port: 443, rule: "registries" });
  assert.equal(r.created, false);
  assert.match(r.text, /allow: \[ registry\.example\.com, registry2\.example\.com \] # npm mirror/);
  const c = addAllow(POLICY, { host: "gitlab.com", port: 22, rule: "ssh", comment: "mirror" });
  assert.match(c.text, /- github\.com\n\s+- gitlab\.com # mirror\n/);
});

void test("--rule refuses a port the rule does not cover, and a portless host for a rule with ports", () => {
  assert.throws(() => addAllow(POLICY, { host: "x.example.com", port: 8443, rule: "registries" }), (e: unknown) => e instanceof RuntimeError && e.code === "CF_RUNTIME_ALLOW_PORT");
  assert.throws(() => addAllow(POLICY, { host: "x.example.com", port: null, rule: "ssh" }), (e: unknown) => e instanceof RuntimeError && e.code === "CF_RUNTIME_ALLOW_PORT");
});

void test("--rule naming a deny rule is refused; a missing rule is created", () => {
  const withDeny = POLICY.replace("default: deny", "  - name: blocked\n    deny: [evil.example.com]\ndefault: deny");
  assert.throws(() => addAllow(withDeny, { host: "x.example.com", port: 443, rule: "blocked" }), (e: unknown) => e instanceof RuntimeError && e.code === "CF_RUNTIME_ALLOW_RULE");
  const r = addAllow(POLICY, { host: "x.example.com", port: 443, rule: "partners" });
  assert.equal(r.created, true);
  assert.ok(load(r.text).rules.some((x) => x.name === "partners"));
});

void test("an entry already present changes nothing", () => {
  const r = addAllow(POLICY, { host: "REGISTRY.example.com", port: 443, rule: "registries" });
  assert.equal(r.unchanged, true);
  assert.equal(r.text, POLICY);
});

void test("wildcards and IPv6 addresses are quoted so the YAML stays valid", () => {
  const r = addAllow(POLICY, { host: "*.cdn.example.com", port: 443 });
  const s = addAllow(r.text, { host: "2001:db8::1", port: 443 });
  const p = load(s.text);
  const kinds = p.rules.find((x) => x.name === "allowed-by-cli")?.dests.map((d) => d.kind);
  assert.deepEqual(kinds, ["wildcard", "cidr"]);
});

void test("a policy without rules gets a rules list; broken YAML is refused", () => {
  const r = addAllow("version: 1\nname: empty\n", { host: "a.example.com", port: 443 });
  assert.equal(load(r.text).rules.length, 1);
  assert.throws(() => addAllow("version: 1\nrules: [\n", { host: "a.example.com", port: 443 }), (e: unknown) => e instanceof RuntimeError && e.code === "CF_RUNTIME_ALLOW_YAML");
});
