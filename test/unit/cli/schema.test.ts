/**
 * `clawfence schema` (run as a real process from source): valid JSON Schema 2020-12 that
 * accepts the PRODUCT.md example and the valid fixtures and refuses unknown keys; every
 * property carries a description for editors.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse } from "yaml";

const ROOT = join(import.meta.dirname, "../../..");
const FIXTURES = join(ROOT, "test/fixtures/policy");

function runSchema(args: string[] = []) {
  return spawnSync(process.execPath, [join(ROOT, "src/cli/main.ts"), "schema", ...args], { encoding: "utf8" });
}

const out = runSchema();
const schema = JSON.parse(out.stdout) as Record<string, unknown>;
// strictRequired is off: the rule's oneOf names properties defined by the surrounding object, which is valid JSON Schema
const ajv = new Ajv2020({ strict: true, allErrors: true, strictTypes: false, strictRequired: false });
const validate = ajv.compile(schema);
const fixture = (name: string): unknown => parse(readFileSync(join(FIXTURES, name), "utf8"));

void test("schema exits 0 and prints a draft 2020-12 schema with $id and title", () => {
  assert.equal(out.status, 0, out.stderr);
  assert.equal(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
  assert.match(String(schema["$id"]), /^https:\/\//);
  assert.equal(typeof schema["title"], "string");
});

void test("the schema accepts PRODUCT.md's example policy", () => {
  assert.ok(validate(fixture("product_example.yaml")), JSON.stringify(validate.errors));
});

void test("the schema accepts every valid fixture", () => {
  for (const f of readdirSync(FIXTURES).filter((n) => n.startsWith("valid_") || n === "clean.yaml")) {
    assert.ok(validate(fixture(f)), `${f}: ${JSON.stringify(validate.errors)}`);
  }
});

void test("the schema refuses an unknown key, a rule with both allow and deny, and one with neither", () => {
  assert.equal(validate(fixture("unknown_key.yaml")), false);
  assert.equal(validate({ version: 1, name: "x", colour: "blue" }), false);
  assert.equal(validate(fixture("allow_and_deny.yaml")), false);
  assert.equal(validate({ version: 1, name: "x", rules: [{ name: "r" }] }), false);
  assert.equal(validate({ version: 2, name: "x" }), false);
  assert.equal(validate({ version: 1, name: "Bad_Name" }), false);
});

void test("every property in the schema has a description", () => {
  const missing: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
    if (node === null || typeof node !== "object") return;
    const obj = node as Record<string, unknown>;
    const props = obj["properties"];
    if (props && typeof props === "object") {
      for (const [k, v] of Object.entries(props as Record<string, unknown>)) {
        if (typeof (v as Record<string, unknown>)["description"] !== "string") missing.push(`${path}.${k}`);
      }
    }
    for (const [k, v] of Object.entries(obj)) walk(v, `${path}/${k}`);
  };
  walk(schema, "#");
  assert.deepEqual(missing, []);
});

void test("schema with an argument is a usage error (exit 2)", () => {
  const r = runSchema(["extra"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /CF_USAGE_ARGS/);
});
