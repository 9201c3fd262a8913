/**
 * The scenarios file: a valid file becomes scenarios with the right flows; every kind of
 * mistake is a diagnostic with its code, file:line:column and a fix; the JSON Schema accepts
 * what the loader accepts; random text never crashes the loader.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { PolicyError } from "../../../src/policy/errors.ts";
import { loadPolicyText } from "../../../src/policy/load.ts";
import { formatIp } from "../../../src/match/ip.ts";
import { loadScenariosText, scenariosJsonSchema } from "../../../src/verify/scenarios-file.ts";

const POLICY = loadPolicyText(
  `version: 1
name: demo
phases: [bootstrap, workload]
rules:
  - name: web
    allow: [api.example.com]
    ports: [443]
    protocol: tcp
  - name: attest
    allow: [attest.example.com]
    phase: bootstrap
default: deny
`,
  "policy.yaml",
  () => assert.fail("no file reads"),
);

function problems(text: string): Array<{ code: string; where: string; message: string; fix: string }> {
  try {
    loadScenariosText(text, "sc.yaml", POLICY);
  } catch (e) {
    assert.ok(e instanceof PolicyError, String(e));
    return e.diagnostics.map((d) => ({ code: d.code, where: d.pos ? `${d.pos.line}:${d.pos.column}` : "", message: d.message, fix: d.fix ?? "" }));
  }
  return assert.fail("expected the file to be refused");
}

void describe("a valid scenarios file", () => {
  const loaded = loadScenariosText(
    `version: 1
builtin:
  disable: [doh, allowed-destinations:web]
scenarios:
  - id: api
    description: the API is reachable
    destination: API.Example.com.
    expect: allow
    rule: web
  - id: dns
    destination: 8.8.8.8
    port: 53
    protocol: udp
    expect: deny
    reason: default-deny
  - id: rebinding
    destination: "[::ffff:127.0.0.1]:443"
    names: [api.example.com]
    expect: deny
    reason: special-range
  - id: attest-later
    destination: attest.example.com:443/tcp
    phase: workload
    expect: deny
    rule: default
  - id: ping
    destination: 0x7f000001/icmp
    expect: deny
`,
    "sc.yaml",
    POLICY,
  );

  void it("keeps the order and ids, in group user, with the position of each scenario", () => {
    assert.deepEqual(
      loaded.scenarios.map((s) => s.id),
      ["api", "dns", "rebinding", "attest-later", "ping"],
    );
    for (const s of loaded.scenarios) assert.equal(s.group, "user");
    assert.deepEqual(loaded.scenarios[0]?.pos, { file: "sc.yaml", line: 5, column: 5 });
    assert.equal(loaded.scenarios[0]?.description, "the API is reachable");
  });

  void it("normalizes names and defaults the port to 443 and the protocol to tcp", () => {
    const c = loaded.scenarios[0]?.probes[0]?.check;
    assert.deepEqual(c, { kind: "flow", flow: { protocol: "tcp", port: 443, names: ["api.example.com"] } });
    assert.equal(loaded.scenarios[0]?.probes[0]?.rule, "web");
  });

  void it("takes port and protocol from their own fields, and the reason as a pinned reason", () => {
    const p = loaded.scenarios[1]?.probes[0];
    assert.ok(p?.check.kind === "flow");
    assert.equal(p.check.flow.protocol, "udp");
    assert.equal(p.check.flow.port, 53);
    assert.deepEqual(p.reasons, ["default-deny"]);
  });

  void it("gives an IP destination the names it is known by", () => {
    const p = loaded.scenarios[2]?.probes[0];
    assert.ok(p?.check.kind === "flow" && p.check.flow.ip);
    assert.equal(formatIp(p.check.flow.ip), "::ffff:127.0.0.1");
    assert.deepEqual(p.check.flow.names, ["api.example.com"]);
  });

  void it("carries the phase and reads any address notation a client accepts", () => {
    const a = loaded.scenarios[3]?.probes[0];
    assert.ok(a?.check.kind === "flow");
    assert.equal(a.check.flow.phase, "workload");
    const b = loaded.scenarios[4]?.probes[0];
    assert.ok(b?.check.kind === "flow" && b.check.flow.ip);
    assert.equal(formatIp(b.check.flow.ip), "127.0.0.1");
    assert.equal(b.check.flow.protocol, "icmp");
    assert.equal(b.check.flow.port, undefined);
  });

  void it("records disabled built-ins with where they were disabled", () => {
    assert.deepEqual([...loaded.disable.entries()], [
      ["doh", "disabled in sc.yaml:3:13"],
      ["allowed-destinations:web", "disabled in sc.yaml:3:18"],
    ]);
  });

  void it("uses --phase for scenarios that name none", () => {
    const l = loadScenariosText("version: 1\nscenarios:\n  - id: a\n    destination: attest.example.com\n    expect: deny\n", "sc.yaml", POLICY, { phase: "workload" });
    const p = l.scenarios[0]?.probes[0];
    assert.ok(p?.check.kind === "flow");
    assert.equal(p.check.flow.phase, "workload");
  });

  void it("accepts a file with only built-in settings", () => {
    const l = loadScenariosText("version: 1\nbuiltin:\n  disable: [icmp]\n", "sc.yaml", POLICY);
    assert.equal(l.scenarios.length, 0);
    assert.ok(l.disable.has("icmp"));
  });
});

void describe("mistakes in a scenarios file are diagnostics with a position and a fix", () => {
  const cases: ReadonlyArray<{ name: string; text: string; code: string; where: string; message?: RegExp }> = [
    { name: "a missing version", text: "scenarios: []\n", code: "CF7001", where: "1:1" },
    { name: "an unsupported version", text: "version: 2\n", code: "CF7001", where: "1:10" },
    { name: "a YAML syntax error", text: "version: 1\nscenarios:\n  - id: [unclosed\n", code: "CF1001", where: "" },
    { name: "an empty file", text: "", code: "CF1007", where: "1:1", message: /scenarios file is empty/ },
    { name: "a list at the top", text: "- a\n", code: "CF1004", where: "1:1", message: /scenarios file must be a mapping/ },
    { name: "an unknown key (with a suggestion)", text: "version: 1\nscenarios:\n  - id: a\n    destination: x.example.com\n    expct: deny\n", code: "CF7002", where: "5:5", message: /expct/ },
    { name: "a missing expect", text: "version: 1\nscenarios:\n  - id: a\n    destination: x.example.com\n", code: "CF7003", where: "3:5", message: /expect/ },
    { name: "an expect that is not a choice", text: "version: 1\nscenarios:\n  - id: a\n    destination: x.example.com\n    expect: denied\n", code: "CF7005", where: "5:13" },
    { name: "a port out of range", text: "version: 1\nscenarios:\n  - id: a\n    destination: x.example.com\n    port: 70000\n    expect: deny\n", code: "CF7007", where: "5:11" },
    { name: "a destination that does not parse", text: "version: 1\nscenarios:\n  - id: a\n    destination: x.example.com:99999\n    expect: deny\n", code: "CF7010", where: "4:18" },
    { name: "a network instead of an address", text: "version: 1\nscenarios:\n  - id: a\n    destination: 10.0.0.0/8\n    expect: deny\n", code: "CF7010", where: "4:18" },
    { name: "a port given twice, differently", text: "version: 1\nscenarios:\n  - id: a\n    destination: x.example.com:80\n    port: 443\n    expect: deny\n", code: "CF7011", where: "5:11" },
    { name: "an unknown rule (with a suggestion)", text: "version: 1\nscenarios:\n  - id: a\n    destination: api.example.com\n    expect: allow\n    rule: wbe\n", code: "CF7012", where: "6:11", message: /wbe/ },
    { name: "an unknown phase", text: "version: 1\nscenarios:\n  - id: a\n    destination: api.example.com\n    expect: allow\n    phase: runtime\n", code: "CF7013", where: "6:12" },
    { name: "a duplicate id", text: "version: 1\nscenarios:\n  - id: a\n    destination: a.example.com\n    expect: deny\n  - id: a\n    destination: b.example.com\n    expect: deny\n", code: "CF7014", where: "6:9" },
    { name: "an unknown built-in in disable (with a suggestion)", text: "version: 1\nbuiltin:\n  disable: [dho]\n", code: "CF7015", where: "3:13", message: /dho/ },
    { name: "an allowed-destinations instance for a rule that is not an allow rule", text: "version: 1\nbuiltin:\n  disable: [allowed-destinations:nope]\n", code: "CF7015", where: "3:13" },
    { name: "an id taken by a built-in", text: "version: 1\nscenarios:\n  - id: doh\n    destination: a.example.com\n    expect: deny\n", code: "CF7016", where: "3:9" },
    { name: "names on a name destination", text: "version: 1\nscenarios:\n  - id: a\n    destination: a.example.com\n    names: [b.example.com]\n    expect: deny\n", code: "CF7017", where: "5:12" },
    { name: "an invalid name in names", text: "version: 1\nscenarios:\n  - id: a\n    destination: 10.0.0.1\n    names: [\"bad name\"]\n    expect: deny\n", code: "CF7017", where: "5:13" },
    { name: "a port on ICMP", text: "version: 1\nscenarios:\n  - id: a\n    destination: 10.0.0.1/icmp\n    port: 7\n    expect: deny\n", code: "CF7018", where: "5:11" },
  ];
  for (const c of cases) {
    void it(`${c.name} is ${c.code}${c.where ? ` at ${c.where}` : ""}`, () => {
      const ps = problems(c.text);
      const hit = ps.find((p) => p.code === c.code);
      assert.ok(hit, `expected ${c.code}, got ${JSON.stringify(ps)}`);
      if (c.where) assert.equal(hit.where, c.where);
      if (c.message) assert.match(hit.message, c.message);
      assert.ok(hit.fix.length > 0, "every error says how to fix it");
    });
  }

  void it("reports every problem of the file at once", () => {
    const ps = problems("version: 1\nscenarios:\n  - id: a\n    destination: a.example.com\n    expect: deny\n    rule: nope\n  - id: b\n    destination: b.example.com\n    expect: deny\n    phase: nope\n");
    assert.deepEqual(ps.map((p) => p.code), ["CF7012", "CF7013"]);
  });
});

void describe("the JSON Schema of the scenarios file", () => {
  const schema = scenariosJsonSchema();
  const ajv = new Ajv2020({ strict: false });
  const validate = ajv.compile(schema);

  void it("has an $id and a title", () => {
    assert.equal(schema["$id"], "https://clawfence.dev/schema/verify-scenarios-v1.json");
    assert.equal(schema["title"], "clawfence verify scenarios v1");
  });

  void it("accepts a file the loader accepts", () => {
    const doc = { version: 1, builtin: { disable: ["doh"] }, scenarios: [{ id: "a", destination: "api.example.com:443/tcp", expect: "allow", rule: "web" }] };
    assert.equal(validate(doc), true, JSON.stringify(validate.errors));
  });

  void it("rejects unknown keys, a wrong expect and a missing destination", () => {
    assert.equal(validate({ version: 1, extra: true }), false);
    assert.equal(validate({ version: 1, scenarios: [{ id: "a", destination: "x", expect: "maybe" }] }), false);
    assert.equal(validate({ version: 1, scenarios: [{ id: "a", expect: "deny" }] }), false);
    assert.equal(validate({ version: 2 }), false);
  });
});

void describe("the loader never crashes on arbitrary input", () => {
  void it("random text and random documents either load or throw a PolicyError", () => {
    const scenario = fc.record(
      {
        id: fc.oneof(fc.string(), fc.constantFrom("a", "b")),
        destination: fc.oneof(fc.string(), fc.constantFrom("api.example.com", "[::1]:443", "10.0.0.1/icmp", "x:0")),
        expect: fc.oneof(fc.string(), fc.constantFrom("allow", "deny", "would-deny")),
        port: fc.oneof(fc.integer(), fc.string()),
        names: fc.array(fc.string()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(scenario).map((s) => `version: 1\nscenarios: ${JSON.stringify(s)}\n`)), (text) => {
        try {
          loadScenariosText(text, "sc.yaml", POLICY);
        } catch (e) {
          assert.ok(e instanceof PolicyError, `unexpected ${String(e)}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});
