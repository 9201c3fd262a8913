/**
 * The loader's semantics on valid policies: ordering with priorities and extends, vars and
 * their precedence, groups, catalogs, ports merging, name normalization, settings merge,
 * defaults, and the hash.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { CATALOGS } from "../../../src/policy/catalogs/index.ts";
import type { Dest, Policy } from "../../../src/policy/ir.ts";
import { loadPolicy, loadPolicyText } from "../../../src/policy/load.ts";
import { PolicyError } from "../../../src/policy/errors.ts";
import { diagnosticsOfText, FIXTURES, noFiles, readFixture } from "./helpers.ts";

const load = (file: string, opts = {}): Policy => loadPolicy(join(FIXTURES, file), readFixture, opts);
const inline = (text: string, opts = {}): Policy => loadPolicyText(text, "inline.yaml", noFiles, opts);
const destText = (d: Dest): string => {
  switch (d.kind) {
    case "any":
      return "any";
    case "domain":
      return d.name;
    case "wildcard":
      return `*.${d.suffix}`;
    case "cidr":
      return d.cidr.text;
  }
};

void test("rules are ordered by priority, own rules before extended rules at equal priority, file order within a file", () => {
  const p = load("valid_ordering.yaml");
  assert.deepEqual(
    p.rules.map((r) => [r.name, r.priority, r.order]),
    [
      ["own-early", 5, 0],
      ["base-early", 5, 1],
      ["own-default", 100, 2],
      ["base-default", 100, 3],
      ["own-late", 200, 4],
    ],
  );
  assert.deepEqual(p.sources, [join(FIXTURES, "valid_ordering.yaml"), join(FIXTURES, "valid_base.yaml")]);
});

void test("own vars win over extended vars, and extended files' strings see the merged vars", () => {
  const p = load("valid_ordering.yaml");
  const own = p.rules.find((r) => r.name === "own-default");
  assert.deepEqual(own?.dests.map(destText), ["api.example.com"]);
  const base = p.rules.find((r) => r.name === "base-default");
  assert.deepEqual(base?.dests.map(destText), ["192.0.2.0/24"]);
  assert.equal(p.vars["api_host"], "api.example.com");
  assert.equal(p.vars["base_net"], "192.0.2.0/24");
});

void test("an extended file's mode applies when the own file writes none; the own file's default wins", () => {
  const p = load("valid_ordering.yaml");
  assert.equal(p.mode, "monitor");
  assert.equal(p.default, "deny");
  const late = p.rules.find((r) => r.name === "own-late");
  assert.deepEqual([late?.mode, late?.modeOverride], ["enforce", true]);
  const early = p.rules.find((r) => r.name === "own-early");
  assert.deepEqual([early?.mode, early?.modeOverride], ["monitor", false]);
});

void test("entries keep where they were written, in the file that wrote them", () => {
  const p = load("valid_ordering.yaml");
  const base = p.rules.find((r) => r.name === "base-default");
  assert.deepEqual(base?.pos, { file: join(FIXTURES, "valid_base.yaml"), line: 9, column: 5 });
  assert.deepEqual(base?.dests[0]?.pos, { file: join(FIXTURES, "valid_base.yaml"), line: 10, column: 13 });
  assert.deepEqual(base?.dests[0]?.origin, { via: "literal" });
});

void test("names are normalized once: IDN to punycode, trailing dot, uppercase, _srv labels, IPv6 canonical", () => {
  const p = load("valid_names.yaml");
  const r = p.rules[0];
  assert.deepEqual(r?.dests.map(destText), [
    "xn--bcher-kva.example",
    "api.example.com",
    "_srv._tcp.example.com",
    "*.example.org",
    "2001:db8::1/128",
    "192.0.2.0/24",
    "any",
  ]);
  assert.deepEqual(
    r?.dests.map((d) => d.kind),
    ["domain", "domain", "domain", "wildcard", "cidr", "cidr", "any"],
  );
  const v6 = r?.dests[4];
  assert.ok(v6?.kind === "cidr");
  assert.equal(v6.cidr.addr, 0x20010db8000000000000000000000001n);
  assert.equal(v6.cidr.prefix, 128);
});

void test("ports are merged into sorted, non-overlapping ranges (adjacent ones joined), vars included", () => {
  const p = load("valid_ports.yaml");
  assert.deepEqual(p.rules[0]?.ports, [
    { from: 22, to: 22 },
    { from: 80, to: 81 },
    { from: 443, to: 443 },
    { from: 8000, to: 8200 },
    { from: 8443, to: 8443 },
  ]);
  assert.equal(p.rules[0]?.protocol, "tcp");
});

void test("groups expand in place with their origin; catalogs expand with name, version and source", () => {
  const p = load("valid_groups_catalogs.yaml");
  const gw = p.rules.find((r) => r.name === "allow-gateways");
  assert.deepEqual(gw?.dests.map(destText), ["models.example.com", "*.inference.example.com", "10.0.100.0/24", "192.0.2.7/32"]);
  for (const d of gw?.dests ?? []) assert.deepEqual(d.origin, { via: "group", group: "gateways" });
  assert.deepEqual([gw?.dests[0]?.pos.line, gw?.dests[0]?.pos.column], [17, 15]);
  assert.deepEqual(p.groups["gateways"]?.pos, { file: join(FIXTURES, "valid_groups_catalogs.yaml"), line: 15, column: 3 });

  const doh = p.rules.find((r) => r.name === "deny-doh");
  const cat = CATALOGS["doh-resolvers"];
  assert.ok(cat);
  assert.equal(doh?.dests.length, cat.entries.length);
  for (const d of doh?.dests ?? []) {
    assert.equal(d.origin.via, "catalog");
    assert.ok(d.origin.via === "catalog" && d.origin.catalog === "doh-resolvers" && d.origin.version === cat.version);
    // catalog entries point at the `catalog:` reference
    assert.deepEqual([d.pos.line, d.pos.column], [22, 12]);
  }
  assert.deepEqual(
    doh?.dests.map((d) => (d.origin.via === "catalog" ? d.origin.source : "")),
    cat.entries.map((e) => e.source),
  );
});

void test("settings: dns upstreams in every spelling, min_ttl, internal deduplicated, phases, workload vars", () => {
  const p = load("valid_groups_catalogs.yaml");
  assert.deepEqual(p.dns, {
    upstreams: [
      { address: "10.0.0.2", family: 4, port: 53 },
      { address: "10.0.0.3", family: 4, port: 5353 },
      { address: "2001:db8::1", family: 6, port: 53 },
      { address: "2001:db8::2", family: 6, port: 53 },
    ],
    minTtl: 30,
  });
  assert.deepEqual(
    p.internal.map((c) => c.text),
    ["10.0.0.0/8", "fd00::/8"],
  );
  assert.deepEqual(p.phases, ["bootstrap", "workload"]);
  assert.deepEqual(p.workload, { kubernetes: { namespace: "agents", podLabels: { app: "openclaw" } } });
  const gw = p.rules.find((r) => r.name === "allow-gateways");
  assert.deepEqual(gw?.phases, ["bootstrap", "workload"], "a rule's phases are in declared order");
  assert.equal(p.description, "Groups, catalogs, vars and settings");
});

void test("`$${` writes a literal `${`, and a lone `$` stays", () => {
  const p = load("valid_groups_catalogs.yaml");
  assert.equal(p.rules.find((r) => r.name === "literal-dollar")?.description, "costs $5 and writes ${literal}");
});

void test("defaults: mode enforce, default deny, protocol any, all ports, every phase, system resolvers, min_ttl 5", () => {
  const p = inline("version: 1\nname: tiny\nrules:\n  - name: a\n    allow: [example.com]\n");
  assert.equal(p.mode, "enforce");
  assert.equal(p.default, "deny");
  assert.deepEqual(p.dns, { upstreams: null, minTtl: 5 });
  assert.deepEqual(p.internal, []);
  assert.deepEqual(p.phases, []);
  assert.deepEqual(p.workload, {});
  const r = p.rules[0];
  assert.deepEqual([r?.protocol, r?.ports, r?.phases, r?.priority, r?.mode, r?.modeOverride, r?.action], ["any", null, null, 100, "enforce", false, "allow"]);
});

void test("variable precedence: machine defaults < policy vars < --var overrides", () => {
  const text = "version: 1\nname: v\nvars:\n  a: from-file.example.com\nrules:\n  - name: r\n    allow: [\"${a}\", \"${b}\"]\n";
  const machine = { a: "machine.example.com", b: "machine-b.example.com" };
  assert.deepEqual(inline(text, { vars: machine }).rules[0]?.dests.map(destText), ["from-file.example.com", "machine-b.example.com"]);
  assert.deepEqual(
    inline(text, { vars: machine, overrides: { a: "override.example.com" } }).rules[0]?.dests.map(destText),
    ["override.example.com", "machine-b.example.com"],
  );
});

void test("resolveVar is asked only for names nothing defines, and only when a string uses them", () => {
  const asked: string[] = [];
  const resolveVar = (n: string): string | undefined => {
    asked.push(n);
    return n === "npm_registry" ? "registry.example.test" : undefined;
  };
  const p = inline("version: 1\nname: v\nrules:\n  - name: r\n    allow: [\"${npm_registry}\"]\n", { resolveVar });
  assert.deepEqual(p.rules[0]?.dests.map(destText), ["registry.example.test"]);
  assert.deepEqual(asked, ["npm_registry"]);
  asked.length = 0;
  inline("version: 1\nname: v\nrules: []\n", { resolveVar });
  assert.deepEqual(asked, []);
  const ds = diagnosticsOfText("version: 1\nname: v\nrules:\n  - name: r\n    allow: [\"${debian_mirror}\"]\n", { resolveVar });
  assert.deepEqual(ds.map((d) => d.code), ["CF4001"]);
});

void test("a catalog that uses an undefined variable is an error at the reference", () => {
  const uses = Object.values(CATALOGS).find((c) => c.entries.some((e) => e.dest.includes("${")));
  assert.ok(uses, "some built-in catalog uses a variable");
  const ds = diagnosticsOfText(`version: 1\nname: v\nrules:\n  - name: r\n    allow: [catalog:${uses.name}]\n`);
  assert.ok(ds.length > 0);
  for (const d of ds) {
    assert.equal(d.code, "CF4001");
    assert.deepEqual([d.pos?.line, d.pos?.column], [5, 13]);
    assert.match(d.message, new RegExp(`catalog \`${uses.name}\``));
  }
});

void test("a preset can be extended by name and its positions name the preset", () => {
  const p = inline("version: 1\nname: mine\nextends: [locked-down]\n");
  assert.deepEqual(p.sources, ["inline.yaml", "preset:locked-down"]);
  for (const r of p.rules) assert.equal(r.pos.file, "preset:locked-down");
  assert.equal(p.name, "mine");
});

void test("a file reached twice through different extends (a diamond) is used once", () => {
  const files: Record<string, string> = {
    "/p/b.yaml": "version: 1\nname: b\nextends: [./d.yaml]\nrules:\n  - name: rb\n    allow: [b.example.com]\n",
    "/p/c.yaml": "version: 1\nname: c\nextends: [./d.yaml]\nrules:\n  - name: rc\n    allow: [c.example.com]\n",
    "/p/d.yaml": "version: 1\nname: d\nrules:\n  - name: rd\n    allow: [d.example.com]\n",
  };
  const read = (abs: string): string => {
    const t = files[abs];
    if (t === undefined) throw new Error(`no such file ${abs}`);
    return t;
  };
  const p = loadPolicyText("version: 1\nname: a\nextends: [./b.yaml, ./c.yaml]\n", "/p/a.yaml", read);
  assert.deepEqual(
    p.rules.map((r) => r.name),
    ["rb", "rd", "rc"],
  );
  assert.deepEqual(p.sources, ["/p/a.yaml", "/p/b.yaml", "/p/d.yaml", "/p/c.yaml"]);
});

void test("the same group defined identically in two files is fine", () => {
  const files: Record<string, string> = { "/p/base.yaml": "version: 1\nname: base\ngroups:\n  g:\n    domains: [a.example.com]\n" };
  const p = loadPolicyText(
    "version: 1\nname: a\nextends: [./base.yaml]\ngroups:\n  g:\n    domains: [A.example.com.]\nrules:\n  - name: r\n    allow: [group:g]\n",
    "/p/a.yaml",
    (abs) => files[abs] ?? "",
  );
  assert.deepEqual(p.rules[0]?.dests.map(destText), ["a.example.com"]);
});

void test("the hash ignores formatting, comments and positions but not content", () => {
  const a = inline("version: 1\nname: h\nrules:\n  - name: r\n    allow: [example.com]\n    ports: [443]\n");
  const b = inline("# a comment\nversion: 1\nname: h\n\nrules: [{name: r, ports: [\"443-443\"], allow: [EXAMPLE.com.]}]\n");
  const c = inline("version: 1\nname: h\nrules:\n  - name: r\n    allow: [example.com]\n    ports: [444]\n");
  assert.match(a.hash, /^[0-9a-f]{64}$/);
  assert.equal(a.hash, b.hash);
  assert.notEqual(a.hash, c.hash);
});

void test("the own file's rules decide the result's name and description only from the own file", () => {
  const p = load("valid_ordering.yaml");
  assert.equal(p.name, "valid-ordering");
  assert.equal(p.description, undefined);
});

void test("PRODUCT.md's example policy loads, its own shadow-model-deny replacing the preset's rule of that name", () => {
  const p = load("product_example.yaml", { vars: { npm_registry: "registry.example.test", debian_mirror: "deb.example.test" } });
  assert.equal(p.name, "coding-agent");
  const named = p.rules.filter((r) => r.name === "shadow-model-deny");
  assert.equal(named.length, 1);
  assert.match(named[0]?.pos.file ?? "", /product_example\.yaml$/);
  assert.equal(p.rules[0]?.name, "shadow-model-deny");
});

void test("a rule name used by two extended files is an error even though the own file may replace either", () => {
  const files: Record<string, string> = {
    "/p/a.yaml": "version: 1\nname: a\nrules:\n  - name: same\n    allow: [a.example.com]\n    ports: [443]\n",
    "/p/b.yaml": "version: 1\nname: b\nrules:\n  - name: same\n    allow: [b.example.com]\n    ports: [443]\n",
  };
  const read = (path: string): string => {
    const t = files[path];
    if (t === undefined) throw Object.assign(new Error("no such file"), { code: "ENOENT" });
    return t;
  };
  assert.throws(
    () => loadPolicyText("version: 1\nname: own\nextends: [./a.yaml, ./b.yaml]\n", "/p/own.yaml", read),
    (e: unknown) => e instanceof PolicyError && e.diagnostics.some((d) => d.code === "CF4030"),
  );
  const own = loadPolicyText("version: 1\nname: own\nextends: [./a.yaml]\nrules:\n  - name: same\n    deny: [a.example.com]\n", "/p/own.yaml", read);
  assert.deepEqual(
    own.rules.map((r) => [r.name, r.action]),
    [["same", "deny"]],
  );
});
