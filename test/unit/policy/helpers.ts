/** Shared by the policy tests: fixture paths, a reader, and "load, expecting refusal". */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PolicyError, type Diagnostic } from "../../../src/policy/errors.ts";
import { loadPolicy, loadPolicyText, type LoadOptions } from "../../../src/policy/load.ts";

export const FIXTURES = join(import.meta.dirname, "../../fixtures/policy");
export const readFixture = (abs: string): string => readFileSync(abs, "utf8");
/** for inline policies: there are no other files */
export const noFiles = (abs: string): string => {
  throw new Error(`no such file: ${abs}`);
};

export function diagnosticsOf(file: string, opts: LoadOptions = {}): readonly Diagnostic[] {
  try {
    loadPolicy(join(FIXTURES, file), readFixture, opts);
  } catch (e) {
    if (e instanceof PolicyError) return e.diagnostics;
    throw e;
  }
  assert.fail(`${file} loaded, but it should have been refused`);
}

export function diagnosticsOfText(text: string, opts: LoadOptions = {}, read = noFiles): readonly Diagnostic[] {
  try {
    loadPolicyText(text, "inline.yaml", read, opts);
  } catch (e) {
    if (e instanceof PolicyError) return e.diagnostics;
    throw e;
  }
  assert.fail("the policy loaded, but it should have been refused");
}
