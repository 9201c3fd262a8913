/**
 * test/unit/compile/golden-runner — the golden-file suite every backend test shares: each
 * conformance case and each built-in preset is compiled and compared byte for byte with
 * test/golden/<target>/<case>.<ext> (the output) and <case>.notes.txt (notes, or the
 * UnsupportedFeature with its rule and fix). Presets are compiled with fixed vars and, where
 * the backend has no names (pf, NetworkPolicy), with every name pinned to an address.
 * Regenerate with UPDATE_GOLDEN=1 and review the diff.
 *
 * Owns: the slug of a case name, the compare-or-update step (`checkGolden`), the fixed preset
 * vars and pins, and `goldenSuite` (the describe/it blocks). Imports compile/, policy/ and
 * node:fs; it must not import a backend itself (each test file passes its own), so a test
 * file names exactly the backend it covers.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { UnsupportedFeature, type Backend, type CompileOptions } from "../../../src/compile/backend.ts";
import { CASES } from "../../../src/compile/conformance.ts";
import { PRESETS } from "../../../src/policy/presets/index.ts";
import { loadPolicyText } from "../../../src/policy/load.ts";
import type { Policy } from "../../../src/policy/ir.ts";

/** where the golden files live: test/golden/<target>/ */
export const GOLDEN_ROOT = join(import.meta.dirname, "../../golden");
const update = process.env["UPDATE_GOLDEN"] === "1";

/** fixed machine facts for the presets (documentation names and addresses) */
export const PRESET_VARS: Readonly<Record<string, string>> = {
  npm_registry: "registry.npm.example",
  debian_mirror: "deb.debian.example",
  aws_region: "us-east-1",
  attestation_service: "attest.example.com",
  internal_registry: "registry.internal.example",
  ntp_server: "192.0.2.123",
};

/** a case name as a file name: lowercase, runs of other characters folded to one `-` */
export function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

/** compare `got` with the golden `file` (writing it first under UPDATE_GOLDEN=1) */
export function checkGolden(file: string, got: string): void {
  if (update) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, got);
  }
  assert.ok(existsSync(file), `missing golden ${file}: run with UPDATE_GOLDEN=1 and review it`);
  assert.equal(got, readFileSync(file, "utf8"));
}

/** every name a preset uses, pinned to an address in the IANA-held example.com blocks (public, so not skipped as special-purpose) */
export function pins(p: Policy): Map<string, string[]> {
  const m = new Map<string, string[]>();
  let i = 1;
  for (const r of p.rules) for (const d of r.dests) if (d.kind === "domain" && !m.has(d.name)) m.set(d.name, [`93.184.216.${i++ % 250}`, `2606:2800:21f::${i.toString(16)}`]);
  return m;
}

export interface GoldenSuite {
  /** the backend under test, and the folder name under test/golden/ */
  readonly backend: Backend;
  readonly target: string;
  /** the output file's extension (without the dot) */
  readonly ext: string;
  /** pf and NetworkPolicy have no names: presets are compiled with every name pinned */
  readonly needsPins: boolean;
}

/** a built-in preset loaded with the fixed machine facts above */
export function loadPreset(name: string, yaml: string): Policy {
  return loadPolicyText(yaml, `preset:${name}`, () => {
    throw new Error("presets read no files");
  }, { vars: PRESET_VARS });
}

/** declare the conformance-case and preset golden suites for one backend */
export function goldenSuite(s: GoldenSuite): void {
  const dir = join(GOLDEN_ROOT, s.target);

  function golden(name: string, policy: Policy, opts: CompileOptions): void {
    let text = "";
    let notes: string;
    try {
      const out = s.backend.compile(policy, opts);
      text = out.text;
      notes = out.notes.map((n) => `${n}\n`).join("");
    } catch (e) {
      if (!(e instanceof UnsupportedFeature)) throw e;
      notes = `UnsupportedFeature ${e.code}: ${e.message}\nrule: ${e.rule}\nfix: ${e.fix}\n`;
    }
    if (text) checkGolden(join(dir, `${name}.${s.ext}`), text);
    else assert.ok(!existsSync(join(dir, `${name}.${s.ext}`)) || update, `${name}: the golden has output but the compile was refused`);
    checkGolden(join(dir, `${name}.notes.txt`), notes);
  }

  void describe(`golden ${s.target}: conformance cases`, () => {
    for (const c of CASES) void it(c.name, () => golden(slug(c.name), c.policy, c.opts ?? {}));
  });

  void describe(`golden ${s.target}: presets`, () => {
    for (const [name, preset] of Object.entries(PRESETS)) {
      void it(`preset ${name}`, () => {
        const policy = loadPreset(name, preset.yaml);
        golden(`preset-${name}`, policy, s.needsPins ? { resolved: pins(policy) } : {});
        for (const phase of policy.phases.slice(1)) golden(`preset-${name}-${phase}`, policy, s.needsPins ? { resolved: pins(policy), phase } : { phase });
      });
    }
  });
}
