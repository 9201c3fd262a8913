/**
 * Fuzz: whatever text arrives — random strings, random YAML-ish documents built from the
 * policy vocabulary, and mutations of valid fixtures — loadPolicyText returns a Policy or
 * throws a PolicyError whose diagnostics all have a code and a fix. Nothing else escapes.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { PolicyError } from "../../../src/policy/errors.ts";
import { loadPolicyText } from "../../../src/policy/load.ts";
import { FIXTURES, noFiles } from "./helpers.ts";

function mustBeCleanOutcome(text: string): void {
  try {
    loadPolicyText(text, "fuzz.yaml", noFiles);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    assert.ok(e.diagnostics.length > 0);
    for (const d of e.diagnostics) {
      assert.match(d.code, /^CF\d{4}$/);
      assert.ok(d.fix, `${d.code} has a fix`);
    }
  }
}

const KEYS = ["version", "name", "description", "mode", "extends", "vars", "workload", "dns", "upstreams", "min_ttl", "internal", "phases", "groups", "domains", "cidrs", "rules", "allow", "deny", "ports", "protocol", "phase", "priority", "default", "kubernetes", "podLabels", "host", "users"];
const ATOMS = ["any", "*", "*.com", "*.example.com", "api.example.com", "group:g", "catalog:github", "catalog:nope", "10.0.0.0/8", "010.0.0.1", "::1", "[::1]:53", "${x}", "$${x}", "${", "443", "8000-8100", "100-1", "0", "tcp", "icmp", "monitor", "enforce", "deny", "allow", "locked-down", "./x.yaml", "bücher.example", "a..b", "x".repeat(70)];

const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(...ATOMS),
    fc.integer({ min: -5, max: 70000 }),
    fc.constant(null),
    fc.boolean(),
    fc.string({ maxLength: 12 }),
    fc.array(tie("v"), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...KEYS, "name", "x"), tie("v"), { maxKeys: 5 }),
  ),
})).v;

const policyish = fc
  .record(
    {
      version: fc.oneof(fc.constant(1), value),
      name: fc.oneof(fc.constant("fuzz"), value),
      rules: fc.array(fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 6 }), { maxLength: 4 }),
      extra: fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 4 }),
    },
    { requiredKeys: [] },
  )
  .map((r) => ({ ...r.extra, ...r, extra: undefined }));

void test("random strings never make the loader throw anything but PolicyError", () => {
  fc.assert(fc.property(fc.string({ maxLength: 200, unit: "binary" }), mustBeCleanOutcome), { numRuns: 400 });
});

void test("random YAML-ish policy documents never make the loader throw anything but PolicyError", () => {
  fc.assert(
    fc.property(policyish, (doc) => mustBeCleanOutcome(stringify(doc))),
    { numRuns: 400 },
  );
});

void test("mutated valid fixtures never make the loader throw anything but PolicyError", () => {
  const base = readFileSync(join(FIXTURES, "valid_groups_catalogs.yaml"), "utf8");
  const mutation = fc.array(
    fc.record({ at: fc.nat({ max: base.length }), cut: fc.nat({ max: 6 }), insert: fc.string({ maxLength: 6 }) }),
    { minLength: 1, maxLength: 4 },
  );
  fc.assert(
    fc.property(mutation, (ms) => {
      let t = base;
      for (const m of ms) t = t.slice(0, m.at) + m.insert + t.slice(m.at + m.cut);
      mustBeCleanOutcome(t);
    }),
    { numRuns: 400 },
  );
});
