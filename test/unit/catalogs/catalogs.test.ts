/**
 * The built-in catalogs: every entry is valid policy syntax (checked by the policy language's
 * own parser), says where it comes from, and is versioned; the npm and Debian hosts only come
 * from variables; every catalog usable in rules loads through the real loader.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CATALOGS, catalogVars } from "../../../src/policy/catalogs/index.ts";
import { parseDestEntry } from "../../../src/policy/names.ts";
import { load } from "./helpers.ts";

const VARS: Readonly<Record<string, string>> = { npm_registry: "registry.invalid", debian_mirror: "deb.invalid", aws_region: "eu-west-1" };
const subst = (t: string): string => t.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, n: string) => VARS[n] ?? `\${${n}}`);
const REQUIRED = [
  "openclaw-core",
  "nvidia-model-gateways",
  "shadow-model-providers",
  "package-registries",
  "github",
  "huggingface",
  "docker-hub",
  "aws-infra",
  "intel-sgx-dcap",
  "crl-ocsp",
  "doh-resolvers",
  "cloud-metadata",
  "private-networks",
  "shared-hosting",
  "paste-sites",
];

void test("every catalog PRODUCT.md and the brief name exists under its own name", () => {
  for (const name of REQUIRED) assert.equal(CATALOGS[name]?.name, name, name);
  for (const [key, c] of Object.entries(CATALOGS)) assert.equal(c.name, key);
});

void test("every catalog is versioned by date and describes itself", () => {
  for (const c of Object.values(CATALOGS)) {
    assert.match(c.version, /^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/, c.name);
    assert.ok(c.description.length > 10, c.name);
    assert.ok(c.entries.length > 0, c.name);
  }
});

void test("every entry says where it comes from: a provider URL or a named document", () => {
  for (const c of Object.values(CATALOGS)) {
    for (const e of c.entries) {
      assert.ok(/^https?:\/\/[a-z0-9.-]+\//.test(e.source) || /seed 00[0-4]|configuration|apt sources|documentation/i.test(e.source), `${c.name}: ${e.dest}: ${e.source}`);
    }
  }
});

void test("no catalog lists the same destination twice", () => {
  for (const c of Object.values(CATALOGS)) {
    const seen = new Set<string>();
    for (const e of c.entries) {
      assert.ok(!seen.has(e.dest), `${c.name}: ${e.dest} twice`);
      seen.add(e.dest);
    }
  }
});

void test("entries of catalogs usable in rules are valid, canonical policy destinations", () => {
  for (const c of Object.values(CATALOGS)) {
    if (c.usage === "reference") continue;
    for (const e of c.entries) {
      const text = subst(e.dest);
      const r = parseDestEntry(text);
      assert.ok(r.ok, `${c.name}: ${e.dest}: ${r.ok ? "" : r.problem.message}`);
      assert.ok(r.value.kind === "domain" || r.value.kind === "wildcard" || r.value.kind === "cidr", `${c.name}: ${e.dest} is ${r.value.kind}`);
      if (r.value.kind === "domain") assert.equal(r.value.name, text, `${c.name}: ${e.dest} is not written normalized`);
      if (r.value.kind === "wildcard") assert.equal(`*.${r.value.suffix}`, text);
      if (r.value.kind === "cidr") {
        const canonical = text.includes("/") ? r.value.cidr.text : r.value.cidr.text.replace(/\/(32|128)$/, "");
        assert.equal(text, canonical, `${c.name}: ${e.dest} is not canonical`);
      }
    }
  }
});

void test("shared-hosting is reference data: each entry is valid, or refused only as a wildcard directly under a Public Suffix List entry", () => {
  const c = CATALOGS["shared-hosting"];
  assert.ok(c);
  assert.equal(c.usage, "reference");
  assert.deepEqual(catalogVars(c), [], "lint reads it without a policy, so no variables");
  let refused = 0;
  for (const e of c.entries) {
    const r = parseDestEntry(e.dest);
    if (!r.ok) {
      assert.equal(r.problem.code, "CF3010", `${e.dest}: ${r.problem.message}`);
      refused++;
      const inner = parseDestEntry(e.dest.slice(2));
      assert.ok(inner.ok, `${e.dest}: the suffix itself must be a valid name`);
    }
  }
  assert.ok(refused > 0, "the PSL-private wildcards (e.g. *.github.io) are what the parser refuses");
  for (const d of ["*.s3.amazonaws.com", "*.blob.core.windows.net", "*.storage.googleapis.com", "*.github.io", "*.pages.dev", "*.netlify.app", "*.vercel.app", "*.herokuapp.com", "*.ngrok.io", "*.ngrok-free.app", "*.workers.dev", "*.firebaseapp.com", "*.web.app", "*.azurewebsites.net", "raw.githubusercontent.com", "gist.githubusercontent.com"]) {
    assert.ok(c.entries.some((e) => e.dest === d), d);
  }
});

void test("the npm registry and the Debian archive come only from ${npm_registry} and ${debian_mirror}", () => {
  const pr = CATALOGS["package-registries"];
  assert.ok(pr);
  assert.deepEqual(catalogVars(pr), ["debian_mirror", "npm_registry"]);
  for (const c of Object.values(CATALOGS)) {
    for (const e of c.entries) {
      if (e.dest.includes("${")) continue;
      assert.ok(!/npm|debian/i.test(e.dest), `${c.name}: ${e.dest} looks like an npm or Debian host; take it from a variable`);
    }
  }
});

void test("only package-registries and aws-infra need variables", () => {
  const needing = Object.values(CATALOGS)
    .filter((c) => catalogVars(c).length > 0)
    .map((c) => `${c.name}:${catalogVars(c).join(",")}`)
    .sort();
  assert.deepEqual(needing, ["aws-infra:aws_region", "package-registries:debian_mirror,npm_registry"]);
});

void test("every catalog usable in rules loads through the policy loader with its entries' origins", () => {
  for (const c of Object.values(CATALOGS)) {
    if (c.usage === "reference") continue;
    const p = load(`version: 1\nname: t\nvars: {aws_region: eu-west-1}\nrules:\n  - name: r\n    deny: [catalog:${c.name}]\n`);
    const rule = p.rules[0];
    assert.ok(rule);
    assert.equal(rule.dests.length, c.entries.length, c.name);
    for (const d of rule.dests) {
      assert.equal(d.origin.via, "catalog");
      if (d.origin.via === "catalog") {
        assert.equal(d.origin.catalog, c.name);
        assert.equal(d.origin.version, c.version);
        assert.ok(d.origin.source.length > 0);
      }
    }
  }
});

void test("a catalog with a variable the policy does not define is an error naming the variable", () => {
  assert.throws(
    () => load("version: 1\nname: t\nrules:\n  - name: r\n    allow: [catalog:aws-infra]\n    ports: [443]\n"),
    (e: unknown) => JSON.stringify((e as { diagnostics?: unknown }).diagnostics ?? "").includes("aws_region"),
  );
});

void test("the approved model gateways and the shadow-model providers never overlap (seed 003's plan-time guardrail)", () => {
  const shadow = new Set(CATALOGS["shadow-model-providers"]?.entries.map((e) => e.dest));
  for (const e of CATALOGS["nvidia-model-gateways"]?.entries ?? []) assert.ok(!shadow.has(e.dest), e.dest);
});

void test("catalogs carry the endpoints the presets rely on", () => {
  const has = (c: string, d: string): boolean => CATALOGS[c]?.entries.some((e) => e.dest === d) ?? false;
  const table: Array<[string, string]> = [
    ["cloud-metadata", "169.254.169.254/32"],
    ["cloud-metadata", "fd00:ec2::254/128"],
    ["cloud-metadata", "100.100.100.200/32"],
    ["cloud-metadata", "metadata.google.internal"],
    ["private-networks", "10.0.0.0/8"],
    ["private-networks", "172.16.0.0/12"],
    ["private-networks", "192.168.0.0/16"],
    ["private-networks", "100.64.0.0/10"],
    ["private-networks", "fc00::/7"],
    ["private-networks", "169.254.0.0/16"],
    ["private-networks", "fe80::/10"],
    ["doh-resolvers", "1.1.1.1"],
    ["doh-resolvers", "8.8.8.8"],
    ["doh-resolvers", "9.9.9.9"],
    ["doh-resolvers", "dns.google"],
    ["doh-resolvers", "cloudflare-dns.com"],
    ["shadow-model-providers", "api.openai.com"],
    ["shadow-model-providers", "api.anthropic.com"],
    ["shadow-model-providers", "generativelanguage.googleapis.com"],
    ["shadow-model-providers", "api.mistral.ai"],
    ["shadow-model-providers", "api.deepseek.com"],
    ["shadow-model-providers", "openrouter.ai"],
    ["nvidia-model-gateways", "integrate.api.nvidia.com"],
    ["openclaw-skills", "clawhub.ai"],
    ["intel-sgx-dcap", "api.trustedservices.intel.com"],
    ["crl-ocsp", "crl.microsoft.com"],
    ["aws-infra", "ssm.${aws_region}.amazonaws.com"],
    ["github", "github.com"],
    ["huggingface", "huggingface.co"],
    ["docker-hub", "registry-1.docker.io"],
    ["paste-sites", "pastebin.com"],
  ];
  for (const [c, d] of table) assert.ok(has(c, d), `${c} lacks ${d}`);
});
