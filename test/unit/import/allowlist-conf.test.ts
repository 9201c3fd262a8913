/**
 * `clawfence import` of seed 002's allowlist.conf: the seed's own example round-trips into a
 * policy that loads and decides as the allowlist meant; comments survive as descriptions and
 * YAML comments; every bad line is an error with its line number.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { parse } from "yaml";
import { importAllowlistConf, importPolicy, detectFormat } from "../../../src/policy/import/index.ts";
import { PolicyError, type Diagnostic } from "../../../src/policy/errors.ts";
import { compileDecider } from "../../../src/match/decide.ts";
import { flow, load } from "../catalogs/helpers.ts";

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/import/${name}`, import.meta.url), "utf8");
const SEED_002 = fixture("seed-002-allowlist.conf");

interface Rule {
  name: string;
  description: string;
  allow: string[];
  ports?: Array<number | string>;
  protocol: string;
}

function rulesOf(yaml: string): Rule[] {
  return (parse(yaml) as { rules: Rule[] }).rules;
}

function errorsOf(text: string): Diagnostic[] {
  try {
    importAllowlistConf(text, "allowlist.conf");
  } catch (e) {
    if (e instanceof PolicyError) return [...e.diagnostics];
    throw e;
  }
  assert.fail("expected the import to fail");
}

void test("seed 002's example imports into a policy that loads", () => {
  const r = importAllowlistConf(SEED_002, "test/fixtures/import/allowlist.conf");
  const p = load(r.yaml);
  assert.equal(p.name, "allowlist");
  assert.equal(p.default, "deny");
  assert.deepEqual(r.diagnostics, []);
});

const SEED_002_TABLE: ReadonlyArray<readonly [string, string, "allow" | "deny", string]> = [
  ["github.com on port 22 is allowed, as the allowlist says", "github.com:22/tcp", "allow", "allow-22"],
  ["github.com on port 443 is denied: the allowlist names only port 22", "github.com:443/tcp", "deny", "default"],
  ["the registry on port 443 is allowed", "registry.example.com:443/tcp", "allow", "allow-443"],
  ["the registry on port 80 is denied", "registry.example.com:80/tcp", "deny", "default"],
  ["a host without a port is allowed on every TCP port", "internal-api.example.com:8080/tcp", "allow", "allow-all-ports"],
  ["a host without a port is not allowed over UDP: the scripts let only DNS through over UDP", "internal-api.example.com:53/udp", "deny", "default"],
  ["a host not on the allowlist is denied", "attacker.example.net:443/tcp", "deny", "default"],
];

for (const [sentence, dest, verdict, rule] of SEED_002_TABLE) {
  void test(sentence, () => {
    const d = compileDecider(load(importAllowlistConf(SEED_002, "allowlist.conf").yaml)).decide(flow(dest));
    assert.equal(d.verdict, verdict);
    assert.equal(d.rule, rule);
  });
}

void test("the all-ports rule says so in its description and has no ports", () => {
  const rules = rulesOf(importAllowlistConf(SEED_002, "allowlist.conf").yaml);
  const all = rules.find((r) => r.name === "allow-all-ports");
  assert.ok(all);
  assert.equal(all.ports, undefined);
  assert.match(all.description, /all ports \(TCP\), as in allowlist\.conf/i);
  assert.deepEqual(all.allow, ["internal-api.example.com"]);
});

void test("comments directly above entries become rule descriptions and stay as YAML comments", () => {
  const { yaml } = importAllowlistConf(SEED_002, "allowlist.conf");
  const rules = rulesOf(yaml);
  assert.match(rules.find((r) => r.name === "allow-22")?.description ?? "", /^host:port — specific port\./);
  assert.match(rules.find((r) => r.name === "allow-all-ports")?.description ?? "", /^host \(no port\) — all ports on that host\./);
  assert.match(yaml, /^ {6}# host:port — specific port\n {6}- github\.com$/m);
});

void test("comments not above an entry are kept at the end, with their line numbers", () => {
  const { yaml } = importAllowlistConf(SEED_002, "allowlist.conf");
  assert.match(yaml, /# line 8: Comments start with #\n# line 9: Blank lines are ignored\n$/);
});

void test("the DNS caveat opens the document", () => {
  const { yaml } = importAllowlistConf(SEED_002, "allowlist.conf");
  assert.match(yaml.split("version: 1")[0] ?? "", /resolved each name once, when the rules were\n# applied/);
  assert.match(yaml, /`internal:`/);
});

void test("a comment block at the top, apart from the entries, becomes the policy description", () => {
  const { yaml } = importAllowlistConf("# Egress for the build agent\n\napi.example.com:443\n", "build.conf");
  const doc = parse(yaml) as { name: string; description: string };
  assert.equal(doc.name, "build");
  assert.equal(doc.description, "Egress for the build agent (imported from build.conf)");
});

void test("an inline comment describes its entry", () => {
  const { yaml } = importAllowlistConf("api.example.com:443 # Example API\n", "a.conf");
  assert.equal(rulesOf(yaml)[0]?.description, "Example API. TCP port 443, from allowlist.conf");
  assert.match(yaml, /# Example API\n\s+- api\.example\.com/);
});

void test("one rule per distinct port set: a host listed with two ports gets both", () => {
  const rules = rulesOf(importAllowlistConf("a.example.com:443\nb.example.com:443\na.example.com:8443\nc.example.com:8000-8100\n", "x.conf").yaml);
  assert.deepEqual(
    rules.map((r) => [r.name, r.allow, r.ports]),
    [
      ["allow-443-8443", ["a.example.com"], [443, 8443]],
      ["allow-443", ["b.example.com"], [443]],
      ["allow-8000-8100", ["c.example.com"], ["8000-8100"]],
    ],
  );
});

const EDGE: ReadonlyArray<readonly [string, string, string, number | null]> = [
  ["uppercase names are lowercased", "API.Example.COM:443", "api.example.com", 443],
  ["a trailing dot is dropped", "api.example.com.:443", "api.example.com", 443],
  ["an IDN becomes punycode", "bücher.example:443", "xn--bcher-kva.example", 443],
  ["an _srv._tcp style name is kept", "_sip._tcp.example.com:5061", "_sip._tcp.example.com", 5061],
  ["an IPv4 address with a port", "192.0.2.7:443", "192.0.2.7", 443],
  ["an IPv4 CIDR with a port", "203.0.113.0/24:443", "203.0.113.0/24", 443],
  ["a bracketed IPv6 address with a port", "[2001:DB8::1]:443", "2001:db8::1", 443],
  ["a bare IPv6 network", "2001:db8::/32", "2001:db8::/32", null],
  ["an IPv4-mapped IPv6 address in canonical form", "[::ffff:c000:207]:443", "::ffff:192.0.2.7", 443],
  ["a wildcard is kept", "*.corp.example.com:443", "*.corp.example.com", 443],
];

for (const [sentence, line, dest, port] of EDGE) {
  void test(`edge case: ${sentence}`, () => {
    const r = rulesOf(importAllowlistConf(`${line}\n`, "e.conf").yaml)[0];
    assert.deepEqual(r?.allow, [dest]);
    assert.deepEqual(r?.ports, port === null ? undefined : [port]);
  });
}

void test("Windows line endings and a byte-order mark are read like plain lines", () => {
  const a = importAllowlistConf("\uFEFF# top\r\n\r\napi.example.com:443\r\n", "a.conf").yaml;
  const b = importAllowlistConf("# top\n\napi.example.com:443\n", "a.conf").yaml;
  assert.equal(a, b);
});

void test("every invalid line is reported with its line number and a fix; none is dropped", () => {
  const errors = errorsOf(fixture("invalid-lines.conf"));
  assert.deepEqual(
    errors.map((d) => [d.pos?.line, d.code]),
    [
      [3, "CF6003"],
      [4, "CF6001"],
      [5, "CF6002"],
      [6, "CF6001"],
      [7, "CF6001"],
      [8, "CF6002"],
      [9, "CF6001"],
      [10, "CF6001"],
      [11, "CF6001"],
      [12, "CF6001"],
    ],
  );
  for (const d of errors) {
    assert.equal(d.severity, "error");
    assert.ok(d.fix && d.fix.length > 5, `${d.code} needs a fix`);
    assert.equal(d.pos?.file, "allowlist.conf");
  }
  assert.equal(errors.find((d) => d.pos?.line === 4)?.data?.["cause"], "CF3010");
  assert.match(errors.find((d) => d.pos?.line === 6)?.fix ?? "", /10\.0\.0\.0\/8/);
});

void test("a duplicate line is a warning, and the entry is kept once", () => {
  const r = importAllowlistConf("a.example.com:443\na.example.com:443\n", "d.conf");
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, d.pos?.line]), [["CF6005", "warning", 2]]);
  assert.deepEqual(rulesOf(r.yaml)[0]?.allow, ["a.example.com"]);
});

void test("a port entry covered by an all-ports entry for the same host is a warning", () => {
  const r = importAllowlistConf("a.example.com:443\na.example.com\n", "d.conf");
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.pos?.line]), [["CF6006", 1]]);
  assert.deepEqual(rulesOf(r.yaml).map((x) => x.name), ["allow-all-ports"]);
});

void test("a bare IPv6 address that may end in a port is imported as written, with a warning", () => {
  const r = importAllowlistConf("2001:db8::1:443\n", "v6.conf");
  assert.equal(r.diagnostics[0]?.code, "CF6007");
  assert.match(r.diagnostics[0]?.fix ?? "", /\[2001:db8::1\]:443/);
});

void test("an empty allowlist imports as deny-everything, with a warning", () => {
  const r = importAllowlistConf("# nothing yet\n", "empty.conf");
  assert.deepEqual(r.diagnostics.map((d) => d.code), ["CF6004"]);
  const p = load(r.yaml);
  assert.equal(p.rules.length, 0);
  assert.equal(compileDecider(p).decide(flow("github.com:443/tcp")).reason, "default-deny");
});

void test("the import is deterministic", () => {
  assert.equal(importAllowlistConf(SEED_002, "a.conf").yaml, importAllowlistConf(SEED_002, "a.conf").yaml);
});

void test("a .conf file without `destination:` keys is detected as allowlist-conf", () => {
  assert.equal(detectFormat(SEED_002, "allowlist.conf"), "allowlist-conf");
  assert.equal(importPolicy(SEED_002, "allowlist.conf").format, "allowlist-conf");
});

void test("random lines never crash the importer, and every accepted import loads", () => {
  const token = fc.oneof(
    fc.constantFrom("a.example.com", "*.example.com", "10.0.0.0/8", "[2001:db8::1]", "2001:db8::1", "#", " ", ":", "443", "0", "*", "[", "]", "/", ".", "-", "é", "\t", "any", "https://x"),
    fc.string({ maxLength: 6 }),
  );
  const line = fc.array(token, { maxLength: 5 }).map((t) => t.join(""));
  fc.assert(
    fc.property(fc.array(line, { maxLength: 8 }), (lines) => {
      let yaml: string;
      try {
        yaml = importAllowlistConf(lines.join("\n"), "fuzz.conf").yaml;
      } catch (e) {
        if (e instanceof PolicyError) return e.diagnostics.every((d) => d.code.startsWith("CF6") && d.pos !== undefined);
        throw e;
      }
      load(yaml);
      return true;
    }),
    { numRuns: 300 },
  );
});

void test("explain shows why github.com:443 is denied: allow-22 was considered and did not match the port", () => {
  const x = compileDecider(load(importAllowlistConf(SEED_002, "allowlist.conf").yaml)).explainFlow(flow("github.com:443/tcp"));
  assert.equal(x.decision.rule, "default");
  const c = x.considered.find((k) => k.rule === "allow-22");
  assert.ok(c, JSON.stringify(x.considered));
  assert.equal(c.matched, false);
});
